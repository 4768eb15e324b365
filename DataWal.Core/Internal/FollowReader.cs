namespace DataWal.Core;

/// <summary>
/// Reads one segment for a follower, in passes: each pass starts at a frame boundary and reads the frames
/// present up to the segment's current length (or a bound), and a later pass resumes where the data ran
/// out. The segment handle is kept between passes unless <see cref="CloseHandle"/> drops it.
/// </summary>
/// <remarks>
/// A pass over the segment being written stops quietly at a damaged remainder (<see cref="EndedInTail"/>):
/// a frame still being written, or a crashed writer's torn tail. A pass over a sealed segment reads it as
/// recovery reads a non-tail segment, where the same damage is a <see cref="CorruptRecordException"/>.
/// </remarks>
internal sealed class FollowReader : IDisposable
{
    private readonly FrameReader _frames;
    private readonly uint _segment;
    private long _from;
    private long _bound = -1;
    private bool _sealed;
    private bool _tolerateLoss = true;
    private PassState _pass = PassState.NotStarted;

    private enum PassState
    {
        NotStarted,
        Reading,
        Ended,
    }

    /// <param name="directory">The log directory.</param>
    /// <param name="segment">The segment to read.</param>
    /// <param name="offset">Where the first pass starts (a frame boundary).</param>
    /// <param name="bufferSize">Initial read buffer size.</param>
    public FollowReader(string directory, uint segment, long offset, int bufferSize)
    {
        _segment = segment;
        _from = offset;
        _frames = new FrameReader(directory, bufferSize);
    }

    /// <summary>The segment read.</summary>
    public uint Segment => _segment;

    /// <summary>True when the last pass stopped at a damaged (possibly still being written) remainder rather than at the end of the data.</summary>
    public bool EndedInTail { get; private set; }

    /// <summary>
    /// Set when the last pass found the segment gone or replaced by another file (compaction, retention) and
    /// so read nothing: its offsets mean nothing in another file. Null when the pass read the segment.
    /// </summary>
    public SegmentOpen? Lost { get; private set; }

    /// <summary>The current frame's txid.</summary>
    public ulong TxId => _frames.TxId;

    /// <summary>See <see cref="FrameReader.PathStillNamesSegmentRead"/>.</summary>
    public bool PathStillNamesSegmentRead() => _frames.PathStillNamesSegmentRead();

    /// <summary>Where the last pass stopped: the end of its last valid frame (its start, when it read none).</summary>
    public long End { get; private set; }

    /// <summary>The current frame's offset in the segment.</summary>
    public long Offset => _frames.Offset;

    /// <summary>The current frame's length.</summary>
    public int Length => _frames.Length;

    /// <summary>
    /// Starts another pass at <paramref name="from"/> (a frame boundary), up to the segment's current length
    /// or to <paramref name="bound"/> when that is not negative. With <paramref name="sealedSegment"/> the
    /// segment is read as one no writer appends to any more: a damaged remainder throws instead of ending the
    /// pass. Nothing read before is trusted again.
    /// </summary>
    /// <param name="from">Where the pass starts.</param>
    /// <param name="bound">How far it may read, or -1.</param>
    /// <param name="sealedSegment">Read strictly.</param>
    /// <param name="tolerateLoss">Report a removed or replaced segment as <see cref="Lost"/>; without it, as before: an open error, or a shrink error.</param>
    public void Resume(long from, long bound, bool sealedSegment, bool tolerateLoss = true)
    {
        _tolerateLoss = tolerateLoss;
        Lost = null;
        _from = from;
        _bound = bound;
        _sealed = sealedSegment;
        _pass = PassState.NotStarted;
        EndedInTail = false;
    }

    /// <summary>
    /// Between passes: closes the segment handle so the next pass opens the path again and so notices a
    /// segment that was replaced (a kept handle would go on reading the old file).
    /// </summary>
    public void CloseHandle() => _frames.Close();

    /// <summary>Advances to the next valid frame of this pass; false once the pass reached the end of the data or a damaged tail.</summary>
    /// <exception cref="CorruptRecordException">Structural damage, or damage in a sealed segment.</exception>
    /// <exception cref="DataWalException">The segment cannot be read, or is shorter than the pass's start.</exception>
    public bool MoveNext()
    {
        if (_pass == PassState.Ended)
        {
            return false;
        }

        if (_pass == PassState.NotStarted)
        {
            var opened = _frames.TryOpen(_segment, _from, _bound, _tolerateLoss);
            if (opened != SegmentOpen.Opened)
            {
                Lost = opened;
                End = _from;
                _pass = PassState.Ended;
                return false;
            }

            _pass = PassState.Reading;
        }

        var read = _frames.Read(tailTolerated: !_sealed);
        if (read == FrameRead.Frame)
        {
            return true;
        }

        EndedInTail = read == FrameRead.DamagedTail;
        End = _frames.Position;
        _pass = PassState.Ended;
        return false;
    }

    /// <summary>The current frame as a record with its own copies of key and payload.</summary>
    public Record ToRecord() => _frames.ToRecord();

    public void Dispose() => _frames.Dispose();
}
