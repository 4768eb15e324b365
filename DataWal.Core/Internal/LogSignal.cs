using System.Diagnostics;

namespace DataWal.Core;

/// <summary>
/// The process-wide change signal of one log directory: a writer in this process bumps it after every
/// write, rotation and fsync, and followers sleep on it instead of polling. For writers in other processes
/// a shared file-system watcher bumps it; followers still wake at their poll interval in case notification
/// is unavailable or drops events.
/// </summary>
/// <remarks>
/// Costs a writer one volatile read per append while nobody follows. The version only moves while someone
/// follows, which is enough: a follower registers before its first read of the files, so any write it did
/// not see in that read bumps the version it waits on.
/// </remarks>
internal sealed class LogSignal
{
    private static readonly Lock s_registryLock = new();
    private static readonly Dictionary<string, LogSignal> s_registry = new(
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);

    private readonly string _directory;
    private readonly Lock _lock = new();
    private int _references;              // guarded by s_registryLock
    private int _followers;
    private long _version;
    private TaskCompletionSource? _changed; // written under _lock (Notify peeks without it); created by the first sleeper
    private int _watchers;                // guarded by _lock
    private FileSystemWatcher? _watcher;  // guarded by _lock
    private ILiveLogWriter? _writer;      // written under _lock

    private LogSignal(string directory) => _directory = directory;

    /// <summary>The current version; compare with a later one to know whether anything changed.</summary>
    public long Version => Volatile.Read(ref _version);

    /// <summary>The writer open on this directory in this process, if any.</summary>
    public ILiveLogWriter? Writer => Volatile.Read(ref _writer);

    /// <summary>Gets (creating) the signal of <paramref name="directory"/> (a full path); pair with <see cref="Release"/>.</summary>
    public static LogSignal Acquire(string directory)
    {
        string key = Path.TrimEndingDirectorySeparator(directory);
        lock (s_registryLock)
        {
            if (!s_registry.TryGetValue(key, out var signal))
            {
                signal = new LogSignal(key);
                s_registry.Add(key, signal);
            }

            signal._references++;
            return signal;
        }
    }

    /// <summary>Drops one reference; the last one removes the signal from the registry.</summary>
    public void Release()
    {
        lock (s_registryLock)
        {
            if (--_references == 0)
            {
                s_registry.Remove(_directory);
            }
        }
    }

    /// <summary>Registers the in-process writer (at most one: the directory lock sees to that).</summary>
    public void AttachWriter(ILiveLogWriter writer)
    {
        lock (_lock)
        {
            Volatile.Write(ref _writer, writer);
            UpdateWatcherLocked();
        }
    }

    /// <summary>Unregisters <paramref name="writer"/> and wakes followers so they stop relying on it.</summary>
    public void DetachWriter(ILiveLogWriter writer)
    {
        lock (_lock)
        {
            Interlocked.CompareExchange(ref _writer, null, writer);
            UpdateWatcherLocked();
        }

        Notify();
    }

    /// <summary>
    /// While a writer in this process holds the directory, nobody else can write to it (the directory lock)
    /// and that writer wakes followers itself: file notifications would only repeat every write, at a cost
    /// to the writer. So the watcher listens only while there is no writer here.
    /// </summary>
    private void UpdateWatcherLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "the watcher and the writer are read under _lock");
        if (_watcher is null)
        {
            return;
        }

        try
        {
            _watcher.EnableRaisingEvents = _writer is null;
        }
        catch (Exception e) when (IsWatchUnavailable(e))
        {
            _watcher.Dispose();
            _watcher = null;   // polling remains
        }
    }

    /// <summary>Something changed in the directory: wakes every sleeping follower. Free while nobody follows.</summary>
    public void Notify()
    {
        if (Volatile.Read(ref _followers) == 0)
        {
            return;
        }

        // Pairs with WaitAsync, which publishes its completion source before re-reading the version: either
        // this read sees the source, or that re-read sees the new version. Appends in a burst, with the
        // follower busy reading rather than asleep, thus cost no lock.
        Interlocked.Increment(ref _version);
        if (Volatile.Read(ref _changed) is null)
        {
            return;
        }

        TaskCompletionSource? changed;
        lock (_lock)
        {
            changed = _changed;
            _changed = null;
        }

        changed?.TrySetResult();
    }

    /// <summary>A follower starts; with <paramref name="watch"/> it shares the directory's file-system watcher.</summary>
    public void AddFollower(bool watch)
    {
        Interlocked.Increment(ref _followers);
        if (!watch)
        {
            return;
        }

        lock (_lock)
        {
            if (_watchers++ == 0)
            {
                _watcher = TryWatch();
                UpdateWatcherLocked();
            }
        }
    }

    /// <summary>A follower ends.</summary>
    public void RemoveFollower(bool watch)
    {
        if (watch)
        {
            FileSystemWatcher? stop = null;
            lock (_lock)
            {
                if (--_watchers == 0)
                {
                    stop = _watcher;
                    _watcher = null;
                }
            }

            stop?.Dispose();
        }

        Interlocked.Decrement(ref _followers);
    }

    /// <summary>
    /// Sleeps until the version moves past <paramref name="seen"/>, <paramref name="timeout"/> passes, or
    /// <paramref name="cancellationToken"/> fires (which throws).
    /// </summary>
    public async ValueTask WaitAsync(long seen, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_lock)
        {
            _changed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            changed = _changed.Task;
        }

        Interlocked.MemoryBarrier();   // the source is visible before the version is read again (see Notify)
        if (Volatile.Read(ref _version) != seen)
        {
            return;
        }

        using var stopTimer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var timer = Task.Delay(timeout, stopTimer.Token);
        await Task.WhenAny(changed, timer).ConfigureAwait(false);
        stopTimer.Cancel();
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>How starting or resuming a watcher fails where notification is unavailable (limits, platform, permissions).</summary>
    private static bool IsWatchUnavailable(Exception e) =>
        e is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException;

    /// <summary>A watcher on the directory's segment files, or null where notification is unavailable (polling remains).</summary>
    private FileSystemWatcher? TryWatch()
    {
        FileSystemWatcher? watcher = null;
        try
        {
            watcher = new FileSystemWatcher(_directory, "*." + SegmentFiles.Extension)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
                IncludeSubdirectories = false,
            };
            FileSystemEventHandler changed = (_, _) => Notify();
            watcher.Changed += changed;
            watcher.Created += changed;
            watcher.Deleted += changed;
            watcher.Renamed += (_, _) => Notify();
            watcher.Error += (_, _) => Notify();   // overflowed: wake so the follower re-reads the files
            return watcher;
        }
        catch (Exception e) when (IsWatchUnavailable(e))
        {
            // E.g. the inotify instance or watch limit is reached: the poll interval still bounds the delay.
            watcher?.Dispose();
            return null;
        }
    }
}
