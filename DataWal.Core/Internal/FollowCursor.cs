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
    private readonly SegmentResume _resume;
    private bool _nextIsResume;   // _next is where SegmentResume's rule continues, not simply the next id
    private bool _strictReopen;   // the segment was lost and nothing newer exists: reopen as before, errors included
    private readonly HashSet<uint> _gapsResumedFrom = [];

    /// <param name="directory">The log directory.</param>
    /// <param name="segment">Where to start.</param>
    /// <param name="offset">A frame boundary in it.</param>
    /// <param name="lastTxId">The txid of the record just before the start, when known: a resume skips up to it.</param>
    /// <param name="options">The follow options.</param>
    /// <param name="signal">The directory's signal.</param>
    public FollowCursor(string directory, uint segment, long offset, ulong? lastTxId, FollowOptions options, LogSignal signal)
    {
        _directory = directory;
        _options = options;
        _signal = signal;
        _offset = offset;
        _reader = new FollowReader(directory, segment, offset, options.ReadBufferSize);
        _resume = new SegmentResume(directory);
        if (lastTxId is ulong last)
        {
            _resume.Returned(last);
        }
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

        /// <summary>The segment was removed or replaced while a newer one exists: <see cref="ResumeFromLowest"/>.</summary>
        Resume,
    }

    /// <summary>The current frame as a record.</summary>
    public Record ToRecord() => _reader.ToRecord();

    /// <summary>Starts a pass over the segment being written; with DurableOnly, only as far as an fsync covered it.</summary>
    public void BeginTailPass()
    {
        long bound = _options.DurableOnly ? DurableBound(sealedSegment: false) : -1;
        _reader.Resume(_offset, bound, sealedSegment: false, tolerateLoss: !_strictReopen);
        _strictReopen = false;
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
        while (true)
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
            if (Take())
            {
                return true;
            }
        }
    }

    /// <summary>Applies the resume filter to the frame just read: true when it is to be yielded.</summary>
    private bool Take()
    {
        if (_resume.Skips(_reader.TxId))
        {
            return false;
        }

        _resume.Returned(_reader.TxId);
        _resume.Progressed();
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
                if (_options.Mode == ReadMode.Salvage)
                {
                    // Never resynchronise inside the segment being written: once a newer segment exists this one is
                    // sealed and the sealed pass salvages it (SalvageSealed); until then, wait like at a torn tail.
                    _damage = null;
                    return IsSealedAndReadable() ? Step.ReadSealed : Step.Sleep;
                }

                ExceptionDispatchInfo.Throw(damage);
            }

            _suspect = (long)damage.Offset;
            return Step.RecheckDamage;
        }

        if (_reader.Lost is not null)
        {
            // Its offsets mean nothing in another file. Sealed and then compacted or removed only if a newer
            // segment exists; otherwise it is the segment being written, truncated or replaced: reopen as
            // before, which reports that.
            if (NewerSegmentExists())
            {
                return Step.Resume;
            }

            _strictReopen = true;
            return Step.ReadTail;
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
        while (_reader.MoveNext())
        {
            _offset = _reader.Offset + _reader.Length;
            if (Take())
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Salvage mode, after the sealed pass met damage: the rest of the segment through the salvage scanner (docs/design.md
    /// D16), from the first intact frame after the damage; each skipped range goes to <see cref="FollowOptions.Skipped"/>.
    /// </summary>
    public IEnumerable<Record> SalvageSealed()
    {
        long from = _offset;
        uint segment = _reader.Segment;
        using var scanner = new SalvageScanner(_directory, [segment]);
        while (scanner.MoveNext())
        {
            if (scanner.Offset < from)
            {
                continue;   // yielded before the damage
            }

            _offset = scanner.Offset + scanner.Length;
            if (_resume.Skips(scanner.TxId))
            {
                continue;
            }

            _resume.Returned(scanner.TxId);
            _resume.Progressed();
            yield return scanner.ToRecord();
        }

        var report = scanner.Report;
        foreach (var range in report.SkippedRanges)
        {
            if (range.Offset + range.Length > from)
            {
                _options.Skipped?.Invoke(range);
            }
        }

        if (report.TailTruncated > 0 && report.TailBytesDiscarded > 0)
        {
            // Alone in its list the segment reads as a last one, whose damaged end is a tail; sealed, it is a range.
            _options.Skipped?.Invoke(new SkippedRange(segment, Math.Max(from, _offset), report.TailBytesDiscarded, CorruptionKind.Truncated));
        }
    }

    /// <summary>After the sealed pass: follow the next segment from its start.</summary>
    public void MoveToNextSegment()
    {
        if (_nextIsResume || _reader.Lost is not null)
        {
            ResumeFromLowest();
            return;
        }

        FollowFromStart(_next);
    }

    /// <summary>
    /// <see cref="SegmentResume"/>'s rule: continue at the lowest segment that exists, from its start, skipping
    /// what was already yielded (a compaction image at a lower id holds live records not yielded yet).
    /// </summary>
    public void ResumeFromLowest()
    {
        var ids = _resume.Resume(uint.MaxValue);
        if (ids.Count == 0)
        {
            _strictReopen = true;   // nothing left at all: the reopen reports the missing segment
            return;
        }

        FollowFromStart(ids[0]);
    }

    private void FollowFromStart(uint segment)
    {
        _nextIsResume = false;
        _reader.Dispose();
        _syncHandle?.Dispose();
        _syncHandle = null;
        _offset = 0;
        _reader = new FollowReader(_directory, segment, 0, _options.ReadBufferSize);
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

    private bool NewerSegmentExists()
    {
        uint segment = _reader.Segment;
        foreach (uint id in SegmentFiles.List(_directory))
        {
            if (id > segment)
            {
                return true;
            }
        }

        return false;
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
            _nextIsResume = false;
            return segment + 1;
        }

        // Not the next id: the full discovery (a single listing could miss a segment created during it and
        // show a later one, and jumping there would skip a whole segment for good).
        uint? above = null;
        foreach (uint id in SegmentFiles.List(_directory))
        {
            if (id > segment)
            {
                above = id;
                break;
            }
        }

        if (above is null)
        {
            return null;
        }

        // A gap: the next id was removed or compacted away (its live records may now be in an image below),
        // or never was a segment (a planted entry). The first time, resume from the lowest; back at the same
        // gap with this segment unchanged, everything below was re-read, so the gap is stable: cross it.
        if (_gapsResumedFrom.Contains(segment) && _reader.PathStillNamesSegmentRead())
        {
            _nextIsResume = false;
            return above;
        }

        _gapsResumedFrom.Add(segment);
        _nextIsResume = true;
        return above;
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
