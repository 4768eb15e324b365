using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// The key/value store's metrics (meter <c>DataWal.Kv</c>) and events: exact counts for known workloads,
/// observed through a <see cref="MeterListener"/> and an <see cref="EventListener"/> that keep only what
/// concerns the test's own directory.
/// </summary>
public class TelemetryTests
{
    private static (string, string) Op(string operation) => (KvDiagnostics.OperationTag, operation);

    private static (string, string) Result(string result) => (KvDiagnostics.ResultTag, result);

    [Test]
    public void Puts_deletes_and_gets_are_counted_once_each_with_their_tags()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        using var metrics = new MetricsCapture(dir.Path);
        var writer = new ArrayBufferWriter<byte>();

        kv.Put(B("a"), B("1"));
        kv.Put(B("b"), B("2"));
        kv.Put(B("a"), B("3"));
        kv.Delete(B("b"));
        kv.Delete(B("never-there"));
        kv.PutAsync(B("c"), B("4")).AsTask().GetAwaiter().GetResult();
        kv.DeleteAsync(B("c")).AsTask().GetAwaiter().GetResult();
        Assert.That(S(kv.Get(B("a"))), Is.EqualTo("3"));
        Assert.That(kv.Get(B("b")), Is.Null);
        Assert.That(kv.Get(B("c")), Is.Null);
        Assert.That(kv.TryGet(B("a"), writer), Is.True);
        Assert.That(kv.TryGet(B("zzz"), writer), Is.False);
        _ = kv.ContainsKey(B("a"));
        _ = kv.RefOf(B("a"));

