namespace DataWal.Core;

/// <summary>Options for <see cref="RecordLogReader.FollowAsync"/>.</summary>
/// <remarks>
/// Each property checks its value when it is set: a bad value throws <see cref="ArgumentOutOfRangeException"/>
/// naming the property, from the object initializer rather than from a later <see cref="RecordLogReader.FollowAsync"/>.
/// </remarks>
public sealed class FollowOptions
{
    /// <summary>The default <see cref="PollInterval"/> (250 ms).</summary>
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest <see cref="PollInterval"/> (one day; the CLI's <c>--poll-interval</c> has the same limit).</summary>
    internal static readonly TimeSpan MaxPollInterval = TimeSpan.FromDays(1);

    private readonly TimeSpan _pollInterval = DefaultPollInterval;
    private readonly int _readBufferSize = LogScanner.DefaultBufferSize;
    private readonly ReadMode _mode;

    /// <summary>
    /// Yield only records an fsync has covered. With a <see cref="RecordLog"/> on the same directory open in
    /// this process, the follower waits for that writer's fsyncs (it never causes one). Otherwise it cannot
    /// see another process's fsyncs, so it makes what it read durable itself: one data fsync of the segment
    /// (through a read-only handle) before yielding the records it covers.
    /// </summary>
    public bool DurableOnly { get; init; }

    /// <summary>
    /// The longest the follower sleeps before looking at the files again when nothing woke it (default
    /// <see cref="DefaultPollInterval"/>; positive, at most one day). A writer in this process wakes it at
    /// once; a writer in another process wakes it through file-change notification when
    /// <see cref="WatchFileSystem"/> is on, and this interval bounds the delay when notification is
    /// unavailable or missed. Timers tick with the operating system's clock: on Linux an interval below one
    /// kernel tick (4 ms at the common 250 Hz) sleeps about a tick.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero, negative (<see cref="Timeout.InfiniteTimeSpan"/> included) or above one day.</exception>
    public TimeSpan PollInterval
    {
        get => _pollInterval;
        init => _pollInterval = value > TimeSpan.Zero && value <= MaxPollInterval
            ? value
            : throw new ArgumentOutOfRangeException(nameof(PollInterval), value, "FollowOptions.PollInterval must be positive and at most one day.");
    }

    /// <summary>
    /// What a start position after or at a record does when that record's segment no longer exists because
    /// retention removed it or a compaction folded it into a lower segment: false (the default) throws
    /// <see cref="LogHistoryRemovedException"/>; true starts at the start of the oldest segment that exists,
    /// so the follower yields the oldest record still kept and everything after it.
    /// </summary>
    public bool StartAtOldestWhenRemoved { get; init; }

    /// <summary>
    /// <see cref="ReadMode.Strict"/> (the default): damage in a sealed segment, or structural damage that stays, ends the
    /// follow with <see cref="CorruptRecordException"/>. <see cref="ReadMode.Salvage"/> (docs/design.md D16): damage in a
    /// sealed segment is skipped — the follower resynchronises at the next intact frame, yields what is intact and reports
    /// each skipped range to <see cref="Skipped"/>; structural damage in the segment being written is waited on until that
    /// segment is sealed, and is never resynchronised while a writer may still be appending there.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="ReadMode"/>.</exception>
    public ReadMode Mode
    {
        get => _mode;
        init => _mode = Enum.IsDefined(value)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Mode), value, "FollowOptions.Mode must be ReadMode.Strict or ReadMode.Salvage.");
    }

    /// <summary>In <see cref="ReadMode.Salvage"/>, receives each range the follower skipped (on the follower's thread, before it goes on).</summary>
    public Action<SkippedRange>? Skipped { get; init; }

    /// <summary>Use file-change notification (inotify, FSEvents, ReadDirectoryChangesW) for writers in other processes (default true).</summary>
    public bool WatchFileSystem { get; init; } = true;

    /// <summary>Size of the read buffer (default 256 KiB; 1 byte to 1 GiB); a larger frame grows it to that frame's size.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive, or above 1 GiB.</exception>
    public int ReadBufferSize
    {
        get => _readBufferSize;
        init => _readBufferSize = value is > 0 and <= RecordLogOptions.MaxReadBufferSize
            ? value
            : throw new ArgumentOutOfRangeException(nameof(ReadBufferSize), value, "FollowOptions.ReadBufferSize must be positive and at most 1 GiB.");
    }
}
