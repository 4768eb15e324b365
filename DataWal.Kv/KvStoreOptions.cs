using DataWal.Core;

namespace DataWal.Kv;

/// <summary>Options for opening a <see cref="KvStore"/>.</summary>
/// <remarks>
/// Each property checks its value when it is set: a bad value throws <see cref="ArgumentOutOfRangeException"/>
/// naming the property, from the object initializer rather than from a later <see cref="KvStore.Open"/>.
/// </remarks>
public sealed class KvStoreOptions
{
    private readonly int _readHandleCapacity = ReadHandlePool.DefaultCapacity;

    /// <summary>
    /// Options for the underlying <see cref="RecordLog"/>; null (the default) means
    /// <see cref="RecordLogOptions"/>' defaults, as for <see cref="RecordLog.Open(string, RecordLogOptions?)"/>.
    /// </summary>
    public RecordLogOptions? Log { get; init; }

    /// <summary>
    /// How many segments <see cref="KvStore.Get(ReadOnlySpan{byte})"/> keeps open (default 16): read-only handles, or on
    /// 64-bit Linux read-only memory mappings of sealed segments. 0 keeps none: each read opens and closes its segment.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int ReadHandleCapacity
    {
        get => _readHandleCapacity;
        init => _readHandleCapacity = value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(ReadHandleCapacity), value, "KvStoreOptions.ReadHandleCapacity must not be negative (0 = no cached handles).");
    }

    /// <summary>
    /// Whether and when the store compacts itself in the background (see <see cref="KvAutoCompaction"/>); null, the
    /// default, never does (call <see cref="KvStore.Compact"/> yourself). Ignored by <see cref="KvStore.OpenReadOnly(string, ReadMode)"/>.
    /// </summary>
    public KvAutoCompaction? AutoCompaction { get; init; }

    /// <summary>
    /// Whether gets read sealed segments through memory mappings where that is supported (the default). False forces
    /// pread everywhere: the path systems without mappings take, kept testable on every system.
    /// </summary>
    internal bool MapSealedSegments { get; init; } = true;
}
