// Simulated power loss through SafeAtomic's system-call seam (docs/reliability.md; docs/design.md D5, D6, D7, D8, D13).
// Env knobs:
//   DATAWAL_POWERLOSS_STRIDE   prefix granularity of the unsynced bytes, besides every write boundary
//                              (default 1 = byte-granular; larger = faster).
//   DATAWAL_POWERLOSS_SCALE    multiplies the number of operations of each workload (default 1).
using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Fuzz.Tests;

/// <summary>
/// Records every write and fsync of a workload, materialises every crash state a power loss could leave
/// (durable prefix + every prefix of the unsynced bytes, zero-filled variants, un-fsynced directory entries
/// absent), and checks recovery on each: reader and writer open succeed, every record acknowledged durable
/// is there, nothing never written is, as a contiguous prefix in order with exact bytes.
/// </summary>
[NonParallelizable]
public class PowerLossTests
{
    private static int Stride => Env("DATAWAL_POWERLOSS_STRIDE", 1);

    private static int Scale => Env("DATAWAL_POWERLOSS_SCALE", 1);

    internal static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out int v) && v > 0 ? v : fallback;

    private static bool IsSegment(string name) => SegmentFiles.TryParseFileName(name, out _);

    private readonly record struct Rec(RecordType Type, ulong TxId, byte[] Key, byte[] Payload)
    {
        public static Rec Of(Record r) => new(r.Type, r.TxId, r.Key.ToArray(), r.Payload.ToArray());

        public bool Same(Rec other) => Type == other.Type && TxId == other.TxId && Key.AsSpan().SequenceEqual(other.Key) && Payload.AsSpan().SequenceEqual(other.Payload);

        public override string ToString() => $"{Type} txid={TxId} key={Convert.ToHexString(Key)} payload={Payload.Length}B";
    }

    private static List<Rec> ReadAll(string dir) => RecordLogReader.Open(dir).ScanIter().Select(Rec.Of).ToList();

    private static byte[] Bytes(Random random, int length)
    {
        var b = new byte[length];
        random.NextBytes(b);
        return b;
    }

    [Test]
    public void RecordLog_appends_with_periodic_fsync_and_rotations_survive_every_power_loss_state()
    {
        using var dir = new TempDir("pl-log");
        var random = new Random(11);

        // A pre-existing log with a torn tail: the open under the recorder cuts it (docs/design.md D6).
        using (var log = RecordLog.Open(dir.Path))
        {
            log.AppendRecord(RecordType.Put, "a"u8, "1"u8);
            log.Append("base"u8);
            log.AppendRecord(RecordType.Delete, "a"u8, default);
            log.Fsync();
        }

        byte[] torn = WireFormat.Encode(RecordType.Put, 4, "torn"u8, "never acknowledged"u8);
        using (var s = new FileStream(SegmentFiles.PathFor(dir.Path, 1), FileMode.Append))
        {
            s.Write(torn, 0, torn.Length / 2);
        }

        var appended = ReadAll(dir.Path);
        var acks = appended.Select((_, i) => (Index: i, Op: 0)).ToList();
        PowerLossRecorder recorder;
        using (recorder = PowerLossRecorder.Install(dir.Path))
        using (var log = RecordLog.Open(dir.Path))
        {
            Assert.That(log.RecoveryReport.TailCut, Is.True);
            int n = 60 * Scale;
            for (int i = 0; i < n; i++)
            {
                ulong txid = log.NextTxId;
                switch (i % 3)
                {
                    case 0:
                        var p = Bytes(random, random.Next(0, 120));
                        log.Append(p);
                        appended.Add(new Rec(RecordType.Raw, txid, [], p));
                        break;
                    case 1:
                        var k = Bytes(random, random.Next(0, 12));
                        var v = Bytes(random, random.Next(0, 80));
                        log.AppendRecord(RecordType.Put, k, v);
                        appended.Add(new Rec(RecordType.Put, txid, k, v));
                        break;
                    default:
                        var d = Bytes(random, random.Next(1, 12));
                        log.AppendRecord(RecordType.Delete, d, default);
                        appended.Add(new Rec(RecordType.Delete, txid, d, []));
                        break;
                }

                if (i % 4 == 3)
                {
                    log.Fsync();
                    acks.Add((appended.Count - 1, recorder.OpCount));
                }

                if (i % 20 == 19)
                {
                    log.Rotate();   // fsyncs the sealed segment: everything so far is durable
                    acks.Add((appended.Count - 1, recorder.OpCount));
                }
            }

            // Left unsynced at the crash: the last records (Manual mode fsyncs nothing on dispose).
            log.Append("unsynced-1"u8);
            appended.Add(new Rec(RecordType.Raw, appended[^1].TxId + 1, [], "unsynced-1"u8.ToArray()));
        }

        var reference = ReadAll(dir.Path);
        AssertSame(reference, appended, "the final log is what was appended");
        int states = CheckAll(recorder, reference, acks, kv: false);
        TestContext.Out.WriteLine($"power loss, RecordLog workload: {states} crash states checked ({recorder.OpCount} ops, {recorder.WriteCount} writes, stride {Stride})");
        Assert.That(states, Is.GreaterThan(500));
    }

    [Test]
    public void KvStore_puts_and_deletes_with_fsyncs_survive_every_power_loss_state()
    {
        using var dir = new TempDir("pl-kv");
        var random = new Random(23);
        var appended = new List<Rec>();
        var acks = new List<(int Index, int Op)>();
        PowerLossRecorder recorder;
        using (recorder = PowerLossRecorder.Install(dir.Path))
        using (var store = KvStore.Open(dir.Path))
        {
            int n = 80 * Scale;
            for (int i = 0; i < n; i++)
            {
                ulong txid = store.Log.NextTxId;
                var key = System.Text.Encoding.ASCII.GetBytes("key-" + random.Next(0, 12));
                if (random.Next(5) == 0)
                {
                    store.Delete(key);
                    appended.Add(new Rec(RecordType.Delete, txid, key, []));
                }
                else
                {
                    var value = Bytes(random, random.Next(0, 60));
                    store.Put(key, value);
                    appended.Add(new Rec(RecordType.Put, txid, key, value));
                }

                if (i % 5 == 4)
                {
                    store.Fsync();
                    acks.Add((appended.Count - 1, recorder.OpCount));
                }

                if (i % 30 == 29)
                {
                    store.Rotate();
                    acks.Add((appended.Count - 1, recorder.OpCount));
                }
            }
        }

        var reference = ReadAll(dir.Path);
        AssertSame(reference, appended, "the final log is what was written");
        int states = CheckAll(recorder, reference, acks, kv: true);
        TestContext.Out.WriteLine($"power loss, KvStore workload: {states} crash states checked ({recorder.OpCount} ops, {recorder.WriteCount} writes, stride {Stride})");
        Assert.That(states, Is.GreaterThan(500));
    }

    [Test]
    public void Group_commit_from_4_threads_under_EveryAppend_loses_no_acknowledged_record_in_any_power_loss_state()
    {
        using var dir = new TempDir("pl-gc");
        var acked = new System.Collections.Concurrent.ConcurrentBag<(string Payload, int Op)>();
        PowerLossRecorder recorder;
        using (recorder = PowerLossRecorder.Install(dir.Path))
        using (var log = RecordLog.Open(dir.Path, new RecordLogOptions { Durability = DurabilityMode.EveryAppend }))
        {
            int perThread = 25 * Scale;
            using var start = new Barrier(4);
            var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                for (int i = 0; i < perThread; i++)
                {
                    string payload = $"t{t}-{i}-" + new string((char)('a' + t), i % 17);
                    log.Append(System.Text.Encoding.ASCII.GetBytes(payload));
                    acked.Add((payload, recorder.OpCount));
                    if (t == 0 && i % 10 == 9)
                    {
                        log.Rotate();
                    }
                }
            })).ToList();
            threads.ForEach(th => th.Start());
            threads.ForEach(th => th.Join());
        }

        var reference = ReadAll(dir.Path);
        var index = reference.Select((r, i) => (Key: System.Text.Encoding.ASCII.GetString(r.Payload), i)).ToDictionary(x => x.Key, x => x.i);
        Assert.That(acked, Has.Count.EqualTo(100 * Scale));
        Assert.That(reference, Has.Count.EqualTo(acked.Count), "every returned append is in the final log exactly once");
        var acks = acked.Select(a => (index[a.Payload], a.Op)).ToList();
        for (int i = 0; i < reference.Count; i++)
        {
            Assert.That(reference[i].TxId, Is.EqualTo((ulong)i + 1));
        }

        int states = CheckAll(recorder, reference, acks, kv: false);
        TestContext.Out.WriteLine($"power loss, group commit workload: {states} crash states checked ({recorder.OpCount} ops, {recorder.WriteCount} writes, stride {Stride})");
        Assert.That(states, Is.GreaterThan(100));
    }

    [Test]
    public void Batches_written_in_one_system_call_leave_a_valid_prefix_in_every_power_loss_state()
    {
        using var dir = new TempDir("pl-batch");
        var random = new Random(31);
        var appended = new List<Rec>();
        var acks = new List<(int Index, int Op)>();
        PowerLossRecorder recorder;
        using (recorder = PowerLossRecorder.Install(dir.Path))
        using (var log = RecordLog.Open(dir.Path))
        using (var batch = new RecordBatch())
        {
            int n = 12 * Scale;
            for (int i = 0; i < n; i++)
            {
                batch.Clear();
                ulong txid = log.NextTxId;
                int count = random.Next(1, 7);
                for (int j = 0; j < count; j++)
                {
                    var type = (RecordType)random.Next(3);
                    var key = type == RecordType.Raw ? [] : Bytes(random, random.Next(0, 10));
                    var payload = type == RecordType.Delete ? [] : Bytes(random, random.Next(0, 50));
                    batch.Add(type, key, payload);
                    appended.Add(new Rec(type, txid++, key, payload));
                }

                Assert.That(log.AppendBatch(batch), Is.EqualTo(appended[^count].TxId));
                if (i % 2 == 1)
                {
                    log.Fsync();
                    acks.Add((appended.Count - 1, recorder.OpCount));
                }

                if (i % 5 == 4)
                {
                    log.Rotate();
                    acks.Add((appended.Count - 1, recorder.OpCount));
                }
            }
        }

        var reference = ReadAll(dir.Path);
        AssertSame(reference, appended, "the final log is what was appended");
        int states = CheckAll(recorder, reference, acks, kv: true);
        TestContext.Out.WriteLine($"power loss, batch workload: {states} crash states checked ({recorder.OpCount} ops, {recorder.WriteCount} writes, stride {Stride})");
        Assert.That(states, Is.GreaterThan(500));
    }

    private static void AssertKv(KvStore store, Dictionary<string, byte[]> model, string at)
    {
        var items = store.Items().ToDictionary(kv => Convert.ToHexString(kv.Key), kv => kv.Value, StringComparer.Ordinal);
        Assert.That(items.Keys.Order(StringComparer.Ordinal), Is.EqualTo(model.Keys.Order(StringComparer.Ordinal)), $"{at}: KV keys");
        foreach (var (k, v) in model)
        {
            Assert.That(items[k], Is.EqualTo(v), $"{at}: KV value of {k}");
        }
    }

    private static void AssertSame(List<Rec> actual, List<Rec> expected, string because)
    {
        Assert.That(actual, Has.Count.EqualTo(expected.Count), because);
        for (int i = 0; i < actual.Count; i++)
        {
            Assert.That(actual[i].Same(expected[i]), Is.True, $"{because}: record {i}: {actual[i]} vs {expected[i]}");
        }
    }

    /// <summary>
    /// docs/design.md D13 as it stands: zeros followed by written data are not a torn tail, so when such a run reaches
    /// into the magic or the version byte of a frame (the first 5 header bytes) the store is refused — loudly,
    /// as structural damage in the last segment at or after the durable end, with nothing cut or changed.
    /// Any later zeros make a header that parses and a frame whose CRC fails: a tolerated tail. (Whether the
    /// refusal should become a tolerated tail too is an open question; see docs/reliability.md.)
    /// </summary>
    private static void AssertRefusedAsDecided(CrashState state, CorruptRecordException refusal, string stateDir, string at)
    {
        Assert.That(refusal.Kind, Is.EqualTo(CorruptionKind.Structural), at);
        Assert.That(state.HeaderBytesKept, Is.InRange(0, 4), $"{at}: refused although the zeros leave magic and version whole");
        Assert.That(refusal.Segment, Is.EqualTo(SegmentFiles.List(stateDir)[^1]), $"{at}: only the last segment has unsynced bytes");
        var writer = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(stateDir).Dispose(), at);
        Assert.That(writer!.Message, Is.EqualTo(refusal.Message), at);
        Assert.Throws<CorruptRecordException>(() => KvStore.OpenReadOnly(stateDir).Dispose(), at);
        foreach (var (name, bytes) in state.Files)
        {
            Assert.That(File.ReadAllBytes(Path.Combine(stateDir, name)).AsSpan().SequenceEqual(bytes), Is.True, $"{at}: {name} changed by a refused open");
        }
    }

    /// <summary>
    /// Checks every crash state of <paramref name="recorder"/>; returns how many. Also asserts that the states
    /// really exercise loss: some lose unsynced records, some end in a damaged (torn or zero-filled) tail.
    /// </summary>
    private static int CheckAll(PowerLossRecorder recorder, List<Rec> reference, List<(int Index, int Op)> acks, bool kv)
    {
        int lossy = 0, tails = 0, absent = 0, refused = 0;
        var shapes = new SortedDictionary<CrashShape, int>();
        using var work = new TempDir("pl-state");
        string stateDir = Path.Combine(work.Path, "s");
        int count = 0;
        using var noSync = PowerLossRecorder.WithoutFsync();
        foreach (var state in recorder.CrashStates(Stride, IsSegment, WireFormat.HeaderLength))
        {
            PowerLossRecorder.Materialise(state, stateDir);   // replaces every file of the previous state
            int required = acks.Where(a => a.Op <= state.CrashPoint).Select(a => a.Index).DefaultIfEmpty(-1).Max();
            string at = $"state #{count}: {state.Description}";
            shapes[state.Shape] = shapes.GetValueOrDefault(state.Shape) + 1;

            var read = new List<Rec>();
            CorruptRecordException? refusal = null;
            try
            {
                var iterator = RecordLogReader.Open(stateDir).ScanIter();
                foreach (var r in iterator)
                {
                    read.Add(Rec.Of(r));
                }

                tails += iterator.RecoveryReport.TailTruncated;
                lossy += read.Count < reference.Count ? 1 : 0;
                absent += state.Description.Contains("directory changes lost", StringComparison.Ordinal) ? 1 : 0;
            }
            catch (CorruptRecordException e) when (state.Shape == CrashShape.ZeroRunThenData)
            {
                refusal = e;   // checked below: what was yielded before it must still be right
            }
            catch (Exception e)
            {
                Assert.Fail($"{at}: the reader failed: {e.GetType().Name}: {e.Message}");
                throw;
            }

            Assert.That(read.Count, Is.LessThanOrEqualTo(reference.Count), $"{at}: records that were never written");
            for (int i = 0; i < read.Count; i++)
            {
                if (!read[i].Same(reference[i]))
                {
                    Assert.Fail($"{at}: record {i} is {read[i]}, expected {reference[i]} (not a contiguous prefix)");
                }
            }

            Assert.That(read.Count, Is.GreaterThan(required), $"{at}: record {required} ({(required >= 0 ? reference[required] : default)}) was acknowledged durable and is lost");
            if (refusal is not null)
            {
                AssertRefusedAsDecided(state, refusal, stateDir, at);
                refused++;
                count++;
                continue;
            }

            if (kv)
            {
                var model = new Dictionary<string, byte[]>(StringComparer.Ordinal);
                foreach (var r in read)
                {
                    string k = Convert.ToHexString(r.Key);
                    if (r.Type == RecordType.Put)
                    {
                        model[k] = r.Payload;
                    }
                    else if (r.Type == RecordType.Delete)
                    {
                        model.Remove(k);
                    }
                }

                using (var view = KvStore.OpenReadOnly(stateDir))
                {
                    AssertKv(view, model, at + " (KvStore.OpenReadOnly)");
                }

                if (count % 4 == 0)
                {
                    // The writer's view (it cuts the tail first) too; then restore the state for the checks below.
                    using (var store = KvStore.Open(stateDir))
                    {
                        AssertKv(store, model, at + " (KvStore.Open)");
                    }

                    PowerLossRecorder.Materialise(state, stateDir);
                }
            }

            try
            {
                using var log = RecordLog.Open(stateDir);
                var scanned = log.Scan().Select(Rec.Of).ToList();
                Assert.That(scanned, Has.Count.EqualTo(read.Count), $"{at}: writer open vs reader");
                Assert.That(log.NextTxId, Is.EqualTo(read.Count == 0 ? 1UL : read[^1].TxId + 1), $"{at}: next txid");
                if (count % 5 == 0)
                {
                    // docs/design.md D6: an append after recovery survives a reopen (never lost behind garbage).
                    log.AppendRecord(RecordType.Put, "after"u8, "crash"u8);
                    log.Dispose();
                    var again = ReadAll(stateDir);
                    Assert.That(again, Has.Count.EqualTo(read.Count + 1), $"{at}: append after recovery");
                    Assert.That(again[^1].Payload, Is.EqualTo("crash"u8.ToArray()), $"{at}: append after recovery");
                }
            }
            catch (DataWalException e)
            {
                Assert.Fail($"{at}: the writer open failed: {e.GetType().Name}: {e.Message}");
            }

            count++;
        }

        TestContext.Out.WriteLine($"  of which {lossy} recover fewer records than the final log, {tails} end in a damaged tail, {absent} lose an un-fsynced directory change (a new segment absent)");
        TestContext.Out.WriteLine($"  by shape: {string.Join(", ", shapes.Select(kv => $"{kv.Key} {kv.Value}"))}; refused (zero run then data, see AssertRefusedAsDecided): {refused}");
        Assert.That(shapes.GetValueOrDefault(CrashShape.TornHeaderThenZeros), Is.GreaterThan(0), "no torn-header state");
        Assert.That(shapes.GetValueOrDefault(CrashShape.ZeroRunThenData), Is.GreaterThan(0), "no zero-run state");
        Assert.That(lossy, Is.GreaterThan(0), "no state lost anything: the simulation is not simulating");
        Assert.That(tails, Is.GreaterThan(0), "no state had a damaged tail");
        return count;
    }
}
