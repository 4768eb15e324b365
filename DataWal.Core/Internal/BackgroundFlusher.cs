namespace DataWal.Core;

/// <summary>
/// Under <see cref="DurabilityMode.Grouped"/>: fsyncs the log within the group-commit interval of each append,
/// or at once when <see cref="Wake"/> says a record or byte threshold was passed. Stops at close or at the
/// first failure (the writer is then poisoned, which appenders see on their next call).
/// </summary>
internal sealed class BackgroundFlusher : IDisposable, IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly Task _loop;
    private int _disposed;

    /// <param name="interval">The longest an appended record waits for its fsync.</param>
    /// <param name="nextTarget">Under no lock: the txid to make durable now, or null when nothing needs it; throws when the log is closed or poisoned.</param>
    /// <param name="waitDurable">Makes txids up to the target durable (the log's group commit).</param>
    public BackgroundFlusher(TimeSpan interval, Func<ulong?> nextTarget, Func<ulong, ValueTask> waitDurable)
    {
        var stop = _stop.Token;
        var signal = _signal;
        _loop = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await signal.WaitAsync(interval, stop).ConfigureAwait(false);
                    if (nextTarget() is { } target)
                    {
                        await waitDurable(target).ConfigureAwait(false);
                    }
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

    /// <summary>Runs the flusher now instead of at the end of its interval (lock-free; extra wake-ups merge).</summary>
    public void Wake()
    {
        if (_signal.CurrentCount != 0)
        {
            return;
        }

        try
        {
            _signal.Release();
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

    /// <summary>Stops the loop and waits for a flush it is running to finish.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        try
        {
            _loop.Wait();
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
        _signal.Dispose();
    }

    /// <summary>Stops the loop and awaits a flush it is running, without blocking a thread.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or DataWalException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
        _signal.Dispose();
    }
}
