namespace DataWal.Core;

/// <summary>Options for <see cref="RecordLogReader.FollowAsync"/>.</summary>
public sealed class FollowOptions
{
    /// <summary>The default <see cref="PollInterval"/> (250 ms).</summary>
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Yield only records an fsync has covered. With a <see cref="RecordLog"/> on the same directory open in
    /// this process, the follower waits for that writer's fsyncs (it never causes one). Otherwise it cannot
    /// see another process's fsyncs, so it makes what it read durable itself: one data fsync of the segment
    /// (through a read-only handle) before yielding the records it covers.
    /// </summary>
    public bool DurableOnly { get; init; }

    /// <summary>
    /// The longest the follower sleeps before looking at the files again when nothing woke it (default
    /// <see cref="DefaultPollInterval"/>). A writer in this process wakes it at once; a writer in another
    /// process wakes it through file-change notification when <see cref="WatchFileSystem"/> is on, and this
    /// interval bounds the delay when notification is unavailable or missed. Timers tick with the
    /// operating system's clock: on Linux an interval below one kernel tick (4 ms at the common 250 Hz)
    /// sleeps about a tick.
    /// </summary>
    public TimeSpan PollInterval { get; init; } = DefaultPollInterval;

    /// <summary>Use file-change notification (inotify, FSEvents, ReadDirectoryChangesW) for writers in other processes (default true).</summary>
    public bool WatchFileSystem { get; init; } = true;

    /// <summary>Size of the read buffer (default 256 KiB); a larger frame grows it to that frame's size.</summary>
    public int ReadBufferSize { get; init; } = LogScanner.DefaultBufferSize;
}
