using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;
using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// The writer's metrics (meter <c>DataWal.Core</c>) and events (event source <c>DataWal</c>): exact values
/// for known workloads, observed through a <see cref="MeterListener"/> and an <see cref="EventListener"/>
/// that keep only what concerns the test's own directory.
/// </summary>
public class TelemetryTests
{
    private const string Data = "data";
    private const string Dir = "directory";

    private static (string, string) Target(string target) => (DataWalDiagnostics.FsyncTargetTag, target);

    [Test]
    public void Appends_count_each_record_and_its_exact_frame_bytes()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var metrics = new MetricsCapture(dir.Path);

        log.Append(Pattern(1, 1));
        log.Append(Pattern(10, 2));
        log.AppendRecord(RecordType.Put, B("key"), Pattern(100, 3));
        long expected = WireFormat.FrameSize(0, 1) + WireFormat.FrameSize(0, 10) + WireFormat.FrameSize(3, 100);
        Assert.That(metrics.Sum(DataWalDiagnostics.LogAppendedRecords), Is.EqualTo(3));
        Assert.That(metrics.Sum(DataWalDiagnostics.LogAppendedBytes), Is.EqualTo(expected));

        using var batch = new RecordBatch();
        for (int i = 0; i < 5; i++)
        {
            batch.Add(RecordType.Put, B($"k{i}"), Pattern(i * 7, i));
            expected += WireFormat.FrameSize(2, i * 7);
        }

        log.AppendBatch(batch);
        Assert.That(metrics.Sum(DataWalDiagnostics.LogAppendedRecords), Is.EqualTo(8), "a batch counts each record");
        Assert.That(metrics.Values(DataWalDiagnostics.LogAppendedRecords), Is.EqualTo(new double[] { 1, 1, 1, 5 }), "one measurement per write");
        Assert.That(metrics.Sum(DataWalDiagnostics.LogAppendedBytes), Is.EqualTo(expected));

        log.AppendAsync(Pattern(5, 9)).AsTask().GetAwaiter().GetResult();
        log.AppendBatchAsync(batch).AsTask().GetAwaiter().GetResult();
        expected += WireFormat.FrameSize(0, 5) + batch.Length;
        Assert.That(metrics.Sum(DataWalDiagnostics.LogAppendedRecords), Is.EqualTo(14));
        Assert.That(metrics.Sum(DataWalDiagnostics.LogAppendedBytes), Is.EqualTo(expected));
        Assert.That(metrics.Sum(DataWalDiagnostics.LogAppendedBytes), Is.EqualTo(new FileInfo(Seg(dir.Path, 1)).Length));

