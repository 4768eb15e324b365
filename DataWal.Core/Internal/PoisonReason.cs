namespace DataWal.Core;

/// <summary>
/// Why a writer was poisoned. A value, so code decides by comparing values; the text (upstream's wording,
/// which tests, metrics tags and users' log searches pin) is derived from it in one place.
/// </summary>
internal enum PoisonReason
{
    /// <summary>Not poisoned.</summary>
    None,

    /// <summary>The write of a single record failed.</summary>
    AppendRecordWrite,

    /// <summary>The write of a batch failed.</summary>
    AppendBatchWrite,

    /// <summary>No txid is left (txids never wrap).</summary>
    TxIdOverflow,

    /// <summary>The data fsync of <see cref="RecordLog.Fsync"/> (or a shared/background one) failed.</summary>
    FsyncData,

    /// <summary>The directory fsync of <see cref="RecordLog.Fsync"/> failed.</summary>
    FsyncDirectory,

    /// <summary>Rotation could not fsync the segment it seals.</summary>
    RotateSync,

    /// <summary>Rotation could not list the directory, so it cannot know which id is free.</summary>
    RotateList,

    /// <summary>Rotation found no id above the active one.</summary>
    RotateNonIncreasing,

    /// <summary>Rotation could not create the new segment.</summary>
    RotateCreate,

    /// <summary>Rotation could not fsync the directory after creating the new segment.</summary>
    RotateFsyncDirectory,

    /// <summary>The append observer (a projection such as the KV key directory) threw after a write: it no longer matches the log.</summary>
    ObserverFailed,
}

/// <summary>The stable text of each <see cref="PoisonReason"/>.</summary>
internal static class PoisonReasons
{
    /// <summary>The reason as it appears in <c>datawal: writer poisoned: &lt;reason&gt;; drop handle and reopen</c>.</summary>
    /// <param name="reason">The reason.</param>
    /// <returns>Its text.</returns>
    public static string Text(this PoisonReason reason) => reason switch
    {
        PoisonReason.AppendRecordWrite => "append_record write_all failed",
        PoisonReason.AppendBatchWrite => "append_batch write_all failed",
        PoisonReason.TxIdOverflow => "txid overflow",
        PoisonReason.FsyncData => "fsync sync_all failed",
        PoisonReason.FsyncDirectory => "fsync fsync_dir failed",
        PoisonReason.RotateSync => "rotate sync_all on previous segment failed",
        PoisonReason.RotateList => "rotate list log directory failed",
        PoisonReason.RotateNonIncreasing => "rotate computed non-increasing segment id",
        PoisonReason.RotateCreate => "rotate create new segment failed",
        PoisonReason.RotateFsyncDirectory => "rotate fsync_dir after segment create failed",
        PoisonReason.ObserverFailed => "append observer failed",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "Not a poison reason."),
    };
}

/// <summary>
/// A writer's poison flag: set once, by the first failure, and never cleared (only a reopen recovers). Lock-free,
/// so a failure found outside the gate (a shared fsync) poisons without taking it.
/// </summary>
internal sealed class WriterPoison
{
    private readonly string _directory;
    private int _reason;

    public WriterPoison(string directory) => _directory = directory;

    /// <summary>True once poisoned.</summary>
    public bool IsSet => Volatile.Read(ref _reason) != (int)PoisonReason.None;

    /// <summary>The first failure's reason, or <see cref="PoisonReason.None"/>.</summary>
    public PoisonReason Reason => (PoisonReason)Volatile.Read(ref _reason);

    /// <summary>Poisons with <paramref name="reason"/> unless already poisoned (the first reason is kept).</summary>
    /// <param name="reason">Why.</param>
    public void Set(PoisonReason reason)
    {
        if (Interlocked.CompareExchange(ref _reason, (int)reason, (int)PoisonReason.None) == (int)PoisonReason.None)
        {
            LogTelemetry.Poisoned(_directory, reason.Text());
        }
    }

    /// <summary>Throws <see cref="WriterPoisonedException"/> with the first reason when poisoned.</summary>
    public void ThrowIfSet()
    {
        var reason = Reason;
        if (reason != PoisonReason.None)
        {
            ThrowHelper.ThrowPoisoned(reason.Text());
        }
    }

    /// <summary>Poisons with <paramref name="reason"/> (unless already poisoned) and throws the poisoned error naming <paramref name="reason"/>.</summary>
    /// <param name="reason">Why.</param>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public void SetAndThrow(PoisonReason reason)
    {
        Set(reason);
        ThrowHelper.ThrowPoisoned(reason.Text());
    }
}
