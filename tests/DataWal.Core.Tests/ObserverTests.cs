using System.Collections.Concurrent;
using NUnit.Framework;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// The projection surface of Core: <see cref="IRecordLogObserver"/> (recovery frames, then every append under the
/// write gate) and <see cref="RecordLogReader.Replay"/>. The KV store is built on exactly this, nothing internal.
/// </summary>
public class ObserverTests
{
    private sealed record Seen(string Phase, RecordType Type, ulong TxId, string Key, string Payload, RecordRef Ref);

    /// <summary>Copies what it is shown; optionally throws on one txid, or checks it runs under the log's gate.</summary>
    private sealed class Recorder : IRecordLogObserver
    {
        public ConcurrentQueue<Seen> All { get; } = new();

        public ulong ThrowOnTxId { get; init; }

        public int Appends;

        public void Visit(LogFrame frame) => All.Enqueue(Copy("recovered", frame));

        public void OnAppended(AppendedFrames frames)
        {
            Interlocked.Increment(ref Appends);
            for (int i = 0; i < frames.Count; i++)
            {
                if (frames[i].TxId == ThrowOnTxId)
                {
                    throw new InvalidOperationException("projection full");
                }

                All.Enqueue(Copy("appended", frames[i]));
            }
        }

        private static Seen Copy(string phase, LogFrame f) =>
            new(phase, f.Type, f.TxId, S(f.Key.ToArray()), S(f.Payload.ToArray()), f.Ref);
    }

    private static Seen FromRecord(string phase, Record r) =>
        new(phase, r.Type, r.TxId, S(r.Key.ToArray()), S(r.Payload.ToArray()), r.Ref);

    [Test]
    public void An_observer_sees_every_recovered_frame_then_every_append_with_its_ref_in_log_order()
    {
        using var dir = new TempDir();
        using (var seed = RecordLog.Open(dir.Path))
        {
            seed.AppendRecord(RecordType.Put, B("a"), B("1"));
            seed.Rotate();
            seed.Append(B("raw"));
            seed.AppendRecord(RecordType.Delete, B("a"), default);
        }

        var recorder = new Recorder();
        using var log = RecordLog.Open(dir.Path, null, recorder);
        var recovered = recorder.All.ToList();
        using (var reader = RecordLogReader.Open(dir.Path).ScanIter().GetEnumerator())
        {
            var expected = new List<Seen>();
            while (reader.MoveNext())
            {
                expected.Add(FromRecord("recovered", reader.Current));
            }

            Assert.That(recovered, Is.EqualTo(expected), "recovery feeds the observer exactly what a scan reads");
        }

        var single = log.AppendRecord(RecordType.Put, B("b"), B("2"));
        using var batch = new RecordBatch();
        batch.Add(RecordType.Put, B("c"), B("3"));
        batch.Add(RecordType.Delete, B("b"), default);
        batch.Add(RecordType.Raw, default, B("r"));
        ulong first = log.AppendBatch(batch);
        var viaAsync = log.AppendRecordAsync(RecordType.Put, B("d"), B("4")).AsTask().GetAwaiter().GetResult();
        using var empty = new RecordBatch();
        log.AppendBatch(empty);

        var appended = recorder.All.Skip(recovered.Count).ToList();
        Assert.That(appended, Is.EqualTo(new[]
        {
            new Seen("appended", RecordType.Put, 4, "b", "2", single),
            new Seen("appended", RecordType.Put, first, "c", "3", batch.RefAt(0)),
            new Seen("appended", RecordType.Delete, first + 1, "b", "", batch.RefAt(1)),
            new Seen("appended", RecordType.Raw, first + 2, "", "r", batch.RefAt(2)),
            new Seen("appended", RecordType.Put, 8, "d", "4", viaAsync),
        }));
        Assert.That(recorder.Appends, Is.EqualTo(3), "one call per append (a batch is one call); an empty batch is none");

        var all = log.Scan().Select(r => FromRecord("appended", r)).Skip(recovered.Count);
        Assert.That(all, Is.EqualTo(appended), "what the observer saw is what is on disk");
    }

    [Test]
    public void Concurrent_appenders_are_observed_in_txid_order_before_their_appends_return()
    {
        using var dir = new TempDir();
        var recorder = new Recorder();
        using var log = RecordLog.Open(dir.Path, null, recorder);
        const int Threads = 4, PerThread = 500;
        var late = new ConcurrentBag<RecordRef>();
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            using var batch = new RecordBatch();
            for (int i = 0; i < PerThread; i++)
            {
                RecordRef last;
                if (i % 5 == 0)
                {
                    batch.Clear();
                    batch.Add(RecordType.Put, B($"t{t}"), B($"{i}"));
                    batch.Add(RecordType.Put, B($"t{t}"), B($"{i}b"));
                    log.AppendBatch(batch);
                    last = batch.RefAt(1);
                }
                else
                {
                    last = log.AppendRecord(RecordType.Put, B($"t{t}"), B($"{i}"));
                }

                if (!recorder.All.Any(s => s.Ref == last))
                {
                    late.Add(last);
                }
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());

        var txids = recorder.All.Select(s => s.TxId).ToList();
        Assert.That(txids, Is.EqualTo(Enumerable.Range(1, txids.Count).Select(i => (ulong)i)), "observed in log order, no gap, no repeat");
        Assert.That(txids, Has.Count.EqualTo(Threads * (PerThread + (PerThread / 5))));
        Assert.That(late, Is.Empty, "every append was observed before it returned");
    }

    [Test]
    public void An_observer_that_throws_poisons_the_writer_and_the_record_stays_written()
    {
        using var dir = new TempDir();
        var recorder = new Recorder { ThrowOnTxId = 2 };
        using (var log = RecordLog.Open(dir.Path, null, recorder))
        {
            log.AppendRecord(RecordType.Put, B("a"), B("1"));
            var thrown = Assert.Throws<InvalidOperationException>(() => log.AppendRecord(RecordType.Put, B("b"), B("2")));
            Assert.That(thrown!.Message, Is.EqualTo("projection full"), "the observer's own exception reaches the caller");
            Assert.That(log.IsPoisoned, Is.True);
            var poisoned = Assert.Throws<WriterPoisonedException>(() => log.Append(B("c")));
            Assert.That(poisoned!.Message, Is.EqualTo("datawal: writer poisoned: append observer failed; drop handle and reopen"));
        }

        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.Scan().Select(r => S(r.Key.ToArray())), Is.EqualTo(new[] { "a", "b" }), "the frame was written before the observer ran");
    }

    [Test]
    public void Replay_hands_a_reader_pass_to_a_visitor_with_the_same_report_as_a_scan()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.AppendRecord(RecordType.Put, B("a"), B("1"));
            log.Rotate();
            log.AppendRecord(RecordType.Put, B("b"), B("2"));
        }

        File.AppendAllText(Seg(dir.Path, 2), "torn");
        var reader = RecordLogReader.Open(dir.Path);
        var recorder = new Recorder();
        var report = reader.Replay(recorder);

        var iterator = reader.ScanIter();
        var scanned = iterator.Select(r => FromRecord("recovered", r)).ToList();
        Assert.That(recorder.All, Is.EqualTo(scanned));
        Assert.That(report, Is.EqualTo(iterator.RecoveryReport));
        Assert.That(report.TailTruncated, Is.EqualTo(1));
        Assert.That(recorder.Appends, Is.Zero);
        Assert.Throws<ArgumentNullException>(() => reader.Replay(null!));
    }
}
