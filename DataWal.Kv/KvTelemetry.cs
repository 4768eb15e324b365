using System.Diagnostics.Metrics;
using DataWal.Core;

namespace DataWal.Kv;

/// <summary>
/// The key/value store's metrics (meter <c>DataWal.Kv</c>) and events. As the writer's: every measurement is
/// guarded by its instrument's <see cref="Instrument.Enabled"/>, and the per-operation ones pass at most three
/// string tags through the fixed-arity overloads, so puts and gets allocate nothing even while listened to.
/// </summary>
internal static class KvTelemetry
{
    private static readonly Meter Meter = new(DataWalDiagnostics.KvMeterName, typeof(KvTelemetry).Assembly.GetName().Version?.ToString());

    private static readonly Counter<long> Operations = Meter.CreateCounter<long>(
        DataWalDiagnostics.KvOperations, "{operation}", "Puts, deletes (each one of a batch counts) and gets (hit or miss).");

    private static readonly Counter<long> CompactionRecords = Meter.CreateCounter<long>(
        DataWalDiagnostics.KvCompactionRecords, "{record}", "Records written by completed compactions.");

    private static readonly Counter<long> CompactionBytes = Meter.CreateCounter<long>(
        DataWalDiagnostics.KvCompactionBytes, "By", "Frame bytes written by completed compactions.");

    private static readonly Histogram<double> CompactionDuration = Meter.CreateHistogram(
        DataWalDiagnostics.KvCompactionDuration, "s", "Duration of completed compactions.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LogTelemetry.LongOperationBuckets });

    private static readonly Counter<long> ExportRecords = Meter.CreateCounter<long>(
        DataWalDiagnostics.KvExportRecords, "{record}", "Lines (live pairs) written by completed JSONL exports.");

    private static readonly Counter<long> ExportBytes = Meter.CreateCounter<long>(
        DataWalDiagnostics.KvExportBytes, "By", "Bytes of the files written by completed JSONL exports.");

    private static readonly Histogram<double> ExportDuration = Meter.CreateHistogram(
        DataWalDiagnostics.KvExportDuration, "s", "Duration of completed JSONL exports.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LogTelemetry.LongOperationBuckets });

    private static KeyValuePair<string, object?> Put => new(DataWalDiagnostics.KvOperationTag, "put");

    private static KeyValuePair<string, object?> Delete => new(DataWalDiagnostics.KvOperationTag, "delete");

    private static KeyValuePair<string, object?> Get => new(DataWalDiagnostics.KvOperationTag, "get");

    /// <summary><paramref name="puts"/> puts and <paramref name="deletes"/> deletes were written to the store's log.</summary>
    public static void Written(string directory, int puts, int deletes)
    {
        if (!Operations.Enabled)
        {
            return;
        }

        if (puts > 0)
        {
            Operations.Add(puts, LogTelemetry.Directory(directory), Put);
        }

        if (deletes > 0)
        {
            Operations.Add(deletes, LogTelemetry.Directory(directory), Delete);
        }
    }

    /// <summary>A get (<see cref="KvStore.Get"/> or <see cref="KvStore.TryGet"/>) found the key live (<paramref name="hit"/>) or not.</summary>
    public static void Read(string directory, bool hit)
    {
        if (Operations.Enabled)
        {
            Operations.Add(1, LogTelemetry.Directory(directory), Get, new KeyValuePair<string, object?>(DataWalDiagnostics.KvResultTag, hit ? "hit" : "miss"));
        }
    }

    /// <summary>A compaction of the store in <paramref name="directory"/> into <paramref name="target"/> completed.</summary>
    public static void Compacted(string directory, string target, CompactionStats stats, TimeSpan elapsed)
    {
        if (CompactionRecords.Enabled)
        {
            CompactionRecords.Add(stats.RecordsWritten, LogTelemetry.Directory(directory));
        }

        if (CompactionBytes.Enabled)
        {
            CompactionBytes.Add(stats.BytesWritten, LogTelemetry.Directory(directory));
        }

        if (CompactionDuration.Enabled)
        {
            CompactionDuration.Record(elapsed.TotalSeconds, LogTelemetry.Directory(directory));
        }

        var events = DataWalEventSource.Log;
        if (events.IsEnabled())
        {
            events.CompactionCompleted(directory, target, stats.RecordsWritten, stats.BytesWritten, elapsed.TotalMilliseconds);
        }
    }

    /// <summary>A JSONL export of the store in <paramref name="directory"/> to <paramref name="path"/> completed.</summary>
    public static void Exported(string directory, string path, long records, long bytes, TimeSpan elapsed)
    {
        if (ExportRecords.Enabled)
        {
            ExportRecords.Add(records, LogTelemetry.Directory(directory));
        }

        if (ExportBytes.Enabled)
        {
            ExportBytes.Add(bytes, LogTelemetry.Directory(directory));
        }

        if (ExportDuration.Enabled)
        {
            ExportDuration.Record(elapsed.TotalSeconds, LogTelemetry.Directory(directory));
        }

        var events = DataWalEventSource.Log;
        if (events.IsEnabled())
        {
            events.ExportCompleted(directory, path, records, bytes, elapsed.TotalMilliseconds);
        }
    }
}
