namespace DataWal.Core;

/// <summary>Options for opening a <see cref="RecordLog"/>.</summary>
/// <remarks>
/// Each property checks its value when it is set, so an options object that exists is a valid one: a bad
/// value throws <see cref="ArgumentOutOfRangeException"/> naming the property, from the object initializer
/// rather than from a later <see cref="RecordLog.Open(string, RecordLogOptions?)"/>.
/// </remarks>
public sealed class RecordLogOptions
{
    /// <summary>The largest <see cref="ReadBufferSize"/> (1 GiB), also <see cref="FollowOptions.ReadBufferSize"/>'s.</summary>
    internal const int MaxReadBufferSize = 1 << 30;

    /// <summary>The shortest <see cref="GroupCommitInterval"/>: the flusher waits in whole milliseconds, so a shorter one would spin.</summary>
    internal static readonly TimeSpan MinGroupCommitInterval = TimeSpan.FromMilliseconds(1);

    /// <summary>The longest <see cref="GroupCommitInterval"/>, the same bound as <see cref="FollowOptions.PollInterval"/>'s.</summary>
    internal static readonly TimeSpan MaxGroupCommitInterval = TimeSpan.FromDays(1);

    private readonly int _readBufferSize = LogScanner.DefaultBufferSize;
    private readonly DurabilityMode _durability = DurabilityMode.Manual;
    private readonly TimeSpan _groupCommitInterval = TimeSpan.FromMilliseconds(10);
    private readonly int _groupCommitRecords;
    private readonly long _groupCommitBytes;
    private readonly long _maxSegmentBytes = DefaultMaxSegmentBytes;

    /// <summary>The default <see cref="MaxSegmentBytes"/>: 128 MiB.</summary>
    public const long DefaultMaxSegmentBytes = 128L * 1024 * 1024;

    /// <summary>
    /// Size of the read buffer recovery and scans start with (default 256 KiB; 1 byte to 1 GiB). A larger
    /// frame grows it to that frame's size; memory never depends on the size of the log.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive, or above 1 GiB.</exception>
    public int ReadBufferSize
    {
        get => _readBufferSize;
        init => _readBufferSize = value is > 0 and <= MaxReadBufferSize
            ? value
            : throw new ArgumentOutOfRangeException(nameof(ReadBufferSize), value, "RecordLogOptions.ReadBufferSize must be positive and at most 1 GiB.");
    }

    /// <summary>When appended records become durable (default <see cref="DurabilityMode.Manual"/>, as upstream).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not one of <see cref="DurabilityMode"/>'s named values.</exception>
    public DurabilityMode Durability
    {
        get => _durability;
        init => _durability = Enum.IsDefined(value)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Durability), value, "RecordLogOptions.Durability must be a defined DurabilityMode value.");
    }

    /// <summary>
    /// Under <see cref="DurabilityMode.Grouped"/>: the longest an appended record waits before a background
    /// fsync covers it (default 10 ms; 1 ms to one day).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1 ms (zero, negative or <see cref="Timeout.InfiniteTimeSpan"/> included) or above one day.</exception>
    public TimeSpan GroupCommitInterval
    {
        get => _groupCommitInterval;
        init => _groupCommitInterval = value >= MinGroupCommitInterval && value <= MaxGroupCommitInterval
            ? value
            : throw new ArgumentOutOfRangeException(nameof(GroupCommitInterval), value, "RecordLogOptions.GroupCommitInterval must be at least 1 ms and at most one day.");
    }

    /// <summary>Under <see cref="DurabilityMode.Grouped"/>: fsync early once this many records are unsynced (default 0 = no limit).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int GroupCommitRecords
    {
        get => _groupCommitRecords;
        init => _groupCommitRecords = value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(GroupCommitRecords), value, "RecordLogOptions.GroupCommitRecords must not be negative (0 = no limit).");
    }

    /// <summary>Under <see cref="DurabilityMode.Grouped"/>: fsync early once this many bytes are unsynced (default 0 = no limit).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public long GroupCommitBytes
    {
        get => _groupCommitBytes;
        init => _groupCommitBytes = value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(GroupCommitBytes), value, "RecordLogOptions.GroupCommitBytes must not be negative (0 = no limit).");
    }

    /// <summary>
    /// Rotate automatically before an append would take the active segment past this many bytes (default
    /// <see cref="DefaultMaxSegmentBytes"/>, 128 MiB; 0 = only <see cref="RecordLog.Rotate"/> rotates, as upstream). A
    /// frame is never split and a batch never spans segments: one larger than the limit goes alone into a fresh
    /// segment, and an empty active segment takes any append.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public long MaxSegmentBytes
    {
        get => _maxSegmentBytes;
        init => _maxSegmentBytes = value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxSegmentBytes), value, "RecordLogOptions.MaxSegmentBytes must not be negative (0 = manual rotation only).");
    }
}

/// <summary>
/// When records become durable. Every mode makes a record safe against a crash of the process as soon as its
/// append returns (the frame is in the kernel); they differ in when it survives a power loss or kernel crash.
/// </summary>
public enum DurabilityMode
{
    /// <summary>
    /// Only an explicit <see cref="RecordLog.Fsync"/> / <see cref="RecordLog.FsyncAsync"/> makes records
    /// durable (upstream's semantics). After a power loss, records appended since the last successful fsync
    /// may be lost (recovery returns a prefix).
    /// </summary>
    Manual,

    /// <summary>
    /// Each append returns only once its record is durable. Concurrent appenders share fsyncs (group commit):
    /// one fsync releases every record written before it started. Nothing acknowledged is lost to a power loss.
    /// </summary>
    EveryAppend,

    /// <summary>
    /// Appends return at once; a background flusher fsyncs within <see cref="RecordLogOptions.GroupCommitInterval"/>
    /// (or earlier, past the record/byte thresholds). After a power loss, at most the records of that window are
    /// lost; call <see cref="RecordLog.Fsync"/> for a record that must be durable now.
    /// </summary>
    Grouped,
}
