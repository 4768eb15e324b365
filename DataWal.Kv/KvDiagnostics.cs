using DataWal.Core;

namespace DataWal.Kv;

/// <summary>
/// Names to pass to OpenTelemetry, a <see cref="System.Diagnostics.Metrics.MeterListener"/>, an
/// <see cref="System.Diagnostics.Tracing.EventListener"/>, <c>dotnet-counters</c> or <c>dotnet-trace</c> to observe
/// the key/value store: its meter, its event source, its instruments and their tags. The log beneath a store
/// reports through <see cref="DataWalDiagnostics"/> as any log does. Nothing is measured or raised while nobody
/// listens.
/// </summary>
public static class KvDiagnostics
{
    /// <summary>The <see cref="System.Diagnostics.Metrics.Meter"/> of the key/value store (<c>DataWal.Kv</c>).</summary>
    public const string MeterName = "DataWal.Kv";

    /// <summary>The <see cref="System.Diagnostics.Tracing.EventSource"/> name (<c>DataWal.Kv</c>): compactions and exports.</summary>
    public const string EventSourceName = "DataWal.Kv";

    /// <summary>Tag on every measurement: the full path of the store directory (the same tag the log uses).</summary>
    public const string DirectoryTag = DataWalDiagnostics.DirectoryTag;

    /// <summary>Tag on <see cref="Operations"/>: <c>put</c>, <c>delete</c> or <c>get</c>.</summary>
    public const string OperationTag = "datawal.kv.operation";

    /// <summary>Tag on <see cref="Operations"/> for gets only: <c>hit</c> (the key was live) or <c>miss</c>.</summary>
    public const string ResultTag = "datawal.kv.result";

    /// <summary>
    /// Counter (<c>{operation}</c>): key/value operations, tagged with <see cref="OperationTag"/> (and
    /// <see cref="ResultTag"/> for gets); each put and delete of a batch counts.
    /// </summary>
    public const string Operations = "datawal.kv.operations";

    /// <summary>Counter (<c>{record}</c>): records written by completed compactions.</summary>
    public const string CompactionRecords = "datawal.kv.compaction.records";

    /// <summary>Counter (<c>By</c>): frame bytes written by completed compactions.</summary>
    public const string CompactionBytes = "datawal.kv.compaction.bytes";

    /// <summary>Histogram (<c>s</c>): duration of each completed compaction.</summary>
    public const string CompactionDuration = "datawal.kv.compaction.duration";

    /// <summary>Counter (<c>{record}</c>): lines (live pairs) written by completed JSONL exports.</summary>
    public const string ExportRecords = "datawal.kv.export.records";

    /// <summary>Counter (<c>By</c>): bytes of the files written by completed JSONL exports.</summary>
    public const string ExportBytes = "datawal.kv.export.bytes";

    /// <summary>Histogram (<c>s</c>): duration of each completed JSONL export.</summary>
    public const string ExportDuration = "datawal.kv.export.duration";
}
