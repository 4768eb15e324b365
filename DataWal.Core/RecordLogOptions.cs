namespace DataWal.Core;

/// <summary>Options for opening a <see cref="RecordLog"/>.</summary>
public sealed class RecordLogOptions
{
    /// <summary>
    /// Size of the read buffer recovery and scans start with (default 256 KiB). A larger frame grows it to
    /// that frame's size; memory never depends on the size of the log.
    /// </summary>
    public int ReadBufferSize { get; init; } = LogScanner.DefaultBufferSize;
}
