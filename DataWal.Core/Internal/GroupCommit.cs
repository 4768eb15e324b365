using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// What of a writer's log is durable, and the one flush in flight that makes more of it durable (group
/// commit): callers that need durability while a flush runs wait for it and, if it did not cover them, the
/// next one, which one of them leads. The fsync runs outside the gate, so appends continue while the disk
/// works; only the bookkeeping before and after it takes the gate.
/// </summary>
/// <remarks>
/// Fields without a note are guarded by the log's gate. A failed fsync poisons the writer: its waiters get
/// <see cref="WriterPoisonedException"/>, and nothing is ever reported durable that the disk did not confirm.
/// </remarks>
internal sealed class GroupCommit
{
    private readonly PriorityGate _gate;
    private readonly LogTail _tail;
    private readonly WriterPoison _poison;
    private readonly LogSignal _signal;
    private readonly RecordLogOptions _options;
    private readonly ulong _recoveredTxId;   // the last txid recovered at open

    private ulong _durableTxId;              // every txid <= this is durable
    private uint _durableSegment;            // every byte before (_durableSegment, _durableEnd) is durable
    private long _durableEnd;
    private bool _initialSyncPending = true; // recovered bytes may sit only in the page cache
    private bool _directoryDirty = true;     // the directory's entries may not be durable yet
    private bool _flushing;                  // a leader is gathering or flushing
    private TaskCompletionSource? _flushDone; // waiters of the in-flight flush (created by the first waiter)
    private int _joiners;                    // callers that waited on the in-flight flush
    private int _expectedCallers = 1;        // callers of the last flush (its leader and joiners)
    private long _lastFsyncTicks;            // Stopwatch ticks of the last data fsync
    private long _unsyncedRecords;           // lock-free (Interlocked)
    private long _unsyncedBytes;             // lock-free (Interlocked)
    private long _fsyncCount;                // lock-free (Interlocked)

    public GroupCommit(PriorityGate gate, LogTail tail, WriterPoison poison, LogSignal signal, RecordLogOptions options, uint segment, ulong recoveredTxId)
    {
        _gate = gate;
        _tail = tail;
        _poison = poison;
        _signal = signal;
        _options = options;
        _durableSegment = segment;
        _recoveredTxId = recoveredTxId;
    }

    private string Directory => _tail.Directory;

    /// <summary>Data fsyncs issued so far (explicit, shared, background and rotation ones).</summary>
    public long FsyncCount => Interlocked.Read(ref _fsyncCount);

    /// <summary>Under the gate: the end of what is durable (segment, offset), for durable-only followers.</summary>
    public (uint Segment, long End) DurableEnd
    {
        get
        {
            Debug.Assert(_gate.IsHeldByCurrentThread);
            return (_durableSegment, _durableEnd);
        }
    }

