namespace DataWal.Kv;

/// <summary>
/// <see cref="KvStoreOptions.AutoCompaction"/>: after a rotation, on the thread pool, compares the store's size with
/// its live bytes and runs <see cref="KvStore.Compact"/> when the policy says so. One check or compaction at a time;
/// a failure is kept for <see cref="KvStore.AutoCompactionError"/> (a poisoned log stops it for good), never thrown
/// into a writer's thread.
/// </summary>
internal sealed class AutoCompactor(KvStore store, KvAutoCompaction policy) : IDisposable, IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private int _running;
    private int _pending;   // a rotation came while a check or compaction ran: look again when it ends
    private Task _current = Task.CompletedTask;
    private volatile Exception? _lastError;

    public Exception? LastError => _lastError;

    /// <summary>Under the log's gate: only queues the check.</summary>
    public void Check()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        Volatile.Write(ref _pending, 1);
        if (Interlocked.CompareExchange(ref _running, 1, 0) != 0)
        {
            return;
        }

        _current = Task.Run(Run);
    }

    private async Task Run()
    {
        await Task.Yield();
        try
        {
            // Segments written while a compaction ran are only looked at by a later check: without this loop they
            // would wait for the next rotation after it, and disk use could climb by what one compaction lets pile up.
            while (Interlocked.Exchange(ref _pending, 0) != 0 && !_stopping.IsCancellationRequested)
            {
                if (!store.IsPoisoned && policy.ShouldCompact(store.StoreBytes(), store.LiveBytes))
                {
                    await store.CompactAsync(null, _stopping.Token).ConfigureAwait(false);
                }
            }

            _lastError = null;
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException or ObjectDisposedException)
        {
            _lastError = e;
        }
        finally
        {
            Volatile.Write(ref _running, 0);
            if (Volatile.Read(ref _pending) != 0 && !_stopping.IsCancellationRequested && Interlocked.CompareExchange(ref _running, 1, 0) == 0)
            {
                _current = Task.Run(Run);   // a rotation arrived just as this run was ending
            }
        }
    }

    /// <summary>Stops a compaction in progress before its image is installed, and waits for it.</summary>
    public void Dispose()
    {
        _stopping.Cancel();
        try
        {
            _current.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
        }

        _stopping.Dispose();
    }

    /// <summary><see cref="Dispose"/> without blocking a thread.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _current.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stopping.Dispose();
    }
}
