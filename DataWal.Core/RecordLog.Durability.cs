using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>Durability of a <see cref="RecordLog"/>: fsync with group commit, and the durability policies.</summary>
public sealed partial class RecordLog
{
    // Guarded by _gate.
    private ulong _durableTxId;              // every txid <= this is durable
    private uint _durableSegment;            // every byte before (_durableSegment, _durableEnd) is durable
    private long _durableEnd;
    private readonly ulong _recoveredTxId;   // the last txid recovered at open
    private bool _initialSyncPending = true; // recovered bytes may sit only in the page cache
    private bool _directoryDirty = true;     // the directory's entries may not be durable yet
    private bool _flushing;
    private TaskCompletionSource? _flushDone; // waiters of the in-flight flush (created by the first waiter; one per flush, not per caller)
    private long _unsyncedRecords;
    private long _unsyncedBytes;

    private readonly DurabilityMode _policy;
    private CancellationTokenSource? _backgroundStop;
    private Task? _background;
    private SemaphoreSlim? _backgroundSignal;

    private long _fsyncCount;

    /// <summary>
    /// How many data fsyncs this handle has issued (explicit, shared, background and rotation ones). With
    /// the number of records appended it gives the mean group-commit batch size.
    /// </summary>
    public long FsyncCount => Interlocked.Read(ref _fsyncCount);

    /// <summary>The durability policy this log was opened with.</summary>
    public DurabilityMode Durability => _policy;

    /// <summary>
    /// Makes every record appended so far durable: fdatasync of the active segment through our own system
    /// call (an error is never swallowed), plus a directory fsync when entries changed since the last one
    /// (upstream pays both on every call). Safe to call from many threads at once: callers share fsyncs —
    /// while one fsync runs, appends continue, and the next fsync covers every caller that arrived meanwhile
    /// (group commit). Cheap when nothing changed.
    /// </summary>
    /// <exception cref="WriterPoisonedException">An earlier write step failed on this handle (or the shared fsync did).</exception>
    /// <exception cref="DataWalException">The fsync failed; the handle is now poisoned.</exception>
    public void Fsync()
    {
        ulong target;
        using (EnterPriority())
        {
            ThrowIfUnwritable();
            target = _nextTxId - 1;
        }

        WaitDurable(target);
    }

    /// <summary>Asynchronous <see cref="Fsync"/>: shares fsyncs with every other caller (group commit).</summary>
    /// <param name="cancellationToken">Stops waiting (the records stay appended; they just may not be durable yet).</param>
    /// <returns>Completes once every record appended before the call is durable.</returns>
    public ValueTask FsyncAsync(CancellationToken cancellationToken = default)
    {
        ulong target;
        using (EnterPriority())
        {
            ThrowIfUnwritable();
            target = _nextTxId - 1;
            if (!NeedsFlush(target))
            {
                return ValueTask.CompletedTask;
            }
        }

        return WaitDurableAsync(target, cancellationToken);
    }

    /// <summary>
    /// Appends one record and, under <see cref="DurabilityMode.EveryAppend"/>, waits (asynchronously) until
    /// it is durable. The frame is written before the first await: cancellation never leaves a torn frame,
    /// it only stops the wait for durability.
    /// </summary>
    /// <param name="type">The record type.</param>
    /// <param name="key">The key.</param>
    /// <param name="payload">The payload.</param>
    /// <param name="cancellationToken">Cancels before the write, or stops the durability wait after it.</param>
    /// <returns>Where the frame was written.</returns>
    public ValueTask<RecordRef> AppendRecordAsync(RecordType type, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var written = AppendRecordCore(type, key.Span, payload.Span, out ulong txId);
        var durable = AwaitPolicyAsync(txId, 1, written.Length, cancellationToken);
        if (durable.IsCompletedSuccessfully)
        {
            durable.GetAwaiter().GetResult();   // consume it: the waiter may be a pooled source
            return ValueTask.FromResult(written);
        }

        return WaitThenReturn(durable, written);
    }

    /// <summary>Asynchronous <see cref="Append"/> (a Raw record); see <see cref="AppendRecordAsync"/>.</summary>
    /// <param name="payload">The payload.</param>
    /// <param name="cancellationToken">Cancels before the write, or stops the durability wait after it.</param>
    /// <returns>Where the frame was written.</returns>
    public ValueTask<RecordRef> AppendAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        AppendRecordAsync(RecordType.Raw, default, payload, cancellationToken);