        Assert.That(metrics.Sum(KvDiagnostics.Operations, Op("put")), Is.EqualTo(4));
        Assert.That(metrics.Sum(KvDiagnostics.Operations, Op("delete")), Is.EqualTo(3), "a delete of an absent key still writes a tombstone");
        Assert.That(metrics.Sum(KvDiagnostics.Operations, Op("get"), Result("hit")), Is.EqualTo(2));
        Assert.That(metrics.Sum(KvDiagnostics.Operations, Op("get"), Result("miss")), Is.EqualTo(3));
        Assert.That(metrics.Sum(KvDiagnostics.Operations), Is.EqualTo(12), "ContainsKey and RefOf are not gets");
        Assert.That(
            metrics.All.Where(m => m.Instrument == KvDiagnostics.Operations && m.Tags[KvDiagnostics.OperationTag] != "get").Select(m => m.Tags.ContainsKey(KvDiagnostics.ResultTag)),
            Is.All.False,
            "only gets carry a result");
    }

    [Test]
    public void A_batch_counts_each_put_and_delete()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        using var metrics = new MetricsCapture(dir.Path);
        using var batch = new KvBatch();
        batch.Put(B("a"), B("1"));
        batch.Put(B("b"), B("2"));
        batch.Delete(B("a"));
        batch.Put(B("c"), B("3"));
        batch.Delete(B("x"));

        kv.Apply(batch);
        Assert.That(metrics.Sum(KvDiagnostics.Operations, Op("put")), Is.EqualTo(3));
        Assert.That(metrics.Sum(KvDiagnostics.Operations, Op("delete")), Is.EqualTo(2));

        kv.ApplyAsync(batch).AsTask().GetAwaiter().GetResult();
        Assert.That(metrics.Sum(KvDiagnostics.Operations, Op("put")), Is.EqualTo(6));
        Assert.That(metrics.Sum(KvDiagnostics.Operations, Op("delete")), Is.EqualTo(4));

        using var empty = new KvBatch();
        kv.Apply(empty);
        Assert.That(metrics.Sum(KvDiagnostics.Operations), Is.EqualTo(10));
        Assert.That(metrics.Sum(DataWalDiagnostics.LogAppendedRecords), Is.EqualTo(10), "the log under the store counts the same records");
        Assert.That(metrics.Count(DataWalDiagnostics.LogAppendedRecords), Is.EqualTo(2), "one write per batch");
    }

    [Test]
    public void Gets_on_a_read_only_store_are_counted()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put(B("k"), B("v"));
        }

        using var metrics = new MetricsCapture(dir.Path);
        using var ro = KvStore.OpenReadOnly(dir.Path);
        _ = ro.Get(B("k"));
        _ = ro.Get(B("nope"));
        Assert.That(metrics.Sum(KvDiagnostics.Operations, Op("get"), Result("hit")), Is.EqualTo(1));
        Assert.That(metrics.Sum(KvDiagnostics.Operations, Op("get"), Result("miss")), Is.EqualTo(1));
        Assert.That(metrics.Count(DataWalDiagnostics.LogRecoveredRecords), Is.Zero, "a read-only open is not a writer recovery");
    }

    [Test]
    public void Compaction_records_the_stats_it_returns()
    {
        using var dir = new TempDir();
        string store = dir["store"];
        using var kv = KvStore.Open(store);
        for (int i = 0; i < 20; i++)
        {
            kv.Put(B($"key{i % 12}"), B(new string('v', i)));
        }

        kv.Delete(B("key3"));
        using var metrics = new MetricsCapture(store);
        var stats = kv.CompactTo(dir["out1"]);
        Assert.That(stats.RecordsWritten, Is.EqualTo(11));
        Assert.That(metrics.Values(KvDiagnostics.CompactionRecords), Is.EqualTo(new double[] { stats.RecordsWritten }));
        Assert.That(metrics.Values(KvDiagnostics.CompactionBytes), Is.EqualTo(new double[] { stats.BytesWritten }));
        Assert.That(stats.BytesWritten, Is.EqualTo(new FileInfo(Seg(dir["out1"], 1)).Length));
        Assert.That(metrics.Values(KvDiagnostics.CompactionDuration), Has.Count.EqualTo(1).And.All.GreaterThanOrEqualTo(0));

        var again = kv.CompactToAsync(dir["out2"]).GetAwaiter().GetResult();
        Assert.That(metrics.Sum(KvDiagnostics.CompactionRecords), Is.EqualTo(stats.RecordsWritten + again.RecordsWritten));
        Assert.That(metrics.Sum(KvDiagnostics.CompactionBytes), Is.EqualTo(stats.BytesWritten + again.BytesWritten));
        Assert.That(metrics.Count(KvDiagnostics.CompactionDuration), Is.EqualTo(2));

        Assert.Throws<DataWalException>(() => kv.CompactTo(dir["out2"]));
        Assert.That(metrics.Count(KvDiagnostics.CompactionRecords), Is.EqualTo(2), "a refused compaction records nothing");
        Assert.That(metrics.Count(DataWalDiagnostics.LogAppendedRecords), Is.Zero, "the target's own writes are tagged with the target");
    }

    [Test]
    public void Export_records_the_line_count_and_the_exact_file_length()
    {
        using var dir = new TempDir();
        string store = dir["store"];
        using var kv = KvStore.Open(store);
        using var metrics = new MetricsCapture(store);
        kv.ExportJsonl(dir["empty.jsonl"]);
        Assert.That(metrics.Values(KvDiagnostics.ExportRecords), Is.EqualTo(new double[] { 0 }));
        Assert.That(metrics.Values(KvDiagnostics.ExportBytes), Is.EqualTo(new double[] { 0 }));

        for (int i = 0; i < 9; i++)
        {
            kv.Put(B($"k{i}"), Enumerable.Range(0, i * 13).Select(b => (byte)b).ToArray());
        }

        kv.ExportJsonl(dir["a.jsonl"]);
        kv.ExportJsonlAsync(dir["sub/b.jsonl"]).GetAwaiter().GetResult();
        long length = new FileInfo(dir["a.jsonl"]).Length;
        Assert.That(new FileInfo(dir["sub/b.jsonl"]).Length, Is.EqualTo(length));
        Assert.That(metrics.Values(KvDiagnostics.ExportRecords), Is.EqualTo(new double[] { 0, 9, 9 }));
        Assert.That(metrics.Values(KvDiagnostics.ExportBytes), Is.EqualTo(new double[] { 0, length, length }));
        Assert.That(metrics.Values(KvDiagnostics.ExportDuration), Has.Count.EqualTo(3).And.All.GreaterThanOrEqualTo(0));
    }

    [Test]
    public void The_event_source_reports_compactions_and_exports_with_their_payloads()
    {
        using var dir = new TempDir();
        string store = dir["store"];
        using var kv = KvStore.Open(store);
        kv.Put(B("a"), B("1"));
        kv.Put(B("b"), B("22"));
        using var events = new EventCapture(store);

        var stats = kv.CompactTo(dir["out"]);
        kv.ExportJsonl(dir["x.jsonl"]);

        Assert.That(events.Names, Is.EqualTo(new[] { "CompactionCompleted", "ExportCompleted" }));
        var compacted = events.Single("CompactionCompleted");
        Assert.That(compacted.EventSource.Name, Is.EqualTo(KvDiagnostics.EventSourceName), "the store's events are the store's, not the log's");
        Assert.That(compacted.EventId, Is.EqualTo(5));
        Assert.That(compacted.PayloadNames, Is.EqualTo(new[] { "directory", "target", "records", "bytes", "elapsedMilliseconds" }));
        Assert.That(compacted.Payload!.Take(4), Is.EqualTo(new object[] { store, dir["out"], 2L, stats.BytesWritten }));
        Assert.That(compacted.Payload![4], Is.TypeOf<double>().And.GreaterThanOrEqualTo(0.0));

        var exported = events.Single("ExportCompleted");
        Assert.That(exported.EventSource.Name, Is.EqualTo(KvDiagnostics.EventSourceName));
        Assert.That(exported.EventId, Is.EqualTo(6));
        Assert.That(exported.PayloadNames, Is.EqualTo(new[] { "directory", "path", "records", "bytes", "elapsedMilliseconds" }));
        Assert.That(exported.Payload!.Take(4), Is.EqualTo(new object[] { store, dir["x.jsonl"], 2L, new FileInfo(dir["x.jsonl"]).Length }));
    }

    [Test]
    public void Instruments_have_the_documented_names_types_and_units()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put(B("k"), B("v"));
        }

        var found = new ConcurrentDictionary<string, Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == KvDiagnostics.MeterName)
                {
                    found[instrument.Name] = instrument;
                }
            },
        };
        listener.Start();

        var expected = new (string Name, Type Type, string Unit)[]
        {
            (KvDiagnostics.Operations, typeof(Counter<long>), "{operation}"),
            (KvDiagnostics.CompactionRecords, typeof(Counter<long>), "{record}"),
            (KvDiagnostics.CompactionBytes, typeof(Counter<long>), "By"),
            (KvDiagnostics.CompactionDuration, typeof(Histogram<double>), "s"),
            (KvDiagnostics.ExportRecords, typeof(Counter<long>), "{record}"),
            (KvDiagnostics.ExportBytes, typeof(Counter<long>), "By"),
            (KvDiagnostics.ExportDuration, typeof(Histogram<double>), "s"),
        };
        Assert.That(found.Keys, Is.EquivalentTo(expected.Select(e => e.Name)));
        foreach (var (name, type, unit) in expected)
        {
            Assert.That(found[name].GetType(), Is.EqualTo(type), name);
            Assert.That(found[name].Unit, Is.EqualTo(unit), name);
            Assert.That(found[name].Description, Is.Not.Empty, name);
        }

        Assert.That(found[KvDiagnostics.Operations].Meter.Version, Is.EqualTo(typeof(KvStore).Assembly.GetName().Version!.ToString()));
    }

    [Test]
    public void Puts_and_TryGet_allocate_nothing_while_every_instrument_is_listened_to()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        using var listener = CountingListener.Start();
        var keys = Enumerable.Range(0, 1000).Select(i => BitConverter.GetBytes((long)i).Concat(new byte[8]).ToArray()).ToArray();
        var value = new byte[100];
        var writer = new ArrayBufferWriter<byte>(256);

        void Round()
        {
            foreach (var key in keys)
            {
                kv.Put(key, value);
                writer.ResetWrittenCount();
                kv.TryGet(key, writer);
                writer.ResetWrittenCount();
                kv.TryGet("absent"u8, writer);
            }
        }

        Round(); // warm up: JIT, the key directory, pools, the listener's subscriptions
        long measurementsBefore = CountingListener.Measurements;
        long before = GC.GetAllocatedBytesForCurrentThread();
        Round();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(CountingListener.Measurements - measurementsBefore, Is.GreaterThanOrEqualTo(5_000), "the listener saw the operations");
        Assert.That(allocated, Is.LessThan(256), $"{allocated} bytes over 1,000 puts and 2,000 reads while listened to");
    }
}