        log.AppendBatch(new RecordBatch());
        Assert.That(metrics.Count(DataWalDiagnostics.LogAppendedRecords), Is.EqualTo(6), "an empty batch writes nothing and counts nothing");
    }

    [Test]
    public void Fsync_counts_data_and_directory_fsyncs_and_the_group_commit_size()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var metrics = new MetricsCapture(dir.Path);
        for (int i = 0; i < 4; i++)
        {
            log.Append(Pattern(16, i));
        }

        log.Fsync();
        Assert.That(metrics.Sum(DataWalDiagnostics.LogFsyncs, Target(Data)), Is.EqualTo(1));
        Assert.That(metrics.Sum(DataWalDiagnostics.LogFsyncs, Target(Dir)), Is.EqualTo(1), "the first fsync after an open also makes the directory durable");
        Assert.That(metrics.Values(DataWalDiagnostics.LogGroupCommitRecords), Is.EqualTo(new double[] { 4 }));
        Assert.That(metrics.Values(DataWalDiagnostics.LogFsyncDuration, Target(Data)), Has.Count.EqualTo(1).And.All.GreaterThanOrEqualTo(0));
        Assert.That(metrics.Values(DataWalDiagnostics.LogFsyncDuration, Target(Dir)), Has.Count.EqualTo(1).And.All.GreaterThanOrEqualTo(0));

        log.Fsync();
        Assert.That(metrics.Count(DataWalDiagnostics.LogFsyncs), Is.EqualTo(2), "nothing new: no fsync at all");

        log.Append(Pattern(16, 5));
        log.Append(Pattern(16, 6));
        log.FsyncAsync().AsTask().GetAwaiter().GetResult();
        Assert.That(metrics.Sum(DataWalDiagnostics.LogFsyncs, Target(Data)), Is.EqualTo(2));
        Assert.That(metrics.Sum(DataWalDiagnostics.LogFsyncs, Target(Dir)), Is.EqualTo(1), "the directory did not change");
        Assert.That(metrics.Values(DataWalDiagnostics.LogGroupCommitRecords), Is.EqualTo(new double[] { 4, 2 }));
        Assert.That(metrics.Sum(DataWalDiagnostics.LogFsyncs), Is.EqualTo(metrics.Count(DataWalDiagnostics.LogFsyncDuration)));
        Assert.That(log.FsyncCount, Is.EqualTo(metrics.Sum(DataWalDiagnostics.LogFsyncs, Target(Data))));
    }

    [Test]
    public void A_data_fsync_that_covers_nothing_new_records_a_group_commit_of_zero()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var metrics = new MetricsCapture(dir.Path);
        log.Fsync();   // a fresh log still syncs once (its new segment), though no record is in it
        Assert.That(metrics.Values(DataWalDiagnostics.LogGroupCommitRecords), Is.EqualTo(new double[] { 0 }));
        Assert.That(metrics.Sum(DataWalDiagnostics.LogFsyncs, Target(Data)), Is.EqualTo(1));
    }

    [Test]
    public void The_first_fsync_after_a_reopen_counts_only_records_appended_since_the_open()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("x"));
            log.Append(B("y"));
        }

        using var reopened = RecordLog.Open(dir.Path);
        using var metrics = new MetricsCapture(dir.Path);
        reopened.Append(B("z"));
        reopened.Fsync();   // also makes the recovered records durable, but they were nobody's commit
        Assert.That(metrics.Values(DataWalDiagnostics.LogGroupCommitRecords), Is.EqualTo(new double[] { 1 }));
        Assert.That(metrics.Sum(DataWalDiagnostics.LogFsyncs, Target(Data)), Is.EqualTo(1));
    }

    [Test]
    public void Rotate_counts_one_rotation_and_its_fsyncs()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var metrics = new MetricsCapture(dir.Path);
        log.Append(B("a"));
        log.Append(B("b"));
        log.Rotate();
        Assert.That(metrics.Sum(DataWalDiagnostics.LogRotations), Is.EqualTo(1));
        Assert.That(metrics.Sum(DataWalDiagnostics.LogFsyncs, Target(Data)), Is.EqualTo(1), "sealing the segment");
        Assert.That(metrics.Sum(DataWalDiagnostics.LogFsyncs, Target(Dir)), Is.EqualTo(1), "the new segment's entry");
        Assert.That(metrics.Values(DataWalDiagnostics.LogGroupCommitRecords), Is.EqualTo(new double[] { 2 }));

        log.Rotate();
        Assert.That(metrics.Sum(DataWalDiagnostics.LogRotations), Is.EqualTo(2));
        Assert.That(metrics.Values(DataWalDiagnostics.LogGroupCommitRecords), Is.EqualTo(new double[] { 2, 0 }));
    }

    [Test]
    public void A_clean_open_counts_the_recovered_records_and_cuts_nothing()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            for (int i = 0; i < 7; i++)
            {
                log.Append(Pattern(i, i));
            }
        }

        using var metrics = new MetricsCapture(dir.Path);
        using (RecordLog.Open(dir.Path))
        {
        }

        Assert.That(metrics.Values(DataWalDiagnostics.LogRecoveredRecords), Is.EqualTo(new double[] { 7 }));
        Assert.That(metrics.Values(DataWalDiagnostics.LogRecoveryDuration), Has.Count.EqualTo(1).And.All.GreaterThanOrEqualTo(0));
        Assert.That(metrics.Count(DataWalDiagnostics.LogTailCutBytes), Is.Zero);

        _ = ReadAll(dir.Path);
        Assert.That(metrics.Count(DataWalDiagnostics.LogRecoveredRecords), Is.EqualTo(1), "readers recover nothing for the writer's metrics");
    }

    [Test]
    public void Opening_a_torn_tail_counts_the_exact_garbage_cut_and_the_records_recovered()
    {
        using var dir = new TempDir();
        long garbage = TearLastFrame(dir, records: 4, keep: 20);

        using var metrics = new MetricsCapture(dir.Path);
        using var log = RecordLog.Open(dir.Path);
        Assert.That(log.RecoveryReport.TailBytesDiscarded, Is.EqualTo(garbage));
        Assert.That(metrics.Values(DataWalDiagnostics.LogTailCutBytes), Is.EqualTo(new double[] { garbage }));
        Assert.That(metrics.Values(DataWalDiagnostics.LogRecoveredRecords), Is.EqualTo(new double[] { 3 }));
        Assert.That(metrics.Count(DataWalDiagnostics.LogRecoveryDuration), Is.EqualTo(1));
    }

    [Test]
    public void A_failed_fsync_counts_one_poisoning_with_its_reason_and_no_fsync()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("a"));
        log.Fsync();
        log.Append(B("unsynced"));

        using var metrics = new MetricsCapture(dir.Path);
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.FsyncData, ErrorNumbers.EIO, times: 1);
            Assert.Throws<DataWalException>(() => log.Fsync());
        }

        Assert.Throws<WriterPoisonedException>(() => log.Append(B("refused")));
        Assert.Throws<WriterPoisonedException>(() => log.Fsync());
        Assert.That(metrics.Sum(DataWalDiagnostics.LogPoisonings), Is.EqualTo(1), "only the first failure poisons");
        Assert.That(metrics.Sum(DataWalDiagnostics.LogPoisonings, (DataWalDiagnostics.PoisonReasonTag, "fsync sync_all failed")), Is.EqualTo(1));
        Assert.That(metrics.Count(DataWalDiagnostics.LogFsyncs), Is.Zero, "a failed fsync is not counted");
        Assert.That(metrics.Count(DataWalDiagnostics.LogAppendedRecords), Is.Zero, "a refused append is not counted");
    }

    [Test]
    public void A_failed_write_counts_one_poisoning_and_no_appended_bytes()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var metrics = new MetricsCapture(dir.Path);
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Write, ErrorNumbers.EIO, times: 1);
            Assert.Throws<DataWalException>(() => log.Append(B("x")));
        }

        Assert.That(metrics.Sum(DataWalDiagnostics.LogPoisonings, (DataWalDiagnostics.PoisonReasonTag, "append_record write_all failed")), Is.EqualTo(1));
        Assert.That(metrics.Count(DataWalDiagnostics.LogAppendedBytes), Is.Zero);
    }

    [Test]
    public void Every_measurement_carries_the_full_directory_path()
    {
        using var dir = new TempDir();
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, dir.Path);
        using var metrics = new MetricsCapture(dir.Path);
        using (var log = RecordLog.Open(relative))
        {
            log.Append(B("a"));
            log.Fsync();
            log.Rotate();
        }

        Assert.That(metrics.All.Select(m => m.Instrument).Distinct(), Is.SupersetOf(new[]
        {
            DataWalDiagnostics.LogRecoveredRecords, DataWalDiagnostics.LogAppendedRecords, DataWalDiagnostics.LogFsyncs,
            DataWalDiagnostics.LogGroupCommitRecords, DataWalDiagnostics.LogRotations,
        }));
        Assert.That(metrics.All.Select(m => m.Tags[DataWalDiagnostics.DirectoryTag]), Is.All.EqualTo(dir.Path));
    }

    [Test]
    public void Instruments_have_the_documented_names_types_units_and_advice()
    {
        using var dir = new TempDir();
        using (RecordLog.Open(dir.Path))
        {
        }

        var found = new ConcurrentDictionary<string, Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == DataWalDiagnostics.MeterName)
                {
                    found[instrument.Name] = instrument;
                }
            },
        };
        listener.Start();

        var expected = new (string Name, Type Type, string Unit)[]
        {
            (DataWalDiagnostics.LogAppendedRecords, typeof(Counter<long>), "{record}"),
            (DataWalDiagnostics.LogAppendedBytes, typeof(Counter<long>), "By"),
            (DataWalDiagnostics.LogFsyncs, typeof(Counter<long>), "{fsync}"),
            (DataWalDiagnostics.LogFsyncDuration, typeof(Histogram<double>), "s"),
            (DataWalDiagnostics.LogGroupCommitRecords, typeof(Histogram<long>), "{record}"),
            (DataWalDiagnostics.LogRecoveredRecords, typeof(Counter<long>), "{record}"),
            (DataWalDiagnostics.LogRecoveryDuration, typeof(Histogram<double>), "s"),
            (DataWalDiagnostics.LogTailCutBytes, typeof(Counter<long>), "By"),
            (DataWalDiagnostics.LogPoisonings, typeof(Counter<long>), "{poisoning}"),
            (DataWalDiagnostics.LogRotations, typeof(Counter<long>), "{rotation}"),
        };
        Assert.That(found.Keys, Is.EquivalentTo(expected.Select(e => e.Name)));
        foreach (var (name, type, unit) in expected)
        {
            Assert.That(found[name].GetType(), Is.EqualTo(type), name);
            Assert.That(found[name].Unit, Is.EqualTo(unit), name);
            Assert.That(found[name].Description, Is.Not.Empty, name);
            Assert.That(name, Does.Match("^datawal(\\.[a-z_]+)+$").And.Not.EndsWith("_total"), name);
        }

        var meter = found[DataWalDiagnostics.LogFsyncs].Meter;
        Assert.That(meter.Version, Is.EqualTo(typeof(RecordLog).Assembly.GetName().Version!.ToString()));
        var buckets = ((Histogram<double>)found[DataWalDiagnostics.LogFsyncDuration]).Advice!.HistogramBucketBoundaries!;
        Assert.That(buckets[0], Is.EqualTo(0.00001));
        Assert.That(buckets[^1], Is.EqualTo(1.0));
        Assert.That(buckets, Is.Ordered.Ascending.And.Unique);
    }

    [Test]
    public void The_event_source_reports_tail_cut_and_recovery_with_their_payloads()
    {
        using var dir = new TempDir();
        long garbage = TearLastFrame(dir, records: 3, keep: 11);

        using var events = new EventCapture(dir.Path);
        using (RecordLog.Open(dir.Path))
        {
        }

        Assert.That(events.Names, Is.EqualTo(new[] { "TailCut", "RecoveryCompleted" }));
        var cut = events.Single("TailCut");
        Assert.That(cut.EventId, Is.EqualTo(2));
        Assert.That(cut.Level, Is.EqualTo(EventLevel.Warning));
        Assert.That(cut.PayloadNames, Is.EqualTo(new[] { "directory", "bytes" }));
        Assert.That(cut.Payload, Is.EqualTo(new object[] { dir.Path, garbage }));

        var recovered = events.Single("RecoveryCompleted");
        Assert.That(recovered.EventId, Is.EqualTo(1));
        Assert.That(recovered.PayloadNames, Is.EqualTo(new[]
        {
            "directory", "filesScanned", "recordsReplayed", "tailTruncated", "tailBytesDiscarded", "tailCut", "elapsedMilliseconds",
        }));
        Assert.That(recovered.Payload!.Take(6), Is.EqualTo(new object[] { dir.Path, 1, 2L, 1, garbage, true }));
        Assert.That(recovered.Payload![6], Is.TypeOf<double>().And.GreaterThanOrEqualTo(0.0));
    }

    [Test]
    public void The_event_source_reports_a_clean_recovery_without_a_tail_cut()
    {
        using var dir = new TempDir();
        using var events = new EventCapture(dir.Path);
        using (RecordLog.Open(dir.Path))
        {
        }

        Assert.That(events.Names, Is.EqualTo(new[] { "RecoveryCompleted" }));
        Assert.That(events.Single("RecoveryCompleted").Payload!.Take(6), Is.EqualTo(new object[] { dir.Path, 1, 0L, 0, 0L, false }));
    }

    [Test]
    public void The_event_source_reports_rotations_and_the_poisoning()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var events = new EventCapture(dir.Path);
        log.Rotate();
        log.Rotate();
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Write, ErrorNumbers.EIO);
            Assert.Throws<DataWalException>(() => log.Append(B("x")));
            Assert.Throws<WriterPoisonedException>(() => log.Append(B("y")));
        }

        Assert.That(events.Names, Is.EqualTo(new[] { "SegmentRotated", "SegmentRotated", "Poisoned" }));
        var rotated = events.All.Where(e => e.EventName == "SegmentRotated").ToList();
        Assert.That(rotated.Select(e => e.EventId), Is.All.EqualTo(4));
        Assert.That(rotated[0].PayloadNames, Is.EqualTo(new[] { "directory", "newSegmentId" }));
        Assert.That(rotated.Select(e => e.Payload![1]), Is.EqualTo(new object[] { 2u, 3u }));

        var poisoned = events.Single("Poisoned");
        Assert.That(poisoned.EventId, Is.EqualTo(3));
        Assert.That(poisoned.Level, Is.EqualTo(EventLevel.Error));
        Assert.That(poisoned.Payload, Is.EqualTo(new object[] { dir.Path, "append_record write_all failed" }));
    }

    [Test]
    public void The_event_source_has_the_documented_name_and_a_valid_manifest()
    {
        Assert.That(EventSource.GetName(typeof(DataWalEventSource)), Is.EqualTo(DataWalDiagnostics.EventSourceName));
        string? manifest = EventSource.GenerateManifest(typeof(DataWalEventSource), "DataWal.Core.dll", EventManifestOptions.Strict);
        Assert.That(manifest, Is.Not.Null);
        foreach (var (name, id) in new[] { ("RecoveryCompleted", 1), ("TailCut", 2), ("Poisoned", 3), ("SegmentRotated", 4) })
        {
            Assert.That(manifest, Does.Contain($"value=\"{id}\"").And.Contain($"symbol=\"{name}\""), name);
        }

        // The key/value store's events moved to its own source (DataWal.Kv), keeping their ids.
        Assert.That(manifest, Does.Not.Contain("CompactionCompleted").And.Not.Contain("ExportCompleted"));

        Assert.That(DataWalEventSource.Log.ConstructionException, Is.Null);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Appends_and_fsyncs_allocate_nothing_while_every_instrument_is_listened_to(bool withFsync)
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var listener = CountingListener.Start();
        var payload = new byte[64];

        void Round()
        {
            for (int i = 0; i < 2_000; i++)
            {
                log.Append(payload);
                if (withFsync && i % 10 == 0)
                {
                    log.Fsync();
                }
            }
        }

        Round(); // warm up: JIT, scratch buffers, the listener's subscriptions
        long measurementsBefore = CountingListener.Measurements;
        long before = GC.GetAllocatedBytesForCurrentThread();
        Round();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(CountingListener.Measurements - measurementsBefore, Is.GreaterThanOrEqualTo(4_000), "the listener saw the appends");
        Assert.That(allocated, Is.LessThan(256), $"{allocated} bytes over 2,000 appends while listened to");
    }

    /// <summary>
    /// Writes <paramref name="records"/> Raw records, then cuts the last frame down to its first
    /// <paramref name="keep"/> bytes (a torn write); returns the torn remainder's length.
    /// </summary>
    private static long TearLastFrame(TempDir dir, int records, int keep)
    {
        long beforeLast;
        using (var log = RecordLog.Open(dir.Path))
        {
            for (int i = 0; i < records - 1; i++)
            {
                log.Append(Pattern(10 + i, i));
            }

            beforeLast = new FileInfo(Seg(dir.Path, 1)).Length;
            log.Append(Pattern(50, 99));
        }

        Truncate(Seg(dir.Path, 1), beforeLast + keep);
        return keep;
    }
}
