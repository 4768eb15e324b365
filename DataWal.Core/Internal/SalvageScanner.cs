using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// docs/design.md D16: the salvage pass over a snapshot of segments, in id order. Where a frame does not decode
/// (CRC mismatch, structural garbage, a frame cut short), it resynchronises at the next offset of the same segment
/// where a whole frame with a valid CRC starts, reports the skipped range, and goes on. A damaged remainder of the
/// last segment with no intact frame after it is a damaged tail, reported as <see cref="LogScanner"/> reports one
/// when strict recovery would tolerate it. A frame whose CRC fails is never returned.
/// </summary>
/// <remarks>
/// <para>
/// Memory is bounded and independent of the segment sizes: a 256 KiB window (search and small frames), a 64 KiB
/// read chunk, the CRC checkpoint ring (at most <see cref="CheckpointCapacity"/> × 4 bytes, ~256 KiB, only once a
/// resync needs it), and a frame buffer sized by the largest <em>intact</em> frame larger than the window. A length
/// read from disk never sizes anything before the frame it claims has verified.
/// </para>
/// <para>
/// Time is linear in the segment's size (the bound, with D = <see cref="DirectLimit"/> and K = <see cref="CheckpointSpacing"/>,
/// both 1 KiB):
/// </para>
/// <list type="number">
/// <item>Candidates are the offsets of <c>DWAL</c>, found with a vectorised <c>IndexOf</c> over the window, in
/// increasing order; each offset is tried at most once (the window slides forward, keeping 3 bytes so a magic
/// across its end is found once). A candidate's header is checked from the window (O(1)); its CRC is looked at only
/// when the header is valid and every byte it claims is present.</item>
/// <item>A candidate claiming at most D bytes is read and checksummed directly: ≤ D bytes of work.</item>
/// <item>Larger candidates are checked through one running CRC per segment, <c>Q(x)</c> = CRC-32C of the bytes
/// from a base offset to x, kept at checkpoints every K bytes up to a frontier φ: the CRC of <c>[c, e)</c> is
/// <c>Q(e) ⊕ Shift(Q(c), e − c)</c> (<see cref="Crc32CCombine"/>), and <c>Q</c> at any offset below φ costs at most
/// K bytes from the nearest checkpoint. The frontier only moves forward, so each byte of the segment is read and
/// checksummed by it at most once, however many candidates claim it. A candidate costs ≤ 2K bytes + 4 + an
/// O(log length) shift, never its claimed length: a header claiming 64 MiB at each of many offsets does not
/// read 64 MiB each time.</item>
/// <item>The one exception, a frame at a frame boundary at or past φ that fits the window (the normal path, before
/// any damage), is read and checksummed directly, as a strict scan does; if it fails, its bytes are streamed once
/// more to build the checkpoints, and φ then covers them. Such frames do not overlap (each starts at or past the
/// previous φ).</item>
/// <item>A frame at a frame boundary inside φ that fits the window (intact frames after a failed large claim: the
/// common case) is also checked directly while a budget allows: the budget starts at the window's size, grows by the
/// length of every frame yielded and shrinks by the length of every such direct check that fails. So the bytes
/// checksummed again for nothing stay below the window's size plus the bytes yielded (≤ L); once it is spent, such
/// frames go through the running CRC like any candidate.</item>
/// <item>A verified frame is read once more to hand it out (into the window, or the frame buffer): verified frames
/// do not overlap, since the pass continues at the end of each.</item>
/// </list>
/// <para>
/// So a segment of L bytes costs at most about 4L bytes of reading and checksumming, plus ≤ 2K + 4 bytes and one
/// shift per valid-header candidate. Valid headers need <c>DWAL</c>, version 1 and flags 0, so they start at least
/// 8 bytes apart: at most L/8 of them, i.e. at most (2K + 4)/8 ≈ 256 bytes of checksum per byte of pure hostile
/// input, and none at all for ordinary data or random garbage.
/// </para>
/// <para>
/// Resync's limits (documented on <see cref="ReadMode.Salvage"/>): a skipped range's records are unknown, and a
/// payload that itself holds a whole valid frame is found as a frame when the resync lands inside it.
/// </para>
/// </remarks>
internal sealed class SalvageScanner : IDisposable
{
    /// <summary>Candidates claiming at most this many bytes are checksummed directly.</summary>
    internal const int DirectLimit = 1024;

