namespace DataWal.Core;

/// <summary>
/// A follow position names a record whose segment no longer exists: retention removed that history, or a
/// compaction folded the segment into a lower one. Follow from <see cref="FollowPosition.Start"/>, or set
/// <see cref="FollowOptions.StartAtOldestWhenRemoved"/>, to begin at the oldest record kept.
/// </summary>
public sealed class LogHistoryRemovedException : DataWalException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="directory">The log directory.</param>
    /// <param name="requestedSegment">The segment the position named.</param>
    /// <param name="oldestSegment">The lowest segment that exists now.</param>
    /// <param name="inner">The cause, if any.</param>
    public LogHistoryRemovedException(string message, string directory, uint requestedSegment, uint oldestSegment, Exception? inner = null)
        : base(message, inner)
    {
        Directory = directory;
        RequestedSegment = requestedSegment;
        OldestSegment = oldestSegment;
    }

    /// <summary>The log directory.</summary>
    public string Directory { get; }

    /// <summary>The segment the follow position named, which no longer exists.</summary>
    public uint RequestedSegment { get; }

    /// <summary>The lowest segment that existed when the position was checked.</summary>
    public uint OldestSegment { get; }
}
