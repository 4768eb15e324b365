using System.Diagnostics.Metrics;

namespace DataWal.Core;

/// <summary>
/// The writer's observability call sites (metrics and events). Every method must cost nothing measurable
/// when nobody listens.
/// </summary>
/// <remarks>
/// Each measurement is guarded by its instrument's <see cref="Instrument.Enabled"/> and each event by
/// <see cref="System.Diagnostics.Tracing.EventSource.IsEnabled()"/>: unlistened, a call is a few field reads.
/// Listened, the hot paths still allocate nothing: tags go through the fixed-arity <c>Add</c>/<c>Record</c>
/// overloads (at most three tags, passed on the stack) and every tag value is a string, never boxed.
/// </remarks>
internal static class LogTelemetry
{
    /// <summary>
    /// Histogram buckets (seconds) for fsyncs: 10 µs (a cached or battery-backed device) to 1 s (a
    /// struggling disk); the default buckets are meant for milliseconds and would put every fsync in the first.
    /// </summary>
    internal static readonly double[] FsyncBuckets =
        [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

    /// <summary>Histogram buckets (seconds) for whole-store operations (recovery, compaction, export): 1 ms to 5 min.</summary>
    internal static readonly double[] LongOperationBuckets =
        [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

    /// <summary>Histogram buckets for group-commit sizes: powers of two up to 64 Ki records.</summary>
    private static readonly long[] GroupCommitBuckets =
        [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];

    private static readonly Meter Meter = new(DataWalDiagnostics.MeterName, typeof(LogTelemetry).Assembly.GetName().Version?.ToString());

    private static readonly Counter<long> AppendedRecords = Meter.CreateCounter<long>(
        DataWalDiagnostics.LogAppendedRecords, "{record}", "Records handed to the kernel (each record of a batch counts).");

    private static readonly Counter<long> AppendedBytes = Meter.CreateCounter<long>(
        DataWalDiagnostics.LogAppendedBytes, "By", "Frame bytes handed to the kernel.");

    private static readonly Counter<long> Fsyncs = Meter.CreateCounter<long>(
        DataWalDiagnostics.LogFsyncs, "{fsync}", "Successful fsyncs of the active segment's data or of the log directory.");

    private static readonly Histogram<double> FsyncDuration = Meter.CreateHistogram(
        DataWalDiagnostics.LogFsyncDuration, "s", "Duration of successful fsyncs.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = FsyncBuckets });

    private static readonly Histogram<long> GroupCommitRecords = Meter.CreateHistogram(
        DataWalDiagnostics.LogGroupCommitRecords, "{record}",
        "Records appended through this handle that one data fsync made durable (group-commit size; records recovered at open are not counted). Every data fsync is recorded, 0 included: an fsync that covered nothing new (the first one after a reopen, or one racing another) is itself informative.",
        tags: null, advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = GroupCommitBuckets });

    private static readonly Counter<long> RecoveredRecords = Meter.CreateCounter<long>(
        DataWalDiagnostics.LogRecoveredRecords, "{record}", "Valid records found by the recovery of writer opens.");

    private static readonly Histogram<double> RecoveryDuration = Meter.CreateHistogram(
        DataWalDiagnostics.LogRecoveryDuration, "s", "Duration of each writer open's recovery, tail cut included.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LongOperationBuckets });

    private static readonly Counter<long> TailCutBytes = Meter.CreateCounter<long>(
        DataWalDiagnostics.LogTailCutBytes, "By", "Bytes of damaged tail cut off the active segment by writer opens.");

    private static readonly Counter<long> Poisonings = Meter.CreateCounter<long>(
        DataWalDiagnostics.LogPoisonings, "{poisoning}", "Writers poisoned by a failed write, fsync or rotate step.");

    private static readonly Counter<long> Rotations = Meter.CreateCounter<long>(
        DataWalDiagnostics.LogRotations, "{rotation}", "Segment rotations.");

    /// <summary>Frames handed to the kernel: <paramref name="records"/> records, <paramref name="bytes"/> bytes.</summary>
    public static void Appended(string directory, int records, long bytes)
    {
        if (AppendedRecords.Enabled)
        {
            AppendedRecords.Add(records, Directory(directory));
        }

        if (AppendedBytes.Enabled)
        {
            AppendedBytes.Add(bytes, Directory(directory));
        }
    }

    /// <summary>
    /// A successful fsync: of the active segment's data (<paramref name="isDirectory"/> false) or of the
    /// log directory; <paramref name="records"/> is how many records it made durable (group-commit size).
    /// </summary>
    public static void Fsynced(string directory, bool isDirectory, TimeSpan elapsed, long records)
    {
        var target = new KeyValuePair<string, object?>(DataWalDiagnostics.FsyncTargetTag, isDirectory ? "directory" : "data");
        if (Fsyncs.Enabled)
        {
            Fsyncs.Add(1, Directory(directory), target);
        }

        if (FsyncDuration.Enabled)
        {
            FsyncDuration.Record(elapsed.TotalSeconds, Directory(directory), target);
        }

        if (!isDirectory && GroupCommitRecords.Enabled)
        {
            GroupCommitRecords.Record(records, Directory(directory));
        }
    }

    /// <summary>A writer open finished recovery; <paramref name="tailBytesCut"/> bytes of damaged tail were cut (0 when none).</summary>
    public static void Recovered(string directory, RecoveryReport report, TimeSpan elapsed, long tailBytesCut)
    {
        if (RecoveredRecords.Enabled)
        {
            RecoveredRecords.Add(report.RecordsReplayed, Directory(directory));
        }

        if (RecoveryDuration.Enabled)
        {
            RecoveryDuration.Record(elapsed.TotalSeconds, Directory(directory));
        }

        if (tailBytesCut > 0 && TailCutBytes.Enabled)
        {
            TailCutBytes.Add(tailBytesCut, Directory(directory));
        }

        var events = DataWalEventSource.Log;
        if (events.IsEnabled())
        {
            // In the order they happened: the cut is part of the recovery.
            if (tailBytesCut > 0)
            {
                events.TailCut(directory, tailBytesCut);
            }

            events.RecoveryCompleted(directory, report.FilesScanned, report.RecordsReplayed, report.TailTruncated, report.TailBytesDiscarded, report.TailCut, elapsed.TotalMilliseconds);
        }
    }

    /// <summary>The writer was poisoned (first failure only).</summary>
    public static void Poisoned(string directory, string reason)
    {
        if (Poisonings.Enabled)
        {
            Poisonings.Add(1, Directory(directory), new KeyValuePair<string, object?>(DataWalDiagnostics.PoisonReasonTag, reason));
        }

        var events = DataWalEventSource.Log;
        if (events.IsEnabled())
        {
            events.Poisoned(directory, reason);
        }
    }

    /// <summary>A rotation sealed a segment and started <paramref name="newSegment"/>.</summary>
    public static void Rotated(string directory, uint newSegment)
    {
        if (Rotations.Enabled)
        {
            Rotations.Add(1, Directory(directory));
        }

        var events = DataWalEventSource.Log;
        if (events.IsEnabled())
        {
            events.SegmentRotated(directory, newSegment);
        }
    }

    /// <summary>The tag every DataWal measurement carries (a string value: no boxing).</summary>
    internal static KeyValuePair<string, object?> Directory(string directory) => new(DataWalDiagnostics.DirectoryTag, directory);
}
