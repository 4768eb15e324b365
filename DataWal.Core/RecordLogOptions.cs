namespace DataWal.Core;

/// <summary>Options for opening a <see cref="RecordLog"/>.</summary>
public sealed class RecordLogOptions
{
    /// <summary>
    /// Size of the read buffer recovery and scans start with (default 256 KiB). A larger frame grows it to
    /// that frame's size; memory never depends on the size of the log.
    /// </summary>
    public int ReadBufferSize { get; init; } = LogScanner.DefaultBufferSize;

    /// <summary>When appended records become durable (default <see cref="DurabilityMode.Manual"/>, as upstream).</summary>
    public DurabilityMode Durability { get; init; } = DurabilityMode.Manual;

    /// <summary>
    /// Under <see cref="DurabilityMode.Grouped"/>: the longest an appended record waits before a background
    /// fsync covers it (default 10 ms).
    /// </summary>
    public TimeSpan GroupCommitInterval { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Under <see cref="DurabilityMode.Grouped"/>: fsync early once this many records are unsynced (0 = no limit).</summary>
    public int GroupCommitRecords { get; init; }

    /// <summary>Under <see cref="DurabilityMode.Grouped"/>: fsync early once this many bytes are unsynced (0 = no limit).</summary>
    public long GroupCommitBytes { get; init; }
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
