namespace DataWal.Core;

/// <summary>
/// Receives every valid frame of a pass over a log, in log order, without copies: a projection (an index, the
/// KV key directory) is built in the same single pass that recovery or a read makes anyway, instead of reading
/// the log twice. See <see cref="RecordLog.Open(string, RecordLogOptions?, IRecordLogObserver?)"/> and
/// <see cref="RecordLogReader.Replay"/>.
/// </summary>
public interface IFrameVisitor
{
    /// <summary>One valid frame; its views are valid only during the call.</summary>
    /// <param name="frame">The frame.</param>
    void Visit(LogFrame frame);
}
