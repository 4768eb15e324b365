using System.Buffers;
using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>What <see cref="FrameReader.Read"/> met at the current offset.</summary>
internal enum FrameRead
{
    /// <summary>A whole valid frame, now the current one.</summary>
    Frame,

    /// <summary>The end of the data: nothing is left before the segment's end (or bound).</summary>
    End,

    /// <summary>A torn, CRC-bad or zero-filled remainder, where the caller tolerates one.</summary>
    DamagedTail,
}

/// <summary>What <see cref="FrameReader.TryOpen"/> found at the segment's path.</summary>
internal enum SegmentOpen
{
    /// <summary>The segment is open (or the kept handle reused).</summary>
    Opened,

    /// <summary>Nothing, or no regular file, is at the path any more: the segment was removed.</summary>
    Missing,

    /// <summary>The path names another file than the one read from this segment before: it was replaced.</summary>
    Replaced,
}

/// <summary>
/// Decodes the frames of one segment from a frame boundary, and is the one place that decides what a
/// damaged remainder is: a torn frame, a CRC mismatch, or docs/design.md D13's zero fill after a torn header
/// prefix is damage (a tolerated tail, or a <see cref="CorruptRecordException"/> where none is tolerated);
/// anything else that does not decode is structural damage, never tolerated.
/// </summary>
/// <remarks>
/// Memory is one buffer, sized by the largest frame met (never by the log, never by a length read from
/// disk before that length has been checked against the bytes actually present). The current frame's
/// key and payload are views into that buffer, valid until the next <see cref="Read"/>.
/// </remarks>
internal sealed class FrameReader : IDisposable
{
    private readonly string _directory;

    private byte[] _buffer;
    private long _bufferFileOffset;
    private int _bufferCount;

    private SafeFileHandle? _handle;
    private uint _segment;
    private long _fileLength;
    private long _offset;
    private FileIdentity _identity;   // of the file last opened as _segment, kept across Close for the next open

    private int _frameStart;
    private FrameHeader _header;

