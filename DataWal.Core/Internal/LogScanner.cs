using System.Buffers;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// Streams the frames of a snapshot of segments in physical order, applying the recovery rules: a torn,
/// CRC-bad or all-zero remainder of the last segment is a tolerated tail; the same damage in an earlier
/// segment, and structural damage anywhere, is a hard <see cref="CorruptRecordException"/>.
/// </summary>
/// <remarks>
/// Memory is one buffer, sized by the largest frame met (never by the log, never by a length read from
/// disk before that length has been checked against the bytes actually present). The current frame's
/// key and payload are views into that buffer, valid until the next <see cref="MoveNext"/>.
/// </remarks>
internal sealed class LogScanner : IDisposable
{
    internal const int DefaultBufferSize = 256 * 1024;

    private readonly string _directory;
    private readonly IReadOnlyList<uint> _segments;
    private long _lastSegmentBound;
    private long _startOffset;
    private bool _strict;

    private byte[] _buffer;
    private long _bufferFileOffset;
    private int _bufferCount;

    private int _segmentIndex = -1;
    private SafeFileHandle? _handle;
    private bool _inSegment;
    private long _fileLength;
    private long _offset;

    private int _frameStart;
    private FrameHeader _header;

    private int _filesScanned;
    private long _recordsReplayed;
    private int _tailTruncated;
    private long _tailBytesDiscarded;
    private ulong _lastTxIdSeen;

