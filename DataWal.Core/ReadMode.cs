namespace DataWal.Core;

/// <summary>How a reader treats damage it meets (docs/design.md D5, D16).</summary>
public enum ReadMode
{
    /// <summary>
    /// Upstream's recovery rules (the default): a damaged tail of the last segment ends the pass; damage in a
    /// sealed segment, and structural damage anywhere, throws <see cref="CorruptRecordException"/>.
    /// </summary>
    Strict = 0,

    /// <summary>
    /// Salvage: damage is skipped, not thrown. At a damaged offset the pass resynchronises at the next offset of
    /// the same segment where a whole frame with a valid CRC starts (magic, version 1, a known type, flags 0,
    /// lengths within the limits, every byte present, CRC-32C matching), and goes on; every skipped range is
    /// reported in <see cref="RecoveryReport.SkippedRanges"/>. A damaged remainder of the last segment with no
    /// intact frame after it is a damaged tail, reported as in strict mode (<see cref="RecoveryReport.TailTruncated"/>)
    /// when strict mode would tolerate it, and as a skipped range otherwise.
    /// </summary>
    /// <remarks>
    /// <para>What a resync can tell: every record returned is a whole frame whose CRC-32C matched, byte for byte as
    /// some writer wrote it. A frame whose CRC fails is never returned.</para>
    /// <para>What it cannot tell: which records a skipped range held (none, one, or many: their number, keys and
    /// txids are unknown), and whether a frame found inside a skipped range is a record of the log or a whole
    /// valid frame that some record carried inside its payload (a payload that itself contains a valid frame is
    /// found as a frame when the resync lands inside it). For a last-write-wins view, a key whose later record
    /// was in a skipped range shows its last intact value: the ranges are reported, the rest is not guessed.</para>
    /// </remarks>
    Salvage = 1,
}

/// <summary>
/// A range of a segment that a salvage pass skipped: no record was returned from it.
/// </summary>
/// <param name="Segment">The segment id.</param>
/// <param name="Offset">The offset of the first damaged byte: where the frame that failed to decode started.</param>
/// <param name="Length">Bytes skipped: up to the next intact frame, or to the end of the segment.</param>
/// <param name="Reason">
/// <see cref="CorruptionKind.CrcMismatch"/>: the range starts with a whole, structurally valid frame whose CRC fails.
/// <see cref="CorruptionKind.Truncated"/>: the range runs to the end of the segment and starts with fewer bytes than
/// a header, all of them a valid header's first bytes (a cut file). <see cref="CorruptionKind.Structural"/>: a header
/// no writer produces (bad magic, version, type, flags, an oversize length), or a valid header whose length runs past
/// the end of a sealed segment or past an intact frame that follows it (a damaged length field, not a torn write).
/// </param>
public sealed record SkippedRange(uint Segment, long Offset, long Length, CorruptionKind Reason);

/// <summary>What <see cref="RecordLogReader.SalvageTo"/> wrote.</summary>
/// <param name="RecordsWritten">Intact records copied into the new log, in log order.</param>
/// <param name="RecordsRenumbered">
/// Records whose txid had to change because the intact records' txids were not strictly increasing (0 normally:
/// then every record keeps its original txid, and its frame is byte for byte the original).
/// </param>
/// <param name="BytesWritten">Bytes of frames written.</param>
/// <param name="SegmentsWritten">Segment files the new log holds.</param>
/// <param name="LastTxId">The highest txid written (0 for none): the new log's writer continues above it.</param>
/// <param name="Report">What the salvage pass over the source found, with every skipped range.</param>
public sealed record LogSalvageResult(long RecordsWritten, long RecordsRenumbered, long BytesWritten, int SegmentsWritten, ulong LastTxId, RecoveryReport Report);

/// <summary>
/// How far <see cref="RecordLogReader.SalvageToAsync"/> is, reported to an <see cref="IProgress{T}"/> every few thousand
/// records and once at the end, when <see cref="BytesScanned"/> equals <see cref="BytesTotal"/>.
/// </summary>
/// <param name="BytesScanned">Bytes of the source's segments read so far (skipped ranges included).</param>
/// <param name="BytesTotal">Bytes the source's segments held when the salvage started.</param>
/// <param name="RecordsWritten">Intact records copied so far.</param>
public readonly record struct LogSalvageProgress(long BytesScanned, long BytesTotal, long RecordsWritten);