    /// <summary>Asynchronous <see cref="AppendBatch"/>; see <see cref="AppendRecordAsync"/>.</summary>
    /// <param name="batch">The records.</param>
    /// <param name="cancellationToken">Cancels before the write, or stops the durability wait after it.</param>
    /// <returns>The txid of the first record.</returns>
    public async ValueTask<ulong> AppendBatchAsync(RecordBatch batch, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ulong first = AppendBatchCore(batch);
        if (batch.Count > 0)
        {
            await AwaitPolicyAsync(first + (ulong)(batch.Count - 1), batch.Count, batch.Length, cancellationToken).ConfigureAwait(false);
        }

        return first;
    }

    /// <summary>
    /// Reads every record lazily and asynchronously, one record at a time.
    /// </summary>
    /// <param name="cancellationToken">Stops the enumeration.</param>
    /// <returns>The records committed when the enumeration starts, in log order.</returns>
    public async IAsyncEnumerable<Record> ScanAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Segment reads are served from the page cache in large blocks: one record at a time costs less
        // synchronously than a thread hop per record; yield now and then so a long scan never starves
        // the caller's scheduler.
        await Task.Yield();
        using var enumerator = ScanIter().GetEnumerator();
        int sinceYield = 0;
        while (enumerator.MoveNext())
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return enumerator.Current;
            if (++sinceYield == 4096)
            {
                sinceYield = 0;
                await Task.Yield();
            }
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<RecordRef> WaitThenReturn(ValueTask durable, RecordRef written)
    {
        await durable.ConfigureAwait(false);
        return written;
    }