    /// <summary>Spacing of the running CRC's checkpoints.</summary>
    internal const int CheckpointSpacing = 1024;

    /// <summary>
    /// Checkpoints alive at once: from the current candidate to the frontier, which is at most one maximal frame
    /// (plus one read chunk) ahead of it.
    /// </summary>
    internal const int CheckpointCapacity = ((WireFormat.MaxFrameLength + ChunkSize) / CheckpointSpacing) + 4;

    private const int WindowSize = 256 * 1024;
    private const int ChunkSize = 64 * 1024;

    private static readonly uint SpacingOperator = Crc32CCombine.ShiftOperator(CheckpointSpacing);

    private readonly string _directory;
    private readonly IReadOnlyList<uint> _segments;
    private readonly long _lastSegmentBound;

    private readonly byte[] _window;
    private long _windowStart;
    private int _windowCount;

    private byte[]? _frameBuffer;   // frames larger than the window
    private byte[]? _chunk;         // the frontier's reads
    private uint[]? _checkpoints;   // ring: Q(base + i·K) at slot i % capacity

    private SafeFileHandle? _handle;
    private int _segmentIndex = -1;
    private uint _segment;
    private long _length;           // end of the data in the segment
    private long _position;         // the next frame boundary
    private bool _finished;

    // The running CRC of the current segment (docs above): base, frontier, checkpoints [_cpLow, _cpHigh].
    private long _base = -1;
    private long _frontier;
    private uint _frontierQ;
    private long _cpLow;
    private long _cpHigh;
    private long _redundantBudget;   // see the remarks: direct checks of covered bytes, paid for by frames yielded

    // The current frame: a view into _window or _frameBuffer.
    private byte[] _current = [];
    private int _currentStart;
    private FrameHeader _header;
    private long _currentOffset;

    private int _filesScanned;
    private long _records;
    private int _tailTruncated;
    private long _tailBytes;
    private ulong _lastTxId;
    private readonly List<SkippedRange> _skipped = [];
    private bool _disposed;

    /// <param name="directory">The log directory.</param>
    /// <param name="segments">The segment ids to read, ascending; the last one may end in a damaged tail.</param>
    /// <param name="lastSegmentBound">Read the last segment only up to this length, or -1 for its whole length.</param>
    public SalvageScanner(string directory, IReadOnlyList<uint> segments, long lastSegmentBound = -1)
    {
        _directory = directory;
        _segments = segments;
        _lastSegmentBound = lastSegmentBound;
        _window = ArrayPool<byte>.Shared.Rent(WindowSize);
    }

    public RecordType Type => _header.Type;

    public ulong TxId => _header.TxId;

    public uint Segment => _segment;

    public long Offset => _currentOffset;

    public int Length => _header.FrameLength;

    public ReadOnlySpan<byte> Key => _current.AsSpan(_currentStart + WireFormat.HeaderLength, _header.KeyLength);

    public ReadOnlySpan<byte> Payload => _current.AsSpan(_currentStart + WireFormat.HeaderLength + _header.KeyLength, _header.PayloadLength);

    /// <summary>The whole current frame, byte for byte as it is on disk.</summary>
    public ReadOnlySpan<byte> FrameBytes => _current.AsSpan(_currentStart, _header.FrameLength);

    public RecordRef Ref => new(_segment, (ulong)_currentOffset, (uint)_header.FrameLength);

    public LogFrame Frame => new(Type, TxId, Key, Payload, Ref);

    public Record ToRecord() => Record.Copy(Type, TxId, Key, Payload, _segment, (ulong)_currentOffset, (uint)_header.FrameLength);

