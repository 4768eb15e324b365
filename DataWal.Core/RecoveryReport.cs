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

    /// <summary>
    /// In strict mode always 0: damage anywhere but the tail is a hard error, never skipped. In
    /// <see cref="ReadMode.Salvage"/>, the number of <see cref="SkippedRanges"/>.
    /// </summary>
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

    /// <summary>
    /// The ranges a <see cref="ReadMode.Salvage"/> pass skipped, in log order (empty in strict mode, where damage
    /// throws). Their records are unknown: a key whose later record was in one of them shows an older value.
    /// A damaged tail that strict mode tolerates is reported by <see cref="TailTruncated"/> instead.
    /// </summary>
    public IReadOnlyList<SkippedRange> SkippedRanges { get; init; } = Array.Empty<SkippedRange>();

    /// <summary>Equal counts and flags, and the same skipped ranges in the same order.</summary>
    /// <param name="other">The other report.</param>
    /// <returns>True when they report the same.</returns>
    public bool Equals(RecoveryReport? other) =>
        other is not null
        && FilesScanned == other.FilesScanned
        && RecordsReplayed == other.RecordsReplayed
        && TailTruncated == other.TailTruncated
        && TailBytesDiscarded == other.TailBytesDiscarded
        && MidStreamErrors == other.MidStreamErrors
        && UnsupportedVersions == other.UnsupportedVersions
        && LastTxIdSeen == other.LastTxIdSeen
        && TailCut == other.TailCut
        && SkippedRanges.SequenceEqual(other.SkippedRanges);

    /// <inheritdoc/>
    public override int GetHashCode() =>
        HashCode.Combine(FilesScanned, RecordsReplayed, TailTruncated, TailBytesDiscarded, MidStreamErrors, LastTxIdSeen, TailCut, SkippedRanges.Count);

    /// <summary>Upstream's fields, then the skipped ranges only when there are any (strict reports print as before).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append(System.Globalization.CultureInfo.InvariantCulture,
            $"FilesScanned = {FilesScanned}, RecordsReplayed = {RecordsReplayed}, TailTruncated = {TailTruncated}, TailBytesDiscarded = {TailBytesDiscarded}, MidStreamErrors = {MidStreamErrors}, UnsupportedVersions = {UnsupportedVersions}, LastTxIdSeen = {LastTxIdSeen}, TailCut = {TailCut}");
        if (SkippedRanges.Count > 0)
        {
            builder.Append(", SkippedRanges = [ ").AppendJoin(", ", SkippedRanges).Append(" ]");
        }

        return true;
    }
}