    /// <summary>After an append made without waiting: wait asynchronously per the policy.</summary>
    internal ValueTask AwaitPolicyAsync(ulong lastTxId, int records, long bytes, CancellationToken cancellationToken)
    {
        switch (_policy)
        {
            case DurabilityMode.EveryAppend:
                return WaitDurableAsync(lastTxId, cancellationToken);
            case DurabilityMode.Grouped:
                NoteUnsynced(records, bytes);
                break;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>After a synchronous append: wait for durability or note the unsynced bytes, per the policy.</summary>
    internal void ApplyPolicy(ulong lastTxId, int records, long bytes)
    {
        if (_policy == DurabilityMode.EveryAppend)
        {
            WaitDurable(lastTxId);
        }
        else if (_policy == DurabilityMode.Grouped)
        {
            NoteUnsynced(records, bytes);
        }
    }

    private void NoteUnsynced(long records, long bytes)
    {
        // Lock-free: every append under Grouped comes through here, and must not compete with the flusher.
        long unsyncedRecords = Interlocked.Add(ref _unsyncedRecords, records);
        long unsyncedBytes = Interlocked.Add(ref _unsyncedBytes, bytes);
        bool signal = (_options.GroupCommitRecords > 0 && unsyncedRecords >= _options.GroupCommitRecords) ||
                      (_options.GroupCommitBytes > 0 && unsyncedBytes >= _options.GroupCommitBytes);

        if (signal && _backgroundSignal is { CurrentCount: 0 } s)
        {
            try
            {
                s.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another appender woke the flusher between the check and the release: one wake-up is enough.
            }
            catch (ObjectDisposedException)
            {
                // The log is closing; its final fsync covers these records.
            }
        }
    }

    private bool NeedsFlush(ulong target) => _initialSyncPending || _directoryDirty || _durableTxId < target;

    /// <summary>Blocks until every txid up to <paramref name="target"/> is durable, flushing if nobody else is.</summary>
    internal void WaitDurable(ulong target)
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
                // The shared flush failed: the handle is poisoned, which the next round reports.
            }
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WaitDurableAsync(ulong target, CancellationToken cancellationToken)
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
                // The shared flush failed: the handle is poisoned, which the next round reports.
            }
        }
    }

    /// <summary>
    /// One round of waiting for durability: returns true when <paramref name="target"/> is durable (possibly
    /// after this caller ran the flush itself); otherwise <paramref name="wait"/> is the flush in flight.
    /// </summary>
    private bool JoinOrLead(ulong target, out Task wait)
    {
        FlushPlan plan;
        using (EnterPriority())
        {
            // Durable first: a caller whose records a flush already covered has succeeded, even if a later
            // flush failed or the log is being closed (reporting failure would invite a duplicate retry).
            if (!NeedsFlush(target))
            {
                wait = Task.CompletedTask;
                return true;
            }

            ThrowIfUnwritable();
            if (_flushing)
            {
                // Created only when someone actually waits: an uncontended fsync allocates nothing.
                _flushDone ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _flushDone.Task;
                return false;
            }

            plan = BeginFlush();
        }

        wait = Task.CompletedTask;
        RunFlush(plan);
        return true;
    }

    private readonly record struct FlushPlan(SafeFileHandle? Handle, ulong Target, bool Data, bool Directory, uint Segment, long End);

    /// <summary>Called under the gate: this caller becomes the flusher for everything appended so far.</summary>
    private FlushPlan BeginFlush()
    {
        bool added = false;
        _active.DangerousAddRef(ref added);   // a concurrent Rotate may dispose _active; the fd stays open until released
        _flushing = true;
        _flushDone = null;
        ulong target = _nextTxId - 1;
        bool data = _initialSyncPending || _durableTxId < target;
        Interlocked.Exchange(ref _unsyncedRecords, 0);
        Interlocked.Exchange(ref _unsyncedBytes, 0);
        return new FlushPlan(_active, target, data, _directoryDirty, _activeId, _activeSize);
    }

    /// <summary>Runs outside the gate, so appends continue while the disk works.</summary>
    private void RunFlush(FlushPlan plan)
    {
        string? failure = null;
        SafeAtomicException? error = null;
        TimeSpan dataElapsed = default;
        long covered = 0;
        try
        {
            if (plan.Data)
            {
                try
                {
                    Interlocked.Increment(ref _fsyncCount);
                    long started = Stopwatch.GetTimestamp();
                    FileSync.FsyncData(plan.Handle!);
                    dataElapsed = Stopwatch.GetElapsedTime(started);
                }
                catch (SafeAtomicException e)
                {
                    failure = "fsync sync_all failed";
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
                    failure = "fsync fsync_dir failed";
                    error = e;
                }
            }
        }
        finally
        {
            plan.Handle!.DangerousRelease();
            TaskCompletionSource? done;
            using (EnterPriority())
            {
                if (error is null)
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
                    Poison(failure!);
                }

                _flushing = false;
                done = _flushDone;
                _flushDone = null;
            }

            if (error is null)
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
                done?.TrySetException(new WriterPoisonedException(failure!));
            }
        }

        if (error is not null)
        {
            string what = failure == "fsync sync_all failed" ? $"fsync segment {SegmentFiles.PathFor(Directory, _activeId)}" : $"fsync log directory {Directory}";
            throw new DataWalException($"datawal: {what}: {error.Message}", error);
        }
    }

    /// <summary>
    /// Under the gate: how many records appended through this handle a flush up to <paramref name="target"/>
    /// makes durable (the group-commit size). Records recovered at open are not counted: the first fsync
    /// after a reopen covers them too, but they were not part of anyone's commit.
    /// </summary>
    private long GroupCommitSize(ulong target)
    {
        ulong floor = Math.Max(_durableTxId, _recoveredTxId);
        return target > floor ? (long)(target - floor) : 0;
    }

    private void StartBackgroundFlusher()
    {
        _backgroundStop = new CancellationTokenSource();
        _backgroundSignal = new SemaphoreSlim(0, 1);
        var stop = _backgroundStop.Token;
        var signal = _backgroundSignal;
        var interval = _options.GroupCommitInterval > TimeSpan.Zero ? _options.GroupCommitInterval : TimeSpan.FromMilliseconds(10);
        _background = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await signal.WaitAsync(interval, stop).ConfigureAwait(false);
                    ulong target;
                    using (EnterPriority())
                    {
                        if (_disposed || _poisonReason is not null)
                        {
                            return;
                        }

                        target = _nextTxId - 1;
                        if (!NeedsFlush(target))
                        {
                            continue;
                        }
                    }

                    await WaitDurableAsync(target, CancellationToken.None).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (DataWalException)
                {
                    return;   // poisoned: writers see it on their next call
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
            }
        });
    }

    private void StopBackgroundFlusher()
    {
        var stop = Interlocked.Exchange(ref _backgroundStop, null);
        if (stop is null)
        {
            return;
        }

        stop.Cancel();
        try
        {
            _background?.Wait();
        }
        catch (AggregateException)
        {
        }

        stop.Dispose();
        _backgroundSignal?.Dispose();
    }
}
