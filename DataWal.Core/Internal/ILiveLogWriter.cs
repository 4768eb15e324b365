namespace DataWal.Core;

/// <summary>
/// What a writer open in this process tells the followers of its directory (registered with
/// <see cref="LogSignal.AttachWriter"/>): how far it has written and how far its fsyncs have covered.
/// </summary>
internal interface ILiveLogWriter
{
    /// <summary>
    /// The end of what has been written and the end of what an fsync has covered (segment, offset);
    /// false once the writer is closed.
    /// </summary>
    bool TryGetFollowState(out (uint Segment, long End) written, out (uint Segment, long End) durable);
}
