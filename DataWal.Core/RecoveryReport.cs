namespace DataWal.Core;

/// <summary>
/// What a scan of the log found (field names as upstream's <c>RecoveryReport</c>).
/// </summary>
public sealed record RecoveryReport
{
    /// <summary>Number of segment files read.</summary>
    public int FilesScanned { get; init; }

    /// <summary>Number of valid records found.</summary>
    public long RecordsReplayed { get; init; }

    /// <summary>1 when the last segment ended in a tolerated damaged tail (torn frame, CRC-bad frame or zero fill), else 0.</summary>
    public int TailTruncated { get; init; }

    /// <summary>Bytes from the first damaged offset of the last segment to its end.</summary>
    public long TailBytesDiscarded { get; init; }

    /// <summary>Always 0: damage anywhere but the tail is a hard error, never skipped.</summary>
    public int MidStreamErrors { get; init; }

    /// <summary>Always 0: an unknown wire version is a hard error.</summary>
    public int UnsupportedVersions { get; init; }

    /// <summary>The largest txid among valid records; 0 when there are none.</summary>
    public ulong LastTxIdSeen { get; init; }

    /// <summary>
    /// True when a writer open physically cut the damaged tail off the active segment (docs/design.md D6), so
    /// that records appended afterwards are never lost behind it. Readers never cut anything.
    /// </summary>
    public bool TailCut { get; init; }
}
