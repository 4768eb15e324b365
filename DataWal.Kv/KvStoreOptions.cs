using DataWal.Core;

namespace DataWal.Kv;

/// <summary>Options for opening a <see cref="KvStore"/>.</summary>
public sealed class KvStoreOptions
{
    /// <summary>Options for the underlying <see cref="RecordLog"/>.</summary>
    public RecordLogOptions? Log { get; init; }

    /// <summary>How many read-only segment handles <see cref="KvStore.Get"/> keeps open (default 16).</summary>
    public int ReadHandleCapacity { get; init; } = ReadHandlePool.DefaultCapacity;
}
