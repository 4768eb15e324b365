using System.Buffers;
using System.Buffers.Binary;

namespace DataWal.Core;

/// <summary>
/// Frames gathered for <see cref="RecordLog.AppendBatch"/>: encoded into one pooled buffer as they are
/// added, so appending the batch is a single write system call. Reusable after <see cref="Clear"/>.
/// </summary>
/// <remarks>Not thread-safe: build a batch on one thread, then append it.</remarks>
public sealed class RecordBatch : IDisposable
{
    private byte[] _buffer;
    private int _length;
    private int[] _frameOffsets = new int[16];
    private int _count;
    private uint _segment;
    private ulong _baseOffset;
    private bool _appended;

    /// <summary>Creates an empty batch.</summary>
    /// <param name="initialCapacity">Initial buffer size in bytes.</param>
    public RecordBatch(int initialCapacity = 64 * 1024)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialCapacity, 256));
    }

    /// <summary>Number of records in the batch.</summary>
    public int Count => _count;

    /// <summary>Total encoded size of the batch in bytes.</summary>
    public int Length => _length;

    /// <summary>Adds a record (copied now; its txid and CRC are assigned when the batch is appended).</summary>
    /// <param name="type">The record type.</param>
    /// <param name="key">The key.</param>
    /// <param name="payload">The payload.</param>
    /// <exception cref="RecordTooLargeException">The key or payload exceeds the limits.</exception>
    public void Add(RecordType type, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload)
    {
        ThrowIfDisposed();
        int size = WireFormat.CheckedFrameSize(key.Length, payload.Length);
        if ((long)_length + size > int.MaxValue - 64)
        {
            throw new InvalidOperationException("A batch holds at most 2 GiB; append it and start another.");
        }

        if (_appended)
        {
            Clear();
        }

        EnsureCapacity(_length + size);
        if (_count == _frameOffsets.Length)
        {
            Array.Resize(ref _frameOffsets, _count * 2);
        }

        _frameOffsets[_count++] = _length;
        WireFormat.Encode(type, 0, key, payload, _buffer.AsSpan(_length, size));
        _length += size;
    }

    /// <summary>Where record <paramref name="index"/> was written (valid after the batch was appended).</summary>
    /// <param name="index">The record's position in the batch.</param>
    /// <returns>Its location.</returns>
    public RecordRef RefAt(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_count, nameof(index));
        if (!_appended)
        {
            throw new InvalidOperationException("The batch has not been appended yet.");
        }

        int start = _frameOffsets[index];
        int end = index + 1 < _count ? _frameOffsets[index + 1] : _length;
        return new RecordRef(_segment, _baseOffset + (ulong)start, (uint)(end - start));
    }

    /// <summary>
    /// Record <paramref name="index"/> as written (after <see cref="Seal"/> and <see cref="MarkAppended"/>), with
    /// views into the batch buffer; <paramref name="firstTxId"/> is the txid of record 0.
    /// </summary>
    internal LogFrame FrameAt(int index, ulong firstTxId)
    {
        int start = _frameOffsets[index];
        var header = _buffer.AsSpan(start, WireFormat.HeaderLength);
        int keyLength = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
        int payloadLength = BinaryPrimitives.ReadInt32LittleEndian(header[20..]);
        int bodyStart = start + WireFormat.HeaderLength;
        return new LogFrame(
            (RecordType)header[6],
            firstTxId + (ulong)index,
            _buffer.AsSpan(bodyStart, keyLength),
            _buffer.AsSpan(bodyStart + keyLength, payloadLength),
            RefAt(index));
    }

    /// <summary>Empties the batch, keeping its buffer.</summary>
    public void Clear()
    {
        _length = 0;
        _count = 0;
        _appended = false;
    }

    /// <summary>Returns the buffer to the pool.</summary>
    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null!);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_buffer is null, this);

    /// <summary>Stamps consecutive txids and each frame's CRC; returns the bytes to write.</summary>
    internal ReadOnlySpan<byte> Seal(ulong firstTxId)
    {
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        ulong txId = firstTxId;
        for (int i = 0; i < _count; i++)
        {
            int start = _frameOffsets[i];
            int end = i + 1 < _count ? _frameOffsets[i + 1] : _length;
            var frame = _buffer.AsSpan(start, end - start);
            BinaryPrimitives.WriteUInt64LittleEndian(frame[8..], txId++);
            int body = frame.Length - WireFormat.CrcLength;
            BinaryPrimitives.WriteUInt32LittleEndian(frame[body..], WireFormat.Crc32C(frame[..body]));
        }

        return _buffer.AsSpan(0, _length);
    }

    internal void MarkAppended(uint segment, ulong baseOffset)
    {
        _segment = segment;
        _baseOffset = baseOffset;
        _appended = true;
    }

    private void EnsureCapacity(int needed)
    {
        if (needed <= _buffer.Length)
        {
            return;
        }

        var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(int.MaxValue, Math.Max(needed, (long)_buffer.Length * 2)));
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }
}
