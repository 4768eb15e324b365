using System.Runtime.ExceptionServices;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// Where a follower is (a segment and a frame boundary in it) and the steps that move it on: a pass over
/// the segment being written, a strict pass over a segment that became sealed, the move to the next
/// segment, and the handles dropped before a sleep. <see cref="LogFollower"/> runs the steps and yields.
/// </summary>
internal sealed class FollowCursor : IDisposable
{
    private readonly string _directory;
    private readonly FollowOptions _options;
    private readonly LogSignal _signal;
    private FollowReader _reader;
    private SafeFileHandle? _syncHandle;   // for DurableOnly without a writer here: the follower's own fsync
    private long _offset;
    private uint _next;
    private bool _yieldedInPass;
    private CorruptRecordException? _damage;
    private long _suspect = -1;   // offset of structural damage seen once, awaiting a second look

    public FollowCursor(string directory, uint segment, long offset, FollowOptions options, LogSignal signal)
    {
        _directory = directory;
        _options = options;
        _signal = signal;
        _offset = offset;
        _reader = new FollowReader(directory, segment, offset, options.ReadBufferSize);
    }

    /// <summary>What the follower does next.</summary>
    public enum Step
    {
        /// <summary>A pass over the segment being written (<see cref="BeginTailPass"/>, <see cref="TryReadTail"/>, <see cref="AfterTailPass"/>).</summary>
        ReadTail,

        /// <summary>Structural damage was met once: wait a moment, then read the tail again.</summary>
        RecheckDamage,

        /// <summary>A newer segment exists: read what is left of this one strictly, then <see cref="MoveToNextSegment"/>.</summary>
        ReadSealed,

        /// <summary>Nothing new: <see cref="ReleaseHandles"/>, then sleep on the signal until something changes.</summary>
        Sleep,
    }

    /// <summary>The current frame as a record.</summary>
    public Record ToRecord() => _reader.ToRecord();

    /// <summary>Starts a pass over the segment being written; with DurableOnly, only as far as an fsync covered it.</summary>
    public void BeginTailPass()
    {
        long bound = _options.DurableOnly ? DurableBound(sealedSegment: false) : -1;
        _reader.Resume(_offset, bound, sealedSegment: false);
        _yieldedInPass = false;
        _damage = null;
    }

    /// <summary>
    /// The next whole frame of the tail pass. A damaged remainder ends the pass unreported (a frame still
    /// being written, or a torn tail the next writer open cuts); structural damage ends it too, kept for
    /// <see cref="AfterTailPass"/> to judge.
    /// </summary>
    public bool TryReadTail()
    {
        try
        {
            if (!_reader.MoveNext())
            {
                return false;
            }
        }
        catch (CorruptRecordException e) when (e.Kind == CorruptionKind.Structural)
        {
            _damage = e;
            return false;
        }

        _yieldedInPass = true;
        _suspect = -1;
        _offset = _reader.Offset + _reader.Length;
        return true;
    }

    /// <summary>Decides the step after a tail pass.</summary>
    /// <exception cref="CorruptRecordException">The structural damage met the time before is still there.</exception>
    public Step AfterTailPass()
    {
        if (_damage is { } damage)
        {
            // Where a writer may be cutting a torn tail and appending at the same offset, structural damage
            // could, in theory, be a read racing both; it is damage only if it is still there.
            if (_suspect == (long)damage.Offset)
            {
                ExceptionDispatchInfo.Throw(damage);
            }

            _suspect = (long)damage.Offset;
            return Step.RecheckDamage;
        }

        _offset = _reader.End;
        if (_yieldedInPass)
        {
            return Step.ReadTail;   // more may have arrived meanwhile: look again before sleeping
        }

        return IsSealedAndReadable() ? Step.ReadSealed : Step.Sleep;
    }

    /// <summary>
    /// Starts the strict pass: writers never append to a segment once a newer one exists, so what is left
    /// in this one must be whole frames (recovery's rule for non-tail segments).
    /// </summary>
    public void BeginSealedPass() => _reader.Resume(_offset, -1, sealedSegment: true);

    /// <summary>The next frame of the sealed pass; damage throws.</summary>
    /// <exception cref="CorruptRecordException">The sealed remainder is not whole frames.</exception>
    public bool TryReadSealed()
    {
        if (!_reader.MoveNext())
        {
            return false;
        }

        _offset = _reader.Offset + _reader.Length;
        return true;
    }

    /// <summary>After the sealed pass: follow the next segment from its start.</summary>
    public void MoveToNextSegment()
    {
        _reader.Dispose();
        _syncHandle?.Dispose();
        _syncHandle = null;
        _offset = 0;
        _reader = new FollowReader(_directory, _next, 0, _options.ReadBufferSize);
    }

    /// <summary>
    /// Before a sleep: the next pass reopens by path, as the file could be replaced meanwhile (a restore)
    /// and a kept handle would go on reading the old one.
    /// </summary>
    public void ReleaseHandles()
    {
        _reader.CloseHandle();
        _syncHandle?.Dispose();
        _syncHandle = null;
    }

    /// <summary>True when a newer segment exists (kept for <see cref="MoveToNextSegment"/>) and, for DurableOnly, all of this one is durable.</summary>
    private bool IsSealedAndReadable()
    {
        if (NextSegment() is not uint next)
        {
            return false;
        }

        _next = next;
        return !_options.DurableOnly || DurableBound(sealedSegment: true) < 0;
    }

    /// <summary>The id of the segment after the current one, if one exists now.</summary>
    private uint? NextSegment()
    {
        uint segment = _reader.Segment;
        if (_signal.Writer is { } writer && writer.TryGetFollowState(out var written, out _) && written.Segment == segment)
        {
            return null;   // the only writer is still appending to this segment
        }

        if (segment < SegmentFiles.MaxId && SegmentFiles.Exists(_directory, segment + 1))
        {
            return segment + 1;
        }

        // Not the next id: the full discovery (a single listing could miss a segment created during it and
        // show a later one, and jumping there would skip a whole segment for good).
        foreach (uint id in SegmentFiles.List(_directory))
        {
            if (id > segment)
            {
                return id;
            }
        }

        return null;
    }

    /// <summary>
    /// For <see cref="FollowOptions.DurableOnly"/>: how far the current segment may be read, -1 when all of
    /// it is durable. A writer in this process says what its fsyncs covered. Otherwise nobody can tell, so
    /// the follower fsyncs the segment itself (a read-only handle suffices) before reading what it covers.
    /// </summary>
    private long DurableBound(bool sealedSegment)
    {
        uint segment = _reader.Segment;
        if (_signal.Writer is { } writer && writer.TryGetFollowState(out _, out var durable))
        {
            if (segment < durable.Segment)
            {
                return -1;
            }

            return segment == durable.Segment ? durable.End : 0;
        }

        string path = SegmentFiles.PathFor(_directory, segment);
        try
        {
            _syncHandle ??= FileSync.OpenRegular(path, FileAccess.Read);
            long length = FileSync.GetLength(_syncHandle);
            if (length > _offset)
            {
                FileSync.FsyncData(_syncHandle);
            }

            return sealedSegment ? -1 : length;
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.FollowFsyncSegmentFailed(path, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ThrowHelper.FollowOpenSegmentFailed(path, e);
        }
    }

    public void Dispose()
    {
        _reader.Dispose();
        _syncHandle?.Dispose();
        _syncHandle = null;
    }
}