    /// <summary>Under the gate: whether txids up to <paramref name="target"/> (or recovered bytes, or directory entries) still need an fsync.</summary>
    public bool NeedsFlush(ulong target)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        return _initialSyncPending || _directoryDirty || _durableTxId < target;
    }

    /// <summary>
    /// Counts records appended without waiting (lock-free: every append under Grouped comes through here and
    /// must not compete with the flusher). True when a threshold of the options is now passed, so the
    /// background flusher should run early.
    /// </summary>
    public bool NoteUnsynced(long records, long bytes)
    {
        long unsyncedRecords = Interlocked.Add(ref _unsyncedRecords, records);
        long unsyncedBytes = Interlocked.Add(ref _unsyncedBytes, bytes);
        return (_options.GroupCommitRecords > 0 && unsyncedRecords >= _options.GroupCommitRecords) ||
               (_options.GroupCommitBytes > 0 && unsyncedBytes >= _options.GroupCommitBytes);
    }

    /// <summary>Blocks until every txid up to <paramref name="target"/> is durable, flushing if nobody else is.</summary>
    public void WaitDurable(ulong target)
    {
        while (true)
        {
            if (JoinOrLead(target, out var wait))
            {
                return;
            }

            try
            {
                wait.Wait();
            }
            catch (AggregateException)
            {
                // The shared flush failed: the writer is poisoned, which the next round reports.
            }
        }
    }

    /// <summary>Asynchronous <see cref="WaitDurable"/>; cancellation stops the wait, never a flush.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WaitDurableAsync(ulong target, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (JoinOrLead(target, out var wait))
            {
                return;
            }

            try
            {
                await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The shared flush failed: the writer is poisoned, which the next round reports.
            }
        }
    }

    /// <summary>
    /// Under the gate, for a rotation: fsyncs the segment about to be sealed, so everything written so far is
    /// durable. A failure propagates (the caller poisons with its own reason).
    /// </summary>
    public void SyncSealedSegment()
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        long started = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _fsyncCount);
        FileSync.FsyncData(_tail.Handle);
        ulong last = _tail.LastTxId;
        LogTelemetry.Fsynced(Directory, false, Stopwatch.GetElapsedTime(started), GroupCommitSize(last));
        _durableTxId = last;
        _initialSyncPending = false;
    }

    /// <summary>Under the gate, for a rotation: fsyncs the directory after the new segment was created.</summary>
    public void SyncDirectoryForNewSegment()
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        long started = Stopwatch.GetTimestamp();
        FileSync.FsyncDirectory(Directory);
        LogTelemetry.Fsynced(Directory, true, Stopwatch.GetElapsedTime(started), 0);
    }

    /// <summary>Under the gate, after a rotation: the sealed segment is durable whole, the new one is empty, the directory is clean.</summary>
    public void Rotated(uint newSegment)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        _directoryDirty = false;
        _durableSegment = newSegment;
        _durableEnd = 0;
    }

    /// <summary>
    /// One round of waiting for durability: true when <paramref name="target"/> is durable (possibly after this
    /// caller ran the flush itself); otherwise <paramref name="wait"/> is the flush in flight.
    /// </summary>
    private bool JoinOrLead(ulong target, out Task wait)
    {
        FlushPlan plan;
        bool gather;
        using (_gate.EnterPriority())
        {
            // Durable first: a caller whose records a flush already covered has succeeded, even if a later
            // flush failed or the log is being closed (reporting failure would invite a duplicate retry).
            if (!NeedsFlush(target))
            {
                wait = Task.CompletedTask;
                return true;
            }

            _tail.ThrowIfClosed();
            _poison.ThrowIfSet();
            if (_flushing)
            {
                // Created only when someone actually waits: an uncontended fsync allocates nothing.
                _flushDone ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _joiners++;
                wait = _flushDone.Task;
                return false;
            }

            _flushing = true;
            _flushDone = null;
            _joiners = 0;
            gather = ShouldGather(target);
            plan = gather ? default : BeginFlush();
        }

        if (gather)
        {
            Gather();
            bool gaveUp = false;
            TaskCompletionSource? abandoned = null;
            using (_gate.EnterPriority())
            {
                // The log may have been closed or poisoned while this leader gathered: give up the flush and let
                // the waiters that joined it see that for themselves (those already durable still succeed).
                if (_tail.Closed || _poison.IsSet)
                {
                    gaveUp = true;
                    _flushing = false;
                    abandoned = _flushDone;
                    _flushDone = null;
                }
                else
                {
                    plan = BeginFlush();
                }
            }

            if (gaveUp)
            {
                abandoned?.TrySetResult();
                return JoinOrLead(target, out wait);
            }
        }

        wait = Task.CompletedTask;
        RunFlush(plan);
        return true;
    }

    /// <summary>
    /// Under the gate, for a new leader: whether to wait a moment before the fsync. When the last flush served
    /// several callers, they were all released together and most come back with a new record within
    /// microseconds; a leader that fsyncs at once covers only the first of them and leaves the others to the
    /// flush after it, so batches alternate between small and large. Waiting — at most half an fsync, and only
    /// until as many records as the last flush had callers are pending — lets one flush cover them all. A lone
    /// caller (the last flush had one) never waits.
    /// </summary>
    private bool ShouldGather(ulong target)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        int expected = _expectedCallers;
        return expected > 1 && _lastFsyncTicks > 0 && PendingRecords() < (ulong)expected && target > _durableTxId;
    }

    /// <summary>Records appended since the last durable txid (a hint: read without the gate).</summary>
    private ulong PendingRecords()
    {
        ulong last = _tail.LastTxIdHint;
        ulong durable = Volatile.Read(ref _durableTxId);
        return last > durable ? last - durable : 0;
    }

    /// <summary>
    /// Outside the gate (appends go on): waits until the callers of the last flush have appended again, at most
    /// half the last fsync's duration (between 10 µs and 1 ms). Callers arriving meanwhile join this flush.
    /// </summary>
    private void Gather()
    {
        long ticks = Math.Clamp(Volatile.Read(ref _lastFsyncTicks) / 2, Stopwatch.Frequency / 100_000, Stopwatch.Frequency / 1_000);
        long deadline = Stopwatch.GetTimestamp() + ticks;
        ulong expected = (ulong)Volatile.Read(ref _expectedCallers);
        while (PendingRecords() < expected && Stopwatch.GetTimestamp() < deadline)
        {
            // Yield rather than spin: on few cores the callers we wait for need this CPU to append.
            Thread.Yield();
        }
    }

    private readonly record struct FlushPlan(SafeFileHandle Handle, ulong Target, bool Data, bool Directory, uint Segment, long End);

    /// <summary>Under the gate: this caller becomes the flusher for everything appended so far.</summary>
    private FlushPlan BeginFlush()
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        Debug.Assert(_flushing);
        var handle = _tail.Handle;
        bool added = false;
        handle.DangerousAddRef(ref added);   // a concurrent rotation may dispose it; the fd stays open until released
        ulong target = _tail.LastTxId;
        bool data = _initialSyncPending || _durableTxId < target;
        Interlocked.Exchange(ref _unsyncedRecords, 0);
        Interlocked.Exchange(ref _unsyncedBytes, 0);
        return new FlushPlan(handle, target, data, _directoryDirty, _tail.Segment, _tail.Size);
    }

    /// <summary>Runs outside the gate, so appends continue while the disk works.</summary>
    private void RunFlush(FlushPlan plan)
    {
        PoisonReason failure = PoisonReason.None;
        SafeAtomicException? error = null;
        TimeSpan dataElapsed = default;
        try
        {
            if (plan.Data)
            {
                try
                {
                    Interlocked.Increment(ref _fsyncCount);
                    long started = Stopwatch.GetTimestamp();
                    FileSync.FsyncData(plan.Handle);
                    long elapsed = Stopwatch.GetTimestamp() - started;
                    Volatile.Write(ref _lastFsyncTicks, elapsed);
                    dataElapsed = TimeSpan.FromSeconds(elapsed / (double)Stopwatch.Frequency);
                }
                catch (SafeAtomicException e)
                {
                    failure = PoisonReason.FsyncData;
                    error = e;
                }
            }

            if (error is null && plan.Directory)
            {
                try
                {
                    long started = Stopwatch.GetTimestamp();
                    FileSync.FsyncDirectory(Directory);
                    LogTelemetry.Fsynced(Directory, true, Stopwatch.GetElapsedTime(started), 0);
                }
                catch (SafeAtomicException e)
                {
                    failure = PoisonReason.FsyncDirectory;
                    error = e;
                }
            }
        }
        finally
        {
            plan.Handle.DangerousRelease();
            FinishFlush(plan, failure, dataElapsed);
        }

        if (error is not null)
        {
            // The plan names the segment that was flushed: a rotation meanwhile may have moved the tail on.
            throw failure == PoisonReason.FsyncData
                ? ThrowHelper.FsyncSegmentFailed(SegmentFiles.PathFor(Directory, plan.Segment), error)
                : ThrowHelper.FsyncLogDirectoryFailed(Directory, error);
        }
    }

    /// <summary>Records the outcome of a flush and releases its waiters.</summary>
    private void FinishFlush(FlushPlan plan, PoisonReason failure, TimeSpan dataElapsed)
    {
        long covered = 0;
        TaskCompletionSource? done;
        using (_gate.EnterPriority())
        {
            if (failure == PoisonReason.None)
            {
                covered = GroupCommitSize(plan.Target);
                _durableTxId = Math.Max(_durableTxId, plan.Target);
                if (plan.Data)
                {
                    _initialSyncPending = false;
                    if (plan.Segment == _durableSegment && plan.End > _durableEnd)
                    {
                        _durableEnd = plan.End;   // a rotation meanwhile already moved past this segment
                    }
                }

                if (plan.Directory)
                {
                    _directoryDirty = false;
                }
            }
            else
            {
                _poison.Set(failure);
            }

            _flushing = false;
            _expectedCallers = _joiners + 1;
            done = _flushDone;
            _flushDone = null;
        }

        if (failure == PoisonReason.None)
        {
            if (plan.Data)
            {
                LogTelemetry.Fsynced(Directory, false, dataElapsed, covered);
                _signal.Notify();   // durable-only followers may go on
            }

            done?.TrySetResult();
        }
        else
        {
            done?.TrySetException(new WriterPoisonedException(failure.Text()));
        }
    }

    /// <summary>
    /// Under the gate: how many records appended through this handle a flush up to <paramref name="target"/>
    /// makes durable (the group-commit size). Records recovered at open are not counted: the first fsync after a
    /// reopen covers them too, but they were not part of anyone's commit.
    /// </summary>
    private long GroupCommitSize(ulong target)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        ulong floor = Math.Max(_durableTxId, _recoveredTxId);
        return target > floor ? (long)(target - floor) : 0;
    }
}
