namespace DataWal.Core;

/// <summary>
/// The one lock of a <see cref="RecordLog"/>, with two doors: appenders come in through
/// <see cref="EnterAppend"/>, everyone else (durability, rotation, properties, close) through
/// <see cref="EnterPriority"/> — and while a priority caller waits, appenders hold back.
/// </summary>
/// <remarks>
/// Without the priority door a flood of appenders could keep an fsync caller (or the background flusher) from
/// ever taking the lock to record what became durable, so group commit would stall exactly under load. The
/// hold-back is a spin, not a queue: priority callers hold the lock only for bookkeeping (the fsync itself runs
/// outside it), so appenders wait for a few microseconds at most.
/// </remarks>
internal sealed class PriorityGate
{
    private readonly Lock _lock = new();
    private int _priorityWaiters;

    /// <summary>True when the calling thread holds the gate (for <c>Debug.Assert</c>s on "under the gate" code).</summary>
    public bool IsHeldByCurrentThread => _lock.IsHeldByCurrentThread;

    /// <summary>Takes the gate as an appender: first lets any waiting priority caller in.</summary>
    /// <returns>The held gate; dispose it to release.</returns>
    public Lock.Scope EnterAppend()
    {
        if (Volatile.Read(ref _priorityWaiters) != 0)
        {
            HoldBack();
        }

        return _lock.EnterScope();
    }

    /// <summary>Takes the gate ahead of appenders.</summary>
    /// <returns>The held gate; dispose it to release.</returns>
    public Lock.Scope EnterPriority()
    {
        Interlocked.Increment(ref _priorityWaiters);
        try
        {
            return _lock.EnterScope();
        }
        finally
        {
            Interlocked.Decrement(ref _priorityWaiters);
        }
    }

    private void HoldBack()
    {
        var spin = default(SpinWait);
        while (Volatile.Read(ref _priorityWaiters) != 0)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }
}