    /// <summary>The report so far (complete once <see cref="MoveNext"/> has returned false).</summary>
    public RecoveryReport Report => new()
    {
        FilesScanned = _filesScanned,
        RecordsReplayed = _records,
        TailTruncated = _tailTruncated,
        TailBytesDiscarded = _tailBytes,
        LastTxIdSeen = _lastTxId,
        MidStreamErrors = _skipped.Count,
        SkippedRanges = _skipped.ToArray(),
    };

    private bool IsLastSegment => _segmentIndex == _segments.Count - 1;

    private string SegmentPath => SegmentFiles.PathFor(_directory, _segment);

    /// <summary>Advances to the next intact frame; false at the end of the log.</summary>
    /// <exception cref="DataWalException">A segment cannot be opened or read (damage never throws).</exception>
    public bool MoveNext()
    {
        while (!_finished)
        {
            if (_handle is null && !OpenNextSegment())
            {
                _finished = true;
                return false;
            }

            if (_position >= _length)
            {
                CloseSegment();
                continue;
            }

            var damage = ReadAtBoundary(_position);
            if (damage == Damage.None)
            {
                Yield();
                return true;
            }

            long damagedAt = _position;
            if (Resync(damagedAt + 1, out long found))
            {
                _skipped.Add(new SkippedRange(_segment, damagedAt, found - damagedAt, damage == Damage.Crc ? CorruptionKind.CrcMismatch : CorruptionKind.Structural));
                Yield();
                return true;
            }

            // Nothing intact from here to the end of the segment.
            if (IsLastSegment && StrictToleratesTail(damagedAt, damage))
            {
                _tailTruncated = 1;
                _tailBytes = _length - damagedAt;
            }
            else
            {
                _skipped.Add(new SkippedRange(_segment, damagedAt, _length - damagedAt, ReasonToEnd(damagedAt, damage)));
            }

            CloseSegment();
        }

        return false;
    }

    private void Yield()
    {
        _redundantBudget += _header.FrameLength;
        _records++;
        _lastTxId = Math.Max(_lastTxId, _header.TxId);
        _position = _currentOffset + _header.FrameLength;
    }

    private enum Damage
    {
        None,
        Short,       // fewer bytes than a header left
        BadHeader,   // a header no writer produces
        PastEnd,     // a valid header whose frame runs past the end of the data
        Crc,         // a whole, valid-looking frame whose CRC fails
    }

    /// <summary>The frame at a frame boundary: the normal path. On success it is the current frame.</summary>
    private Damage ReadAtBoundary(long at)
    {
        long remaining = _length - at;
        if (remaining < WireFormat.HeaderLength)
        {
            return Damage.Short;
        }

        if (!Window(at, WireFormat.HeaderLength) || !WireFormat.TryReadHeader(WindowSpan(at, WireFormat.HeaderLength), out var header))
        {
            return Damage.BadHeader;
        }

        if (header.FrameLength > _length - at)
        {
            return Damage.PastEnd;
        }

        bool covered = header.FrameLength > DirectLimit && _base >= 0 && at < _frontier;
        if (header.FrameLength > WindowSize || (covered && _redundantBudget < header.FrameLength))
        {
            // Bytes the running CRC already covers are never checksummed twice; and a frame larger than the window is
            // checked streaming before anything is sized from its length (a hostile header cannot make us allocate).
            return VerifyStreamed(at, header) && Materialize(at, header) ? Damage.None : Damage.Crc;
        }

        // Fresh bytes that fit the window (or covered ones, within the budget): read and checksum directly, as a strict scan does.
        if (!ReadFrame(at, header))
        {
            return Damage.Crc;   // shrank under us: not a whole frame
        }

        if (FrameCrcMatches())
        {
            return Damage.None;
        }

        if (covered)
        {
            _redundantBudget -= header.FrameLength;   // checksummed bytes the running CRC already had, for nothing
        }
        else if (header.FrameLength > DirectLimit)
        {
            // Stream its bytes once into checkpoints, so candidates inside it never read them again.
            ResetStream(at);
            AdvanceFrontier(at + header.FrameLength - WireFormat.CrcLength);
        }

        return Damage.Crc;
    }

