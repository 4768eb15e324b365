using DataWal.Core;

namespace DataWal.Kv;

/// <summary>
/// Puts and deletes gathered for <see cref="KvStore.Apply"/>: encoded as they are added and written with one
/// system call. Not a transaction: a crash can keep a prefix of the batch. Reusable after <see cref="Clear"/>.
/// </summary>
/// <remarks>Not thread-safe: build a batch on one thread, then apply it.</remarks>
public sealed class KvBatch : IDisposable
{
    /// <summary>Creates an empty batch.</summary>
    /// <param name="initialCapacity">Initial buffer size in bytes.</param>
    public KvBatch(int initialCapacity = 64 * 1024)
    {
        Records = new RecordBatch(initialCapacity);
    }

    /// <summary>Number of operations in the batch.</summary>
    public int Count => Records.Count;

    internal RecordBatch Records { get; }

    /// <summary>Adds a put of <paramref name="key"/> = <paramref name="value"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <exception cref="RecordTooLargeException">The key or value exceeds the limits.</exception>
    public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Records.Add(RecordType.Put, key, value);

    /// <summary>Adds a delete (tombstone) of <paramref name="key"/>.</summary>
    /// <param name="key">The key.</param>
    public void Delete(ReadOnlySpan<byte> key) => Records.Add(RecordType.Delete, key, default);

    /// <summary>Empties the batch, keeping its buffer.</summary>
    public void Clear() => Records.Clear();

    /// <summary>Returns the buffer to the pool.</summary>
    public void Dispose() => Records.Dispose();
}
