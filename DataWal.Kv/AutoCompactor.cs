namespace DataWal.Kv;

/// <summary>
/// <see cref="KvStoreOptions.AutoCompaction"/>: after a rotation, on the thread pool, compares the store's size with
/// its live bytes and runs <see cref="KvStore.Compact"/> when the policy says so. One check or compaction at a time;
/// a failure is kept for <see cref="KvStore.AutoCompactionError"/> (a poisoned log stops it for good), never thrown
/// into a writer's thread.
/// </summary>
internal sealed class AutoCompactor(KvStore store, KvAutoCompaction policy) : IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private int _running;
    private Task _current = Task.CompletedTask;
    private volatile Exception? _lastError;

    public Exception? LastError => _lastError;

    /// <summary>Under the log's gate: only queues the check.</summary>
    public void Check()
    {
        if (_stopping.IsCancellationRequested || Interlocked.CompareExchange(ref _running, 1, 0) != 0)
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
            if (!store.IsPoisoned && policy.ShouldCompact(store.StoreBytes(), store.LiveBytes))
            {
                await store.CompactAsync(null, _stopping.Token).ConfigureAwait(false);
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
}