    /// <summary>Searches [from, end) for the first offset where an intact frame starts; on success it is the current frame.</summary>
    private bool Resync(long from, out long found)
    {
        long search = from;
        while (_length - search >= WireFormat.HeaderLength)
        {
            if (!Window(search, WireFormat.HeaderLength))
            {
                break;
            }

            int inWindow = (int)(_windowStart + _windowCount - search);
            int hit = WindowSpan(search, inWindow).IndexOf(WireFormat.Magic);
            if (hit < 0)
            {
                if (_windowStart + _windowCount >= _length)
                {
                    break;
                }

                search = _windowStart + _windowCount - (WireFormat.Magic.Length - 1);   // a magic across the window's end
                _windowCount = 0;   // refill from `search` on the next turn
                continue;
            }

            long candidate = search + hit;
            if (TryCandidate(candidate))
            {
                found = candidate;
                return true;
            }

            search = candidate + 1;
        }

        found = -1;
        return false;
    }

    /// <summary>Whether an intact frame starts at <paramref name="at"/>; on success it is the current frame.</summary>
    private bool TryCandidate(long at)
    {
        if (_length - at < WireFormat.HeaderLength
            || !Window(at, WireFormat.HeaderLength)
            || !WireFormat.TryReadHeader(WindowSpan(at, WireFormat.HeaderLength), out var header)
            || header.FrameLength > _length - at)
        {
            return false;   // not a frame: a claimed length past the data never is
        }

        if (header.FrameLength <= DirectLimit)
        {
            return ReadFrame(at, header) && FrameCrcMatches();
        }

        return VerifyStreamed(at, header) && Materialize(at, header);
    }

    // ---- the running CRC (see the remarks for the bound)

    /// <summary>Checks a frame's CRC through the running CRC: at most 2K + 4 bytes read, whatever its length.</summary>
    private bool VerifyStreamed(long at, FrameHeader header)
    {
        long crcAt = at + header.FrameLength - WireFormat.CrcLength;
        if (_base < 0 || at >= _frontier)
        {
            ResetStream(at);
        }

        DropCheckpointsBelow(at);
        if (!AdvanceFrontier(crcAt) || !QAt(at, out uint qStart) || !QAt(crcAt, out uint qEnd))
        {
            return false;
        }

        Span<byte> stored = stackalloc byte[WireFormat.CrcLength];
        if (!ReadSmall(crcAt, stored))
        {
            return false;
        }

        return Crc32CCombine.Between(qStart, qEnd, crcAt - at) == BinaryPrimitives.ReadUInt32LittleEndian(stored);
    }

    private void ResetStream(long at)
    {
        _checkpoints ??= ArrayPool<uint>.Shared.Rent(CheckpointCapacity);
        _base = at;
        _frontier = at;
        _frontierQ = 0;   // the CRC of no bytes
        _cpLow = 0;
        _cpHigh = 0;
        _checkpoints[0] = 0;
    }

    private void DropCheckpointsBelow(long at) => _cpLow = Math.Max(_cpLow, Math.Min((at - _base) / CheckpointSpacing, _cpHigh));

    /// <summary>
    /// Moves the frontier forward, reading 64 KiB at a time and recording a checkpoint every K bytes, until it
    /// reaches <paramref name="target"/> (it may pass it by less than a chunk; only the data's end leaves it unaligned).
    /// </summary>
    private bool AdvanceFrontier(long target)
    {
        while (_frontier < target)
        {
            _chunk ??= ArrayPool<byte>.Shared.Rent(ChunkSize);
            int want = (int)Math.Min(ChunkSize, _length - _frontier);
            var chunk = _chunk.AsSpan(0, Math.Max(want, 0));
            if (want <= 0 || !ReadSmall(_frontier, chunk))
            {
                return false;
            }

            for (int i = 0; i < want; i += CheckpointSpacing)
            {
                int n = Math.Min(CheckpointSpacing, want - i);
                uint crc = WireFormat.Crc32C(chunk.Slice(i, n));
                _frontier += n;
                if (n < CheckpointSpacing)
                {
                    _frontierQ = Crc32CCombine.Combine(_frontierQ, crc, n);   // the data's end
                    break;
                }

                _frontierQ = Crc32CCombine.Apply(SpacingOperator, _frontierQ) ^ crc;
                _cpHigh++;
                if (_cpHigh - _cpLow >= CheckpointCapacity)
                {
                    _cpLow = _cpHigh - CheckpointCapacity + 1;   // never within one frame's reach (see CheckpointCapacity)
                }

                _checkpoints![_cpHigh % CheckpointCapacity] = _frontierQ;
            }
        }

        return true;
    }