    /// <param name="directory">The log directory.</param>
    /// <param name="segments">The segment ids to read, ascending; the last one tolerates a damaged tail.</param>
    /// <param name="lastSegmentBound">Read the last segment only up to this length (a writer's committed end), or -1 for its whole length.</param>
    /// <param name="bufferSize">Initial read buffer size.</param>
    /// <param name="startOffset">Where to start reading in the first segment (a frame boundary).</param>
    public LogScanner(string directory, IReadOnlyList<uint> segments, long lastSegmentBound = -1, int bufferSize = DefaultBufferSize, long startOffset = 0)
    {
        _directory = directory;
        _segments = segments;
        _lastSegmentBound = lastSegmentBound;
        _startOffset = startOffset;
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(bufferSize, WireFormat.HeaderLength));
    }

    /// <summary>
    /// Follow mode, on a single-segment scanner: starts another pass over the segment at <paramref name="from"/>
    /// (a frame boundary), up to its current length or to <paramref name="bound"/> when that is not negative.
    /// With <paramref name="strict"/> the segment is read as a sealed one: a damaged remainder throws instead
    /// of ending the pass. The open handle is kept; nothing read before is trusted again.
    /// </summary>
    public void Resume(long from, long bound, bool strict)
    {
        _startOffset = from;
        _lastSegmentBound = bound;
        _strict = strict;
        _segmentIndex = -1;
        _inSegment = false;
        _tailTruncated = 0;
        _tailBytesDiscarded = 0;
        Finished = false;
    }

    /// <summary>
    /// Follow mode, between passes: closes the segment handle so the next pass opens the path again and
    /// so notices a segment that was replaced (a kept handle would go on reading the old file).
    /// </summary>
    public void CloseSegmentHandle()
    {
        if (!_inSegment)
        {
            _handle?.Dispose();
            _handle = null;
        }
    }

    /// <summary>True when the pass stopped at a damaged (possibly still being written) remainder rather than at the end of the data.</summary>
    public bool EndedInTail => _tailTruncated != 0;

    /// <summary>True once every segment has been read (cleanly or up to a tolerated tail).</summary>
    public bool Finished { get; private set; }

    /// <summary>The logical end (end of the last valid frame) of the last segment; valid once <see cref="Finished"/>.</summary>
    public long LastSegmentEnd { get; private set; }

    public RecordType Type => _header.Type;

    public ulong TxId => _header.TxId;

    public uint Segment => _segments[_segmentIndex];

    public long Offset => _offset - _header.FrameLength;

    public int Length => _header.FrameLength;

    public RecordRef Ref => new(Segment, (ulong)Offset, (uint)Length);

    public ReadOnlySpan<byte> Key => _buffer.AsSpan(_frameStart + WireFormat.HeaderLength, _header.KeyLength);

    public ReadOnlySpan<byte> Payload => _buffer.AsSpan(_frameStart + WireFormat.HeaderLength + _header.KeyLength, _header.PayloadLength);

    /// <summary>The report so far (complete once <see cref="Finished"/>).</summary>
    public RecoveryReport Report => new()
    {
        FilesScanned = _filesScanned,
        RecordsReplayed = _recordsReplayed,
        TailTruncated = _tailTruncated,
        TailBytesDiscarded = _tailBytesDiscarded,
        LastTxIdSeen = _lastTxIdSeen,
    };

    /// <summary>The current frame as a record with its own copies of key and payload.</summary>
    public Record ToRecord() => new(Type, TxId, Key.ToArray(), Payload.ToArray(), Segment, (ulong)Offset, (uint)Length);

    private bool IsLastSegment => _segmentIndex == _segments.Count - 1;

    /// <summary>Damage here is a tolerated tail: the last segment, unless it is being read as sealed.</summary>
    private bool TailTolerated => IsLastSegment && !_strict;

    private string SegmentPath => SegmentFiles.PathFor(_directory, Segment);

    /// <summary>Advances to the next valid frame; false at the end of the log or at a tolerated tail.</summary>
    /// <exception cref="CorruptRecordException">Damage that recovery does not tolerate.</exception>
    public bool MoveNext()
    {
        while (!Finished)
        {
            if (!_inSegment && !OpenNextSegment())
            {
                Finished = true;
                return false;
            }

            long remaining = _fileLength - _offset;
            if (remaining == 0)
            {
                EndSegment();
                continue;
            }

            if (remaining < WireFormat.HeaderLength)
            {
                Damaged(CorruptionKind.Truncated, null);
                continue;
            }

            EnsureBuffered(WireFormat.HeaderLength);
            if (_bufferCount - (int)(_offset - _bufferFileOffset) < WireFormat.HeaderLength)
            {
                Damaged(CorruptionKind.Truncated, null);   // the file shrank under us
                continue;
            }

            int start = (int)(_offset - _bufferFileOffset);
            FrameHeader header;
            try
            {
                header = WireFormat.ReadHeader(_buffer.AsSpan(start, WireFormat.HeaderLength));
            }
            catch (InvalidFrameException e)
            {
                // Decision 13: a crash can zero-fill the end of a file, keeping none or only the first
                // bytes of the frame being written there.
                if (TailTolerated && RemainderIsTornHeader(start))
                {
                    Damaged(CorruptionKind.Truncated, null);
                    continue;
                }

                throw Structural(e);
            }

            if (remaining < header.FrameLength)
            {
                Damaged(CorruptionKind.Truncated, null);
                continue;
            }

            EnsureBuffered(header.FrameLength);
            start = (int)(_offset - _bufferFileOffset);
            if (_bufferCount - start < header.FrameLength)
            {
                Damaged(CorruptionKind.Truncated, null);
                continue;
            }

            var decoded = WireFormat.DecodeBody(_buffer.AsSpan(start, header.FrameLength), header);
            if (decoded.Status != DecodeStatus.Ok)
            {
                Damaged(CorruptionKind.CrcMismatch, null);
                continue;
            }

            _header = header;
            _frameStart = start;
            _offset += header.FrameLength;
            _recordsReplayed++;
            _lastTxIdSeen = Math.Max(_lastTxIdSeen, header.TxId);
            return true;
        }

        return false;
    }

    private bool OpenNextSegment()
    {
        _segmentIndex++;
        if (_segmentIndex >= _segments.Count)
        {
            return false;
        }

        string path = SegmentPath;
        // Only the first segment may start mid-file (a follow position, or a resumed follow pass).
        long start = _segmentIndex == 0 ? _startOffset : 0;
        long length;
        try
        {
            _handle ??= FileSync.OpenRegular(path, FileAccess.Read);
            length = FileSync.GetLength(_handle);
        }
        catch (SafeAtomicException e)
        {
            _handle?.Dispose();
            _handle = null;
            throw new DataWalException($"datawal: open segment {path}: {e.Message}", e);
        }

        if (start > length)
        {
            throw new DataWalException($"datawal: segment {path} is {length} bytes, shorter than offset {start} already read; the log was truncated or replaced");
        }

        _fileLength = IsLastSegment && _lastSegmentBound >= 0 ? Math.Max(start, Math.Min(length, _lastSegmentBound)) : length;
        _inSegment = true;
        _filesScanned++;
        _offset = start;
        _bufferFileOffset = start;
        _bufferCount = 0;
        return true;
    }

    private void EndSegment()
    {
        _inSegment = false;
        if (IsLastSegment)
        {
            LastSegmentEnd = _offset;
            if (_segments.Count == 1)
            {
                return;   // a single-segment scanner may be resumed (follow mode): keep the handle open
            }
        }

        _handle?.Dispose();
        _handle = null;
    }

    /// <summary>Records a tolerated tail on the last segment, or throws for an earlier one.</summary>
    private void Damaged(CorruptionKind kind, Exception? inner)
    {
        if (!TailTolerated)
        {
            string message = kind == CorruptionKind.Truncated
                ? $"datawal: truncated record at offset {_offset} of non-tail segment {Segment} ({SegmentPath}); refusing to silently drop data"
                : $"datawal: CRC mismatch at offset {_offset} of non-tail segment {Segment} ({SegmentPath})";
            throw new CorruptRecordException(message, Segment, (ulong)_offset, kind, inner);
        }

        _tailTruncated = 1;
        _tailBytesDiscarded = _fileLength - _offset;
        EndSegment();
        Finished = true;
    }

    private CorruptRecordException Structural(InvalidFrameException e) =>
        new($"datawal: structural decode error at offset {_offset} of segment {Segment} ({SegmentPath}): {e.Message}", Segment, (ulong)_offset, CorruptionKind.Structural, e);

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
            throw new DataWalException($"datawal: read segment {SegmentPath} at offset {fileOffset}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Decision 13: the remainder is a torn frame start followed only by zeros to the end of the segment — the
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
        _handle?.Dispose();
        _handle = null;
        var buffer = Interlocked.Exchange(ref _buffer, null!);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