    public FrameReader(string directory, int bufferSize)
    {
        _directory = directory;
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(bufferSize, WireFormat.HeaderLength));
    }

    /// <summary>The segment being read.</summary>
    public uint Segment => _segment;

    /// <summary>Where the next frame starts: after a frame, its end; after the end or a damaged tail, where reading stopped.</summary>
    public long Position => _offset;

    /// <summary>The bytes from <see cref="Position"/> to the end of the data (after a damaged tail: the bytes it covers).</summary>
    public long Remaining => _fileLength - _offset;

    public RecordType Type
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _header.Type;
    }

    public ulong TxId
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _header.TxId;
    }

    /// <summary>The current frame's offset in its segment.</summary>
    public long Offset
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _offset - _header.FrameLength;
    }

    public int Length
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _header.FrameLength;
    }

    public ReadOnlySpan<byte> Key
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _buffer.AsSpan(_frameStart + WireFormat.HeaderLength, _header.KeyLength);
    }

    public ReadOnlySpan<byte> Payload
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _buffer.AsSpan(_frameStart + WireFormat.HeaderLength + _header.KeyLength, _header.PayloadLength);
    }

    /// <summary>Where the current frame is.</summary>
    public RecordRef Ref
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(_segment, (ulong)Offset, (uint)Length);
    }

    /// <summary>The current frame as a projection sees it (views into the buffer, valid until the next read).</summary>
    /// <remarks>Inlined into the fully optimized scan loops: left to the tiers, it and the accessors it calls ran unoptimized for a fresh process's first hundred thousand frames.</remarks>
    public LogFrame Frame
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(Type, TxId, Key, Payload, Ref);
    }

    /// <summary>The current frame as a record with its own copies of key and payload.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Record ToRecord() => Record.Copy(Type, TxId, Key, Payload, _segment, (ulong)Offset, (uint)Length);

    private string SegmentPath => SegmentFiles.PathFor(_directory, _segment);

    /// <summary>
    /// Starts reading <paramref name="segment"/> at <paramref name="start"/> (a frame boundary), up to its
    /// current length or to <paramref name="bound"/> when that is not negative. A handle still open on the
    /// same segment is reused; nothing buffered before is trusted again.
    /// </summary>
    /// <exception cref="DataWalException">The segment cannot be opened, or is shorter than <paramref name="start"/>.</exception>
    public void Open(uint segment, long start, long bound) => TryOpen(segment, start, bound, tolerateLoss: false);

    /// <summary>
    /// <see cref="Open"/>, except that with <paramref name="tolerateLoss"/> a segment that is gone, or whose
    /// path now names another file than the one this reader opened as that segment before (a compaction
    /// image renamed over it), is reported instead of opened: its offsets mean nothing in the new file.
    /// </summary>
    /// <exception cref="DataWalException">The segment cannot be opened for another reason, or is shorter than <paramref name="start"/>.</exception>
    public SegmentOpen TryOpen(uint segment, long start, long bound, bool tolerateLoss)
    {
        if (segment != _segment)
        {
            Close();
            _identity = FileIdentity.Unknown;
        }

        _segment = segment;
        string path = SegmentPath;
        long length;
        try
        {
            if (_handle is null)
            {
                try
                {
                    _handle = FileSync.OpenRegular(path, FileAccess.Read);
                }
                catch (SafeAtomicException) when (tolerateLoss && FileSync.GetFileKind(path) != FileKind.Regular)
                {
                    return SegmentOpen.Missing;
                }

                var opened = FileSync.GetIdentity(_handle);
                if (tolerateLoss && opened.DiffersFrom(_identity))
                {
                    Close();
                    return SegmentOpen.Replaced;
                }

                _identity = opened;
            }

            length = FileSync.GetLength(_handle);
        }
        catch (SafeAtomicException e)
        {
            Close();
            throw ThrowHelper.OpenSegmentFailed(path, e);
        }

        if (start > length)
        {
            ThrowHelper.ThrowSegmentShrank(path, length, start);
        }

        _fileLength = bound >= 0 ? Math.Max(start, Math.Min(length, bound)) : length;
        _offset = start;
        _bufferFileOffset = start;
        _bufferCount = 0;
        return SegmentOpen.Opened;
    }

    /// <summary>
    /// True unless the segment's path is known to name another file than the one this reader opened as it
    /// (removed, or replaced by a compaction image); true where the platform cannot tell.
    /// </summary>
    public bool PathStillNamesSegmentRead()
    {
        string path = SegmentPath;
        try
        {
            return FileSync.GetIdentity(path) is { } now && !now.DiffersFrom(_identity);
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.StatSegmentFailed(path, e);
        }
    }

    /// <summary>Closes the segment handle; the next <see cref="Open"/> opens the path again.</summary>
    public void Close()
    {
        _handle?.Dispose();
        _handle = null;
    }

    /// <summary>
    /// Reads the frame at <see cref="Position"/>. Damage is a <see cref="FrameRead.DamagedTail"/> with
    /// <paramref name="tailTolerated"/>, and a <see cref="CorruptRecordException"/> without.
    /// </summary>
    /// <remarks>
    /// A scan calls this once per frame, millions of times in a process's first second, so the common case — a
    /// whole intact frame already buffered — is decided here, compiled fully optimized at once; everything else
    /// (a refill, the end, damage of any kind) goes through <see cref="ReadSlow"/>, which decides it afresh.
    /// </remarks>
    /// <exception cref="CorruptRecordException">Structural damage, or damage that is not tolerated here.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public FrameRead Read(bool tailTolerated)
    {
        int start = (int)(_offset - _bufferFileOffset);
        var buffered = _buffer.AsSpan(start, _bufferCount - start);
        if (WireFormat.TryReadHeader(buffered, out var header)
            && header.FrameLength <= buffered.Length
            && header.FrameLength <= _fileLength - _offset
            && WireFormat.HasValidCrc(buffered[..header.FrameLength]))
        {
            _header = header;
            _frameStart = start;
            _offset += header.FrameLength;
            return FrameRead.Frame;
        }

        return ReadSlow(tailTolerated);
    }

    private FrameRead ReadSlow(bool tailTolerated)
    {
        long remaining = _fileLength - _offset;
        if (remaining == 0)
        {
            return FrameRead.End;
        }

        if (remaining < WireFormat.HeaderLength)
        {
            return Damaged(CorruptionKind.Truncated, tailTolerated);
        }

        EnsureBuffered(WireFormat.HeaderLength);
        if (_bufferCount - (int)(_offset - _bufferFileOffset) < WireFormat.HeaderLength)
        {
            return Damaged(CorruptionKind.Truncated, tailTolerated);   // the file shrank under us
        }

        int start = (int)(_offset - _bufferFileOffset);
        FrameHeader header;
        try
        {
            header = WireFormat.ReadHeader(_buffer.AsSpan(start, WireFormat.HeaderLength));
        }
        catch (InvalidFrameException e)
        {
            // docs/design.md D13: a crash can zero-fill the end of a file, keeping none or only the first
            // bytes of the frame being written there.
            if (tailTolerated && RemainderIsTornHeader(start))
            {
                return Damaged(CorruptionKind.Truncated, tailTolerated);
            }

            throw Structural(e);
        }

        if (remaining < header.FrameLength)
        {
            if (!tailTolerated)
            {
                // A sealed segment was fsynced whole before the next one was created, so no write was torn here: a
                // whole header whose length runs past the end is a damaged length field (docs/design.md D16).
                throw LengthPastEnd(header.FrameLength, remaining);
            }

            return FrameRead.DamagedTail;
        }

        EnsureBuffered(header.FrameLength);
        start = (int)(_offset - _bufferFileOffset);
        if (_bufferCount - start < header.FrameLength)
        {
            return Damaged(CorruptionKind.Truncated, tailTolerated);
        }

        var decoded = WireFormat.DecodeBody(_buffer.AsSpan(start, header.FrameLength), header);
        if (decoded.Status != DecodeStatus.Ok)
        {
            return Damaged(CorruptionKind.CrcMismatch, tailTolerated);
        }

        _header = header;
        _frameStart = start;
        _offset += header.FrameLength;
        return FrameRead.Frame;
    }

    /// <summary>A tolerated tail, or a throw where the segment must hold only whole frames.</summary>
    private FrameRead Damaged(CorruptionKind kind, bool tailTolerated)
    {
        if (!tailTolerated)
        {
            string message = kind == CorruptionKind.Truncated
                ? $"datawal: truncated record at offset {_offset} of non-tail segment {_segment} ({SegmentPath}); refusing to silently drop data"
                : $"datawal: CRC mismatch at offset {_offset} of non-tail segment {_segment} ({SegmentPath})";
            throw new CorruptRecordException(message, _segment, (ulong)_offset, kind, null);
        }

        return FrameRead.DamagedTail;
    }

    private CorruptRecordException LengthPastEnd(int frameLength, long remaining) =>
        new($"datawal: frame at offset {_offset} of non-tail segment {_segment} ({SegmentPath}) claims {frameLength} bytes but only {remaining} remain: a damaged length field or a cut sealed segment, not a torn write", _segment, (ulong)_offset, CorruptionKind.Structural, null);

    private CorruptRecordException Structural(InvalidFrameException e) =>
        new($"datawal: structural decode error at offset {_offset} of segment {_segment} ({SegmentPath}): {e.Message}", _segment, (ulong)_offset, CorruptionKind.Structural, e);

    /// <summary>Makes bytes [_offset, _offset + count) resident, as far as the file has them.</summary>
    private void EnsureBuffered(int count)
    {
        int start = (int)(_offset - _bufferFileOffset);
        if (_bufferCount - start >= count)
        {
            return;
        }

        // Slide the unread bytes to the front; grow only to a size that was checked against the file.
        int kept = _bufferCount - start;
        if (count > _buffer.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(count, _buffer.Length * 2));
            _buffer.AsSpan(start, kept).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
        else if (start > 0)
        {
            _buffer.AsSpan(start, kept).CopyTo(_buffer);
        }

        _bufferFileOffset = _offset;
        _bufferCount = kept;
        while (_bufferCount < count)
        {
            long fileOffset = _bufferFileOffset + _bufferCount;
            int want = (int)Math.Min(_buffer.Length - _bufferCount, _fileLength - fileOffset);
            if (want <= 0)
            {
                return;
            }

            int n = ReadAt(_buffer.AsSpan(_bufferCount, want), fileOffset);
            if (n == 0)
            {
                _fileLength = fileOffset;   // shorter than it was when we opened it
                return;
            }

            _bufferCount += n;
        }
    }

    /// <summary>
    /// Reads through the system-call seam. A failed read is an error naming the segment, never taken for
    /// the end of the data: a scan that stopped early would report a shorter log as if it were whole.
    /// </summary>
    private int ReadAt(Span<byte> destination, long fileOffset)
    {
        try
        {
            return FileSync.Read(_handle!, destination, fileOffset);
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.ReadSegmentFailed(SegmentPath, fileOffset, e);
        }
    }

    /// <summary>
    /// docs/design.md D13: the remainder is a torn frame start followed only by zeros to the end of the segment — the
    /// header bytes before the zero fill (none, for an all-zero remainder) can begin a valid header. Only a
    /// header is buffered; the zeros after it are checked chunk by chunk.
    /// </summary>
    private bool RemainderIsTornHeader(int start) =>
        WireFormat.IsTornHeaderPrefix(_buffer.AsSpan(start, WireFormat.HeaderLength).TrimEnd((byte)0))
        && RemainderIsZero(_offset + WireFormat.HeaderLength);

    /// <summary>True when every byte from <paramref name="from"/> to the end of the segment is zero.</summary>
    private bool RemainderIsZero(long from)
    {
        long position = from;
        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (position < _fileLength)
            {
                int want = (int)Math.Min(chunk.Length, _fileLength - position);
                int n = ReadAt(chunk.AsSpan(0, want), position);
                if (n == 0)
                {
                    break;
                }

                if (chunk.AsSpan(0, n).ContainsAnyExcept((byte)0))
                {
                    return false;
                }

                position += n;
            }

            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    public void Dispose()
    {
        Close();
        var buffer = Interlocked.Exchange(ref _buffer, null!);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
