using System.Runtime.CompilerServices;

namespace DataWal.Core;

/// <summary>
/// The durability surface of a <see cref="RecordLog"/>: fsync (shared between callers: group commit), the
/// durability policies, and the asynchronous appends that wait on them. A separate file only to keep each one
/// readable; it declares no state — the state lives in <see cref="GroupCommit"/> and the main file.
/// </summary>
public sealed partial class RecordLog
{
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
        using (_gate.EnterPriority())
        {
            ThrowIfUnwritable();
            target = _tail.LastTxId;
        }

        _commit.WaitDurable(target);
    }

    /// <summary>Asynchronous <see cref="Fsync"/>: shares fsyncs with every other caller (group commit).</summary>
    /// <param name="cancellationToken">Stops waiting (the records stay appended; they just may not be durable yet).</param>
    /// <returns>Completes once every record appended before the call is durable.</returns>
    public ValueTask FsyncAsync(CancellationToken cancellationToken = default)
    {
        ulong target;
        using (_gate.EnterPriority())
        {
            ThrowIfUnwritable();
            target = _tail.LastTxId;
            if (!_commit.NeedsFlush(target))
            {
                return ValueTask.CompletedTask;
            }
        }

        return _commit.WaitDurableAsync(target, cancellationToken);
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
        var written = WriteRecord(type, key.Span, payload.Span, out ulong txId);
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
        ulong first = WriteBatch(batch);
        if (batch.Count > 0)
        {
            await AwaitPolicyAsync(first + (ulong)(batch.Count - 1), batch.Count, batch.Length, cancellationToken).ConfigureAwait(false);
        }

        return first;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<RecordRef> WaitThenReturn(ValueTask durable, RecordRef written)
    {
        await durable.ConfigureAwait(false);
        return written;
    }

    /// <summary>After an append made without waiting: wait asynchronously per the policy.</summary>
    private ValueTask AwaitPolicyAsync(ulong lastTxId, int records, long bytes, CancellationToken cancellationToken)
    {
        switch (_options.Durability)
        {
            case DurabilityMode.EveryAppend:
                return _commit.WaitDurableAsync(lastTxId, cancellationToken);
            case DurabilityMode.Grouped:
                NoteUnsynced(records, bytes);
                break;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>After a synchronous append: wait for durability or note the unsynced bytes, per the policy.</summary>
    private void ApplyPolicy(ulong lastTxId, int records, long bytes)
    {
        if (_options.Durability == DurabilityMode.EveryAppend)
        {
            _commit.WaitDurable(lastTxId);
        }
        else if (_options.Durability == DurabilityMode.Grouped)
        {
            NoteUnsynced(records, bytes);
        }
    }

    private void NoteUnsynced(long records, long bytes)
    {
        if (_commit.NoteUnsynced(records, bytes))
        {
            _flusher?.Wake();
        }
    }

    /// <summary>For the background flusher: the txid to make durable now, or null when nothing needs it.</summary>
    /// <exception cref="ObjectDisposedException">The log is closed (the flusher stops).</exception>
    /// <exception cref="WriterPoisonedException">The writer is poisoned (the flusher stops).</exception>
    private ulong? NextFlushTarget()
    {
        using (_gate.EnterPriority())
        {
            ThrowIfUnwritable();
            ulong target = _tail.LastTxId;
            return _commit.NeedsFlush(target) ? target : null;
        }
    }
}
