using System.Runtime.CompilerServices;
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

    /// <summary>Adds a put of <paramref name="key"/> = <paramref name="value"/>; empty arrays are the empty key and value.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="value"/> is null (a span cannot tell null from empty; an array can).</exception>
    /// <exception cref="RecordTooLargeException">The key or value exceeds the limits.</exception>
    [OverloadResolutionPriority(1)]   // Put(array, [collection expression]) would otherwise be ambiguous with the span overload
    public void Put(byte[] key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Put(key.AsSpan(), value.AsSpan());
    }

    /// <summary>Adds a delete (tombstone) of <paramref name="key"/>; an empty array is the empty key.</summary>
    /// <param name="key">The key.</param>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null.</exception>
    public void Delete(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Delete(key.AsSpan());
    }

    /// <summary>Empties the batch, keeping its buffer.</summary>
    public void Clear() => Records.Clear();

    /// <summary>Returns the buffer to the pool.</summary>
    public void Dispose() => Records.Dispose();
}
