using System.Diagnostics.Metrics;

namespace DataWal.Kv;

/// <summary>
/// The key/value store's metrics (meter <c>DataWal.Kv</c>) and events. As the writer's: every measurement is
/// guarded by its instrument's <see cref="Instrument.Enabled"/>, and the per-operation ones pass at most three
/// string tags through the fixed-arity overloads, so puts and gets allocate nothing even while listened to.
/// </summary>
internal static class KvTelemetry
{
    // The same buckets as the log's long operations (recovery), so dashboards can put them side by side.
    private static readonly double[] LongOperationBuckets =
        [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

    private static readonly Meter Meter = new(KvDiagnostics.MeterName, typeof(KvTelemetry).Assembly.GetName().Version?.ToString());

    private static readonly Counter<long> Operations = Meter.CreateCounter<long>(
        KvDiagnostics.Operations, "{operation}", "Puts, deletes (each one of a batch counts) and gets (hit or miss).");

    private static readonly Counter<long> CompactionRecords = Meter.CreateCounter<long>(
        KvDiagnostics.CompactionRecords, "{record}", "Records written by completed compactions.");

    private static readonly Counter<long> CompactionBytes = Meter.CreateCounter<long>(
        KvDiagnostics.CompactionBytes, "By", "Frame bytes written by completed compactions.");

    private static readonly Histogram<double> CompactionDuration = Meter.CreateHistogram(
        KvDiagnostics.CompactionDuration, "s", "Duration of completed compactions.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LongOperationBuckets });

    private static readonly Counter<long> ExportRecords = Meter.CreateCounter<long>(
        KvDiagnostics.ExportRecords, "{record}", "Lines (live pairs) written by completed JSONL exports.");

    private static readonly Counter<long> ExportBytes = Meter.CreateCounter<long>(
        KvDiagnostics.ExportBytes, "By", "Bytes of the files written by completed JSONL exports.");

    private static readonly Histogram<double> ExportDuration = Meter.CreateHistogram(
        KvDiagnostics.ExportDuration, "s", "Duration of completed JSONL exports.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LongOperationBuckets });

    private static KeyValuePair<string, object?> Put => new(KvDiagnostics.OperationTag, "put");

    private static KeyValuePair<string, object?> Delete => new(KvDiagnostics.OperationTag, "delete");

    private static KeyValuePair<string, object?> Get => new(KvDiagnostics.OperationTag, "get");

    /// <summary><paramref name="puts"/> puts and <paramref name="deletes"/> deletes were written to the store's log.</summary>
    public static void Written(string directory, int puts, int deletes)
    {
        if (!Operations.Enabled)
        {
            return;
        }

        if (puts > 0)
        {
            Operations.Add(puts, DirectoryTag(directory), Put);
        }

        if (deletes > 0)
        {
            Operations.Add(deletes, DirectoryTag(directory), Delete);
        }
    }

    /// <summary>A get (<see cref="KvStore.Get(ReadOnlySpan{byte})"/> or <see cref="KvStore.TryGet"/>) found the key live (<paramref name="hit"/>) or not.</summary>
    public static void Read(string directory, bool hit)
    {
        if (Operations.Enabled)
        {
            Operations.Add(1, DirectoryTag(directory), Get, new KeyValuePair<string, object?>(KvDiagnostics.ResultTag, hit ? "hit" : "miss"));
        }
    }

    /// <summary>A compaction of the store in <paramref name="directory"/> into <paramref name="target"/> completed.</summary>
    public static void Compacted(string directory, string target, CompactionStats stats, TimeSpan elapsed)
    {
        if (CompactionRecords.Enabled)
        {
            CompactionRecords.Add(stats.RecordsWritten, DirectoryTag(directory));
        }

        if (CompactionBytes.Enabled)
        {
            CompactionBytes.Add(stats.BytesWritten, DirectoryTag(directory));
        }

        if (CompactionDuration.Enabled)
        {
            CompactionDuration.Record(elapsed.TotalSeconds, DirectoryTag(directory));
        }

        var events = KvEventSource.Log;
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
            ExportRecords.Add(records, DirectoryTag(directory));
        }

        if (ExportBytes.Enabled)
        {
            ExportBytes.Add(bytes, DirectoryTag(directory));
        }

        if (ExportDuration.Enabled)
        {
            ExportDuration.Record(elapsed.TotalSeconds, DirectoryTag(directory));
        }

        var events = KvEventSource.Log;
        if (events.IsEnabled())
        {
            events.ExportCompleted(directory, path, records, bytes, elapsed.TotalMilliseconds);
        }
    }

    private static KeyValuePair<string, object?> DirectoryTag(string directory) => new(KvDiagnostics.DirectoryTag, directory);
}
