namespace DataWal.Core;

/// <summary>
/// A projection kept in step with a writer's log: it sees every frame recovery finds at open
/// (<see cref="IFrameVisitor.Visit"/>), then every frame appended through the log, in log order
/// (<see cref="OnAppended"/>). Pass it to <see cref="RecordLog.Open(string, RecordLogOptions?, IRecordLogObserver?)"/>.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="OnAppended"/> runs under the log's write gate, right after the frames were handed to the kernel and
/// before the append returns or waits for durability: appends by other threads wait, so the projection sees the
/// log's exact order and can never lag behind a write its caller already saw succeed. Keep it short (an
/// in-memory update), take no lock a reader of the projection may hold while calling into the log, and never call
/// back into the log from it.
/// </para>
/// <para>
/// If <see cref="OnAppended"/> throws, the frames stay written (a reopen recovers them) but the projection no
/// longer matches the log, so the writer is poisoned (<c>append observer failed</c>) and the exception propagates.
/// </para>
/// </remarks>
public interface IRecordLogObserver : IFrameVisitor
{
    /// <summary>The frames of one successful append (one record, or a whole batch); views valid only during the call.</summary>
    /// <param name="frames">The frames, in log order.</param>
    void OnAppended(AppendedFrames frames);
}
