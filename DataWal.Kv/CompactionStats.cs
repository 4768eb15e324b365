namespace DataWal.Kv;

/// <summary>What <see cref="KvStore.CompactTo"/> wrote.</summary>
/// <param name="LiveKeys">Live keys in the source at the time of the call.</param>
/// <param name="RecordsWritten">Put records written (equal to <paramref name="LiveKeys"/>).</param>
/// <param name="BytesWritten">Total frame bytes written.</param>
public sealed record CompactionStats(long LiveKeys, long RecordsWritten, long BytesWritten);
