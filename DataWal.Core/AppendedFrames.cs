namespace DataWal.Core;

/// <summary>
/// The frames one append wrote, in log order: one for <see cref="RecordLog.AppendRecord"/>, a batch's for
/// <see cref="RecordLog.AppendBatch"/>. Views into the caller's or the batch's buffers, valid only during
/// <see cref="IRecordLogObserver.OnAppended"/>.
/// </summary>
public readonly ref struct AppendedFrames
{
    private readonly RecordBatch? _batch;
    private readonly ulong _firstTxId;
    private readonly LogFrame _single;

    internal AppendedFrames(LogFrame single)
    {
        _single = single;
        Count = 1;
    }

    internal AppendedFrames(RecordBatch batch, ulong firstTxId)
    {
        _batch = batch;
        _firstTxId = firstTxId;
        Count = batch.Count;
    }

    /// <summary>How many frames the append wrote (at least 1).</summary>
    public int Count { get; }

    /// <summary>Frame <paramref name="index"/> of the append.</summary>
    /// <param name="index">0 to <see cref="Count"/> - 1.</param>
    /// <returns>The frame.</returns>
    public LogFrame this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            return _batch is null ? _single : _batch.FrameAt(index, _firstTxId);
        }
    }
}
