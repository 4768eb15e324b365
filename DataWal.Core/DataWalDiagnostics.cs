using System.ComponentModel;

namespace DataWal.Core;

/// <summary>
/// Names to pass to OpenTelemetry, a <see cref="System.Diagnostics.Metrics.MeterListener"/>, an
/// <see cref="System.Diagnostics.Tracing.EventListener"/>, <c>dotnet-counters</c> or <c>dotnet-trace</c> to observe
/// DataWal's record log: the meter, the event source, the instruments and their tags. Nothing is measured or raised while
/// nobody listens.
/// </summary>
public static class DataWalDiagnostics
{
    /// <summary>The <see cref="System.Diagnostics.Metrics.Meter"/> of the record log writer (<c>DataWal.Core</c>).</summary>
    public const string MeterName = "DataWal.Core";

    /// <summary>The <see cref="System.Diagnostics.Metrics.Meter"/> of the key/value store (<c>DataWal.Kv</c>).</summary>
    [Obsolete("Moved to DataWal.Kv.KvDiagnostics.MeterName (same value); kept so code built against 0.1 compiles.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public const string KvMeterName = "DataWal.Kv";

    /// <summary>
    /// The <see cref="System.Diagnostics.Tracing.EventSource"/> name (<c>DataWal</c>): recovery, tail cuts,
    /// poisonings and rotations (the key/value store's compactions and exports: <c>DataWal.Kv.KvDiagnostics</c>).
    /// </summary>
    public const string EventSourceName = "DataWal";

    /// <summary>Tag on every measurement: the full path of the log (or store) directory.</summary>
    public const string DirectoryTag = "datawal.directory";

    /// <summary>Tag on the fsync instruments: <c>data</c> (the active segment) or <c>directory</c> (the log directory).</summary>
    public const string FsyncTargetTag = "datawal.fsync.target";

    /// <summary>Tag on <see cref="LogPoisonings"/>: the poison reason, as in the writer-poisoned error message.</summary>
    public const string PoisonReasonTag = "datawal.poison.reason";

    /// <summary>Tag on <c>datawal.kv.operations</c>: <c>put</c>, <c>delete</c> or <c>get</c>.</summary>
    [Obsolete("Moved to DataWal.Kv.KvDiagnostics.OperationTag (same value); kept so code built against 0.1 compiles.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public const string KvOperationTag = "datawal.kv.operation";

    /// <summary>Tag on <c>datawal.kv.operations</c> for gets only: <c>hit</c> (the key was live) or <c>miss</c>.</summary>
    [Obsolete("Moved to DataWal.Kv.KvDiagnostics.ResultTag (same value); kept so code built against 0.1 compiles.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public const string KvResultTag = "datawal.kv.result";

    /// <summary>Counter (<c>{record}</c>): records handed to the kernel; a batch counts each of its records.</summary>
    public const string LogAppendedRecords = "datawal.log.appended.records";

    /// <summary>Counter (<c>By</c>): frame bytes handed to the kernel.</summary>
    public const string LogAppendedBytes = "datawal.log.appended.bytes";

    /// <summary>Counter (<c>{fsync}</c>): successful fsyncs, tagged with <see cref="FsyncTargetTag"/>.</summary>
    public const string LogFsyncs = "datawal.log.fsyncs";

    /// <summary>Histogram (<c>s</c>): duration of each successful fsync, tagged with <see cref="FsyncTargetTag"/>.</summary>
    public const string LogFsyncDuration = "datawal.log.fsync.duration";

    /// <summary>
    /// Histogram (<c>{record}</c>): records made durable by one data fsync (the group-commit size); every data
    /// fsync is recorded, 0 included.
    /// </summary>
    public const string LogGroupCommitRecords = "datawal.log.group_commit.records";

    /// <summary>Counter (<c>{record}</c>): valid records found by the recovery of each writer open.</summary>
    public const string LogRecoveredRecords = "datawal.log.recovered.records";

    /// <summary>Histogram (<c>s</c>): duration of each writer open's recovery (scan, and tail cut if any).</summary>
    public const string LogRecoveryDuration = "datawal.log.recovery.duration";

    /// <summary>Counter (<c>By</c>): bytes of damaged tail a writer open cut off the active segment.</summary>
    public const string LogTailCutBytes = "datawal.log.tail_cut.bytes";

    /// <summary>Counter (<c>{poisoning}</c>): writers poisoned, tagged with <see cref="PoisonReasonTag"/>.</summary>
    public const string LogPoisonings = "datawal.log.poisonings";

    /// <summary>Counter (<c>{rotation}</c>): segment rotations.</summary>
    public const string LogRotations = "datawal.log.rotations";

    /// <summary>
    /// Counter (<c>{operation}</c>): key/value operations, tagged with <see cref="KvOperationTag"/> (and
    /// <see cref="KvResultTag"/> for gets); each put and delete of a batch counts.
    /// </summary>
    [Obsolete("Moved to DataWal.Kv.KvDiagnostics.Operations (same value); kept so code built against 0.1 compiles.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public const string KvOperations = "datawal.kv.operations";

    /// <summary>Counter (<c>{record}</c>): records written by completed compactions.</summary>
    [Obsolete("Moved to DataWal.Kv.KvDiagnostics.CompactionRecords (same value); kept so code built against 0.1 compiles.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public const string KvCompactionRecords = "datawal.kv.compaction.records";

    /// <summary>Counter (<c>By</c>): frame bytes written by completed compactions.</summary>
    [Obsolete("Moved to DataWal.Kv.KvDiagnostics.CompactionBytes (same value); kept so code built against 0.1 compiles.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public const string KvCompactionBytes = "datawal.kv.compaction.bytes";

    /// <summary>Histogram (<c>s</c>): duration of each completed compaction.</summary>
    [Obsolete("Moved to DataWal.Kv.KvDiagnostics.CompactionDuration (same value); kept so code built against 0.1 compiles.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public const string KvCompactionDuration = "datawal.kv.compaction.duration";

    /// <summary>Counter (<c>{record}</c>): lines (live pairs) written by completed JSONL exports.</summary>
    [Obsolete("Moved to DataWal.Kv.KvDiagnostics.ExportRecords (same value); kept so code built against 0.1 compiles.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public const string KvExportRecords = "datawal.kv.export.records";

    /// <summary>Counter (<c>By</c>): bytes of the files written by completed JSONL exports.</summary>
    [Obsolete("Moved to DataWal.Kv.KvDiagnostics.ExportBytes (same value); kept so code built against 0.1 compiles.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public const string KvExportBytes = "datawal.kv.export.bytes";

    /// <summary>Histogram (<c>s</c>): duration of each completed JSONL export.</summary>
    [Obsolete("Moved to DataWal.Kv.KvDiagnostics.ExportDuration (same value); kept so code built against 0.1 compiles.")]
    [EditorBrowsable(EditorBrowsableState.Never)]
    public const string KvExportDuration = "datawal.kv.export.duration";
}