    /// <summary>Q at an offset between the checkpoints and the frontier: a checkpoint and at most K bytes.</summary>
    private bool QAt(long at, out uint q)
    {
        if (at == _frontier)
        {
            q = _frontierQ;
            return true;
        }

        long index = (at - _base) / CheckpointSpacing;
        if (index < _cpLow || index > _cpHigh)
        {
            q = 0;
            return false;   // cannot happen: callers stay within [current candidate, frontier]
        }

        long checkpoint = _base + (index * CheckpointSpacing);
        uint value = _checkpoints![index % CheckpointCapacity];
        int rest = (int)(at - checkpoint);
        if (rest == 0)
        {
            q = value;
            return true;
        }

        Span<byte> bytes = stackalloc byte[CheckpointSpacing];
        if (!ReadSmall(checkpoint, bytes[..rest]))
        {
            q = 0;
            return false;
        }

        q = Crc32CCombine.Combine(value, WireFormat.Crc32C(bytes[..rest]), rest);
        return true;
    }

    // ---- reading

    /// <summary>Makes the current frame the one at <paramref name="at"/> (its CRC not yet checked).</summary>
    private bool ReadFrame(long at, FrameHeader header) => Materialize(at, header);

    /// <summary>Reads the frame at <paramref name="at"/> into the window or, when larger, the frame buffer, and makes it current.</summary>
    private bool Materialize(long at, FrameHeader header)
    {
        int length = header.FrameLength;
        if (length <= WindowSize)
        {
            if (!Window(at, length))
            {
                return false;
            }

            _current = _window;
            _currentStart = (int)(at - _windowStart);
        }
        else
        {
            if (_frameBuffer is null || _frameBuffer.Length < length)
            {
                if (_frameBuffer is not null)
                {
                    ArrayPool<byte>.Shared.Return(_frameBuffer);
                }

                _frameBuffer = null;
                _frameBuffer = ArrayPool<byte>.Shared.Rent(length);
            }

            if (!ReadSmall(at, _frameBuffer.AsSpan(0, length)))
            {
                return false;
            }

            _current = _frameBuffer;
            _currentStart = 0;
        }

        _header = header;
        _currentOffset = at;
        return true;
    }

    private bool FrameCrcMatches() => WireFormat.HasValidCrc(FrameBytes);

    private ReadOnlySpan<byte> WindowSpan(long at, int count) => _window.AsSpan((int)(at - _windowStart), count);

    /// <summary>
    /// Makes [at, at + count) resident in the window (count ≤ the window's size), reading forward from
    /// <paramref name="at"/> as much as the window holds. False when the data ends first (it shrank).
    /// </summary>
    private bool Window(long at, int count)
    {
        if (at >= _windowStart && at + count <= _windowStart + _windowCount)
        {
            return true;
        }

        int want = (int)Math.Min(WindowSize, _length - at);
        if (want < count)
        {
            return false;
        }

        int n = ReadAt(_window.AsSpan(0, want), at);
        _windowStart = at;
        _windowCount = n;
        if (n < want)
        {
            _length = at + n;   // shorter than when it was opened
        }

        return n >= count;
    }

    /// <summary>Reads exactly <c>destination.Length</c> bytes at <paramref name="at"/>, from the window when it holds them.</summary>
    private bool ReadSmall(long at, Span<byte> destination)
    {
        if (at >= _windowStart && at + destination.Length <= _windowStart + _windowCount)
        {
            WindowSpan(at, destination.Length).CopyTo(destination);
            return true;
        }

        int n = ReadAt(destination, at);
        if (n < destination.Length)
        {
            _length = Math.Min(_length, at + n);
            return false;
        }

        return true;
    }

