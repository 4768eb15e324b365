using System.Runtime.CompilerServices;

namespace DataWal.Core;

/// <summary>
/// Streams the frames of a snapshot of segments in physical order, applying the recovery rules: a torn,
/// CRC-bad or all-zero remainder of the last segment is a tolerated tail; the same damage in an earlier
/// segment, and structural damage anywhere, is a hard <see cref="CorruptRecordException"/>.
/// </summary>
/// <remarks>
/// What counts as damage is <see cref="FrameReader"/>'s decision; this type adds the multi-segment pass and
/// the <see cref="RecoveryReport"/>. The current frame's key and payload are views into the reader's buffer,
/// valid until the next <see cref="MoveNext"/>. A segment is opened once, at its start, and read to its end
/// through that handle even if retention unlinks it or a compaction renames an image over it meanwhile; a
/// segment found gone when its turn comes is <see cref="SegmentResume"/>'s case. The snapshot bounds the
/// pass: after a resume only ids up to its last one are read, and the committed-end bound stays with that id.
/// </remarks>
internal sealed class LogScanner : IDisposable
{
    internal const int DefaultBufferSize = 256 * 1024;

    private readonly long _lastSegmentBound;
    private readonly uint _lastSnapshotSegment;
    private readonly FrameReader _frames;
    private readonly SegmentResume _resume;
    private IReadOnlyList<uint> _segments;

    private int _segmentIndex = -1;
    private bool _inSegment;
    private bool _finished;

    private int _filesScanned;
    private long _recordsReplayed;
    private int _tailTruncated;
    private long _tailBytesDiscarded;
    private ulong _lastTxIdSeen;

    /// <param name="directory">The log directory.</param>
    /// <param name="segments">The segment ids to read, ascending; the last one tolerates a damaged tail.</param>
    /// <param name="lastSegmentBound">Read the last segment only up to this length (a writer's committed end), or -1 for its whole length.</param>
    /// <param name="bufferSize">Initial read buffer size.</param>
    public LogScanner(string directory, IReadOnlyList<uint> segments, long lastSegmentBound = -1, int bufferSize = DefaultBufferSize)
    {
        _segments = segments;
        _lastSegmentBound = lastSegmentBound;
        _lastSnapshotSegment = segments.Count > 0 ? segments[^1] : 0;
        _frames = new FrameReader(directory, bufferSize);
        _resume = new SegmentResume(directory);
    }

    /// <summary>The logical end (end of the last valid frame) of the last segment; valid once every segment has been read.</summary>
    public long LastSegmentEnd { get; private set; }

    public RecordType Type => _frames.Type;

    public ulong TxId => _frames.TxId;

    public uint Segment => _segments[_segmentIndex];

    public long Offset => _frames.Offset;

    public int Length => _frames.Length;

    public RecordRef Ref => _frames.Ref;

    public ReadOnlySpan<byte> Key => _frames.Key;

    public ReadOnlySpan<byte> Payload => _frames.Payload;

    /// <summary>The current frame as a projection sees it (views valid until the next <see cref="MoveNext"/>).</summary>
    public LogFrame Frame
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _frames.Frame;
    }

    /// <summary>The report so far (complete once <see cref="MoveNext"/> has returned false).</summary>
    public RecoveryReport Report => new()
    {
        FilesScanned = _filesScanned,
        RecordsReplayed = _recordsReplayed,
        TailTruncated = _tailTruncated,
        TailBytesDiscarded = _tailBytesDiscarded,
        LastTxIdSeen = _lastTxIdSeen,
    };

    /// <summary>The current frame as a record with its own copies of key and payload.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Record ToRecord() => _frames.ToRecord();

    private bool IsLastSegment => _segmentIndex == _segments.Count - 1;

    /// <summary>Advances to the next valid frame; false at the end of the log or at a tolerated tail.</summary>
    /// <exception cref="CorruptRecordException">Damage that recovery does not tolerate.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // runs once per frame from a process's first scan on
    public bool MoveNext()
    {
        while (!_finished)
        {
            if (!_inSegment && !OpenNextSegment())
            {
                _finished = true;
                return false;
            }

            switch (_frames.Read(tailTolerated: IsLastSegment))
            {
                case FrameRead.Frame:
                    if (_resume.Skips(_frames.TxId))
                    {
                        break;
                    }

                    _resume.Returned(_frames.TxId);
                    _recordsReplayed++;
                    _lastTxIdSeen = Math.Max(_lastTxIdSeen, _frames.TxId);
                    return true;
                case FrameRead.End:
                    EndSegment();
                    break;
                case FrameRead.DamagedTail:
                    _tailTruncated = 1;
                    _tailBytesDiscarded = _frames.Remaining;
                    EndSegment();
                    _finished = true;
                    break;
            }
        }

        return false;
    }

    private bool OpenNextSegment()
    {
        while (true)
        {
            _segmentIndex++;
            if (_segmentIndex >= _segments.Count)
            {
                return false;
            }

            long bound = IsLastSegment && Segment == _lastSnapshotSegment ? _lastSegmentBound : -1;
            if (_frames.TryOpen(Segment, 0, bound, tolerateLoss: true) == SegmentOpen.Opened)
            {
                _inSegment = true;
                _filesScanned++;
                return true;
            }

            _segments = _resume.Resume(_lastSnapshotSegment);
            _segmentIndex = -1;
        }
    }

    private void EndSegment()
    {
        _inSegment = false;
        if (IsLastSegment)
        {
            LastSegmentEnd = _frames.Position;
        }

        _frames.Close();
    }

    public void Dispose() => _frames.Dispose();
}
