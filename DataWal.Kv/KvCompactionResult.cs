namespace DataWal.Kv;

/// <summary>What <see cref="KvStore.Compact"/> did.</summary>
/// <param name="SegmentsCompacted">Sealed segments the compaction read (0: there was nothing sealed to compact).</param>
/// <param name="SegmentsDeleted">Segments deleted after the image took the lowest one's place.</param>
/// <param name="LiveKeys">Keys whose latest Put was in those segments: the records the image holds.</param>
/// <param name="BytesBefore">Bytes those segments held.</param>
/// <param name="BytesAfter">Bytes of the image that replaced them.</param>
/// <param name="Elapsed">Wall time of the whole compaction.</param>
public sealed record KvCompactionResult(int SegmentsCompacted, int SegmentsDeleted, long LiveKeys, long BytesBefore, long BytesAfter, TimeSpan Elapsed)
{
    /// <summary>Bytes the compaction gave back to the file system.</summary>
    public long BytesReclaimed => BytesBefore - BytesAfter;
}

/// <summary>How far a compaction is (reported to an <see cref="IProgress{T}"/>).</summary>
/// <param name="KeysWritten">Live records copied into the image so far.</param>
/// <param name="KeysTotal">Live records the image will hold.</param>
/// <param name="BytesWritten">Bytes written to the image so far.</param>
public readonly record struct KvCompactionProgress(long KeysWritten, long KeysTotal, long BytesWritten);

/// <summary>
/// How far a copy of the live set is — <see cref="KvStore.CompactToAsync(string, IProgress{KvCopyProgress}?, CancellationToken)"/>,
/// <see cref="KvStore.ExportJsonlAsync(string, bool, IProgress{KvCopyProgress}?, CancellationToken)"/> and
/// <see cref="KvStore.SalvageToAsync"/> — reported to an <see cref="IProgress{T}"/> every few thousand keys and once at the
/// end, when <see cref="KeysCopied"/> equals <see cref="KeysTotal"/>.
/// </summary>
/// <param name="KeysCopied">Live keys copied so far (records written, or JSON lines).</param>
/// <param name="KeysTotal">Live keys the copy will hold.</param>
/// <param name="BytesWritten">Bytes written so far (frame bytes, or JSON line bytes).</param>
public readonly record struct KvCopyProgress(long KeysCopied, long KeysTotal, long BytesWritten);

/// <summary>What <see cref="KvStore.SalvageTo"/> wrote.</summary>
/// <param name="LiveKeys">Keys live in the salvage view: one Put each was written.</param>
/// <param name="BytesWritten">Total frame bytes written.</param>
/// <param name="Report">What the salvage pass over the source found, with every skipped range.</param>
public sealed record KvSalvageResult(long LiveKeys, long BytesWritten, DataWal.Core.RecoveryReport Report);