    /// <summary>A failed read is an error naming the segment, never taken for the end of the data.</summary>
    private int ReadAt(Span<byte> destination, long offset)
    {
        try
        {
            return FileSync.Read(_handle!, destination, offset);
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.ReadSegmentFailed(SegmentPath, offset, e);
        }
    }

    // ---- classification

    /// <summary>docs/design.md D5, D13: would a strict pass tolerate this remainder as the last segment's damaged tail?</summary>
    private bool StrictToleratesTail(long at, Damage damage) => damage switch
    {
        Damage.Short or Damage.PastEnd or Damage.Crc => true,
        _ => RemainderIsTornHeader(at),
    };

    /// <summary>The reason of a range that runs from a damaged boundary to the end of the segment.</summary>
    private CorruptionKind ReasonToEnd(long at, Damage damage) => damage switch
    {
        Damage.Crc => CorruptionKind.CrcMismatch,
        Damage.Short => IsHeaderPrefix(at) ? CorruptionKind.Truncated : CorruptionKind.Structural,
        Damage.PastEnd => IsLastSegment ? CorruptionKind.Truncated : CorruptionKind.Structural,   // sealed segments are fsynced whole: a length past the end is damage
        _ => CorruptionKind.Structural,
    };

    private bool IsHeaderPrefix(long at)
    {
        int n = (int)(_length - at);
        Span<byte> prefix = stackalloc byte[WireFormat.HeaderLength];
        return ReadSmall(at, prefix[..n]) && WireFormat.IsTornHeaderPrefix(prefix[..n]);
    }

    /// <summary>D13: a torn header prefix followed only by zeros to the end of the segment (checked once, at the segment's end).</summary>
    private bool RemainderIsTornHeader(long at)
    {
        Span<byte> header = stackalloc byte[WireFormat.HeaderLength];
        if (!ReadSmall(at, header) || !WireFormat.IsTornHeaderPrefix(header.TrimEnd((byte)0)))
        {
            return false;
        }

        _chunk ??= ArrayPool<byte>.Shared.Rent(ChunkSize);
        for (long position = at + WireFormat.HeaderLength; position < _length;)
        {
            int want = (int)Math.Min(ChunkSize, _length - position);
            int n = ReadAt(_chunk.AsSpan(0, want), position);
            if (n == 0)
            {
                break;
            }

            if (_chunk.AsSpan(0, n).ContainsAnyExcept((byte)0))
            {
                return false;
            }

            position += n;
        }

        return true;
    }

    // ---- segments

    private bool OpenNextSegment()
    {
        _segmentIndex++;
        if (_segmentIndex >= _segments.Count)
        {
            return false;
        }

        _segment = _segments[_segmentIndex];
        string path = SegmentPath;
        long length;
        try
        {
            _handle = FileSync.OpenRegular(path, FileAccess.Read);
            length = FileSync.GetLength(_handle);
        }
        catch (SafeAtomicException e)
        {
            CloseSegment();
            throw ThrowHelper.OpenSegmentFailed(path, e);
        }

        _length = IsLastSegment && _lastSegmentBound >= 0 ? Math.Min(length, _lastSegmentBound) : length;
        _position = 0;
        _windowStart = 0;
        _windowCount = 0;
        _base = -1;
        _frontier = 0;
        _redundantBudget = WindowSize;
        _filesScanned++;
        return true;
    }

    private void CloseSegment()
    {
        _handle?.Dispose();
        _handle = null;
        _current = [];
        _windowCount = 0;
        _base = -1;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        CloseSegment();
        ArrayPool<byte>.Shared.Return(_window);
        if (_frameBuffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_frameBuffer);
            _frameBuffer = null;
        }

        if (_chunk is not null)
        {
            ArrayPool<byte>.Shared.Return(_chunk);
            _chunk = null;
        }

        if (_checkpoints is not null)
        {
            ArrayPool<uint>.Shared.Return(_checkpoints);
            _checkpoints = null;
        }
    }
}
