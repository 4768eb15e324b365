using System.Globalization;
using System.Text;
using System.Text.Json;
using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using SafeAtomic;
using TestChild;
using TestSupport;
using static DataWal.Reliability.Tests.Reliability;

namespace DataWal.Reliability.Tests;

/// <summary>
/// Process-crash cycles (docs/reliability.md): a TestChild writer prints every acknowledgement, the parent SIGKILLs it at
/// varied moments (at start, 0..3 ms after it was handed its scenario, on every 10th cycle, otherwise
/// 0..60 ms after its first ack), then
/// reopens and checks that the store is a contiguous prefix containing everything acknowledged. Stores are
/// reused for 10 cycles, so recovery after a crash and appending after a recovered (possibly cut) tail are
/// exercised too; every reopen as writer also proves that the killed writer's stale <c>.lock</c> never blocks.
/// Default 1,210 cycles in total (see <see cref="DefaultCycles"/>), over every write path: appends without
/// fsync, with fsync, rotating, batched (with and without fsync), grouped background flushes, async
/// EveryAppend, KV puts/deletes (single and batched), group commit, compaction, export and online compaction
/// beside writers;
/// <c>DATAWAL_CRASH_CYCLES</c> multiplies them.
/// </summary>
[Platform(Exclude = "Win")]
[NonParallelizable]
public class CrashCycleTests
{
    private const int CyclesPerStore = 10;

    // The default share of each scenario (the cost is ~150 ms per cycle, mostly the child's start-up).
    private const int NoFsyncCycles = 150;
    private const int FsyncCycles = 110;
    private const int RotateCycles = 110;
    private const int BatchCycles = 100;
    private const int BatchFsyncCycles = 100;
    private const int GroupedCycles = 80;
    private const int AsyncEveryAppendCycles = 70;
    private const int KvCycles = 150;
    private const int GroupCommitCycles = 100;
    private const int CompactCycles = 60;
    private const int ExportCycles = 60;
    private const int AutoRotateCycles = 60;
    private const int OnlineCompactCycles = 60;

    /// <summary>Every scenario's default share, by name.</summary>
    private static readonly (string Name, int Cycles)[] DefaultCycles =
    [
        ("appends without fsync", NoFsyncCycles), ("appends with fsync", FsyncCycles), ("rotating appends", RotateCycles),
        ("batches", BatchCycles), ("fsynced rotating batches", BatchFsyncCycles), ("grouped background flushes", GroupedCycles),
        ("async EveryAppend", AsyncEveryAppendCycles), ("kv puts/deletes, single and batched", KvCycles),
        ("group commit", GroupCommitCycles), ("compaction", CompactCycles), ("export", ExportCycles),
        ("automatically rotating batches", AutoRotateCycles), ("online compaction beside writers", OnlineCompactCycles),
    ];

    private static int _cyclesRun;

    [Test]
    public void The_default_run_kills_at_least_1000_writers_over_every_write_path()
    {
        int total = DefaultCycles.Sum(c => c.Cycles);
        TestContext.Out.WriteLine("default SIGKILL cycles: " + string.Join(", ", DefaultCycles.Select(c => $"{c.Name} {c.Cycles}")) + $"; total {total}");
        Assert.That(total, Is.GreaterThanOrEqualTo(1000));
        Assert.That(DefaultCycles.Select(c => c.Cycles), Is.All.GreaterThanOrEqualTo(50), "every write path gets a real share");
    }

    /// <summary>One summary line over the whole fixture (the per-test counts are in each test's FIGURES line).</summary>
    [OneTimeTearDown]
    public void Total()
    {
        StopSpare();
        string line = $"FIGURES crash cycles: {_cyclesRun} SIGKILL cycles run in total (multiplier {Multiplier})";
        TestContext.Out.WriteLine(line);
        TestContext.Progress.WriteLine(line);
    }

    private static void Count(int cycles) => Interlocked.Add(ref _cyclesRun, cycles);

    [TestCase("no-fsync", false, 0, 1, "manual", NoFsyncCycles, TestName = "Sigkill_during_appends_without_fsync_loses_no_acknowledged_record")]
    [TestCase("fsync", true, 0, 1, "manual", FsyncCycles, TestName = "Sigkill_during_append_fsync_loses_no_durable_record")]
    [TestCase("rotate", true, 4, 1, "manual", RotateCycles, TestName = "Sigkill_during_rotating_appends_keeps_a_contiguous_prefix_across_segments")]
    [TestCase("batch", false, 0, 64, "manual", BatchCycles, TestName = "Sigkill_during_batch_appends_loses_no_acknowledged_batch")]
    [TestCase("batch-fsync", true, 40, 16, "manual", BatchFsyncCycles, TestName = "Sigkill_during_fsynced_rotating_batch_appends_loses_no_durable_batch")]
    [TestCase("grouped", false, 0, 1, "grouped", GroupedCycles, TestName = "Sigkill_during_grouped_background_flushes_loses_no_appended_record")]
    [TestCase("every-async", false, 0, 1, "every-async", AsyncEveryAppendCycles, TestName = "Sigkill_during_async_EveryAppend_appends_loses_no_durable_record")]
    [TestCase("auto-rotate", false, 0, 8, "manual+auto", AutoRotateCycles, TestName = "Sigkill_during_automatically_rotating_batch_appends_loses_no_acknowledged_record")]
    public void Append_crash_cycles(string name, bool fsync, int rotateEvery, int batchMax, string mode, int defaultCycles)
    {
        using var root = new TempDir("rel-" + name);
        int cycles = Cycles(defaultCycles);
        bool durableAcks = fsync || mode == "every-async";
        string ackPrefix = durableAcks ? "durable" : "acked";
        long recordsRecovered = 0, tornTails = 0, unackedWritten = 0, acked = 0, immediate = 0, finished = 0, injectedTails = 0, storesRotated = 0;
        long recovered = 0;
        for (int cycle = 0; cycle < cycles; cycle++)
        {
            string dir = root[$"s{cycle / CyclesPerStore}"];
            if (cycle % CyclesPerStore == 0)
            {
                recovered = 0;
            }

            // Without fsync the loop is fast: a larger cap keeps the kills inside the loop.
            var lines = RunAndKill(cycle, "rel-append", dir, fsync ? "1" : "0", rotateEvery.ToString(CultureInfo.InvariantCulture), durableAcks ? "5000" : "20000",
                batchMax.ToString(CultureInfo.InvariantCulture), mode);
            finished += lines.Contains("done") ? 1 : 0;
            var acks = lines.Where(l => l.StartsWith(ackPrefix + " ", StringComparison.Ordinal)).ToList();
            long lastAck = MaxAck(lines, ackPrefix);
            string context = $"{name} cycle {cycle} (delay {DelayFor(cycle)?.ToString(CultureInfo.InvariantCulture) ?? "none"}, last ack {lastAck})";
            if (acks.Count > 0)
            {
                // The child resumed numbering right after what the previous recovery found.
                Assert.That(acks[0], Is.EqualTo($"{ackPrefix} {recovered}"), context);
            }

            immediate += DelayFor(cycle) is null ? 1 : 0;
            acked += acks.Count;

            // A reader first (it changes nothing), then the next writer open (which cuts a torn tail).
            var (records, report) = ReadAll(dir);
            AssertContiguousPrefix(records, context);
            Assert.That(report.MidStreamErrors, Is.Zero, context);
            Assert.That(records.Count, Is.GreaterThan(lastAck), context + ": an acknowledged record was lost");
            Assert.That(records.Count, Is.GreaterThanOrEqualTo(recovered), context + ": a record recovered earlier was lost");
            tornTails += report.TailTruncated > 0 ? 1 : 0;
            unackedWritten += records.Count - (lastAck + 1) > 0 && lastAck >= 0 ? 1 : 0;

            // A SIGKILL tears a write(2) only rarely (a multi-page one, at a page boundary), so on some cycles also
            // leave what a kill inside a multi-write append, or a filesystem's zero fill, would: the reader must tolerate it, the next
            // writer must cut it, and the next child must append after the cut.
            bool injected = InjectTornTail(dir, records, report, cycle);
            injectedTails += injected ? 1 : 0;
            if (injected)
            {
                var (again, tornReport) = ReadAll(dir);
                Assert.That(again, Has.Count.EqualTo(records.Count), context + " (torn tail injected)");
                Assert.That(tornReport.TailTruncated, Is.EqualTo(1), context + " (torn tail injected)");
                report = tornReport;
            }

            using (var log = RecordLog.Open(dir))
            {
                Assert.That(log.RecoveryReport.TailCut, Is.EqualTo(report.TailTruncated > 0), context);
                Assert.That(log.NextTxId, Is.EqualTo((ulong)records.Count + 1), context);
                AssertContiguousPrefix(log.Scan(), context + " (writer reopen)");
            }

            Assert.That(AtomicFile.FindTempFiles(dir), Is.Empty, context);
            recovered = records.Count;
            recordsRecovered += cycle % CyclesPerStore == CyclesPerStore - 1 || cycle == cycles - 1 ? records.Count : 0;
            // Coverage, not durability: the rotation path must have run. A kill can land inside a Rotate (two fsyncs,
            // as slow as a whole fsynced batch on a loaded machine) and the next child resumes past that boundary, so
            // one store can correctly keep many records in one segment; a per-cycle check failed about one run in
            // three under load. Counted per store, asserted over the whole test.
            if (cycle % CyclesPerStore == CyclesPerStore - 1 || cycle == cycles - 1)
            {
                storesRotated += records.Select(r => r.Segment).Distinct().Count() > 1 ? 1 : 0;
            }
        }

        if (rotateEvery > 0 || mode.EndsWith("+auto", StringComparison.Ordinal))
        {
            Assert.That(storesRotated, Is.GreaterThan(0), $"{name}: no store saw a rotation complete");
        }

        Count(cycles);
        Figures($"{name}: cycles {cycles} (killed at start {immediate}, after the loop finished {finished}), acks seen {acked}, kills leaving a torn tail {tornTails}, torn tails injected and cut {injectedTails}, " +
                $"kills after a write but before its ack {unackedWritten}, records recovered (final, all stores) {recordsRecovered}, stores with a rotation {storesRotated}, acknowledged lost 0");
    }

    /// <summary>On every 5th cycle appends half of the last frame, on every 5th+2 cycle 64 zero bytes, to the last segment.</summary>
    private static bool InjectTornTail(string directory, List<Record> records, RecoveryReport report, int cycle)
    {
        // The injected bytes go at the physical end of the file, which is the end of the last valid frame
        // only when the kill left no torn tail of its own. It can leave one: a write of a multi-page batch
        // torn at a page boundary (seen: one byte of the next frame's magic), and appending after that would
        // build structural garbage that no crash produces.
        if (records.Count == 0 || report.TailTruncated > 0 || cycle % 5 is not (2 or 4))
        {
            return false;
        }

        string last = Directory.GetFiles(directory, "*.dwal").Order(StringComparer.Ordinal).Last();
        byte[] tail;
        if (cycle % 5 == 2)
        {
            var r = records[^1];
            using var source = File.OpenRead(Path.Combine(directory, $"{r.Segment:D8}.dwal"));
            tail = new byte[r.Length / 2];
            source.Position = (long)r.Offset;
            source.ReadExactly(tail);
        }
        else
        {
            tail = new byte[64];
        }

        using var segment = new FileStream(last, FileMode.Append, FileAccess.Write);
        segment.Write(tail);
        return true;
    }

    [Test]
    public void Sigkill_during_kv_puts_and_deletes_recovers_the_model_prefix_with_every_durable_op()
    {
        using var root = new TempDir("rel-kv");
        int cycles = Cycles(KvCycles);
        int[] fsyncEvery = [1, 3, 10, 50];
        long tornTails = 0, durableAcks = 0, opsRecovered = 0, beyondDurable = 0, finished = 0, injectedTails = 0, batched = 0;
        long recovered = 0;
        for (int cycle = 0; cycle < cycles; cycle++)
        {
            string dir = root[$"s{cycle / CyclesPerStore}"];
            if (cycle % CyclesPerStore == 0)
            {
                recovered = 0;
            }

            int k = fsyncEvery[cycle % fsyncEvery.Length];
            int batchMax = cycle / fsyncEvery.Length % 2 == 1 ? 32 : 0;   // every fsync interval with and without batches
            batched += batchMax > 0 ? 1 : 0;
            var lines = RunAndKill(cycle, "rel-kv", dir, k.ToString(CultureInfo.InvariantCulture), "20000", batchMax.ToString(CultureInfo.InvariantCulture));
            finished += lines.Contains("done") ? 1 : 0;
            long lastDurable = Math.Max(MaxAck(lines, "durable"), 0);
            durableAcks += lines.Count(l => l.StartsWith("durable ", StringComparison.Ordinal));
            string context = $"kv cycle {cycle} (fsync every {k}, batches up to {batchMax}, delay {DelayFor(cycle)?.ToString(CultureInfo.InvariantCulture) ?? "none"}, durable {lastDurable})";

            // The log is exactly operations 0..n-1.
            var (records, report) = ReadAll(dir);
            Assert.That(report.MidStreamErrors, Is.Zero, context);
            for (int j = 0; j < records.Count; j++)
            {
                var (isPut, key, value) = ReliabilityData.KvOp(j);
                var r = records[j];
                if (r.TxId != (ulong)j + 1 || r.Type != (isPut ? RecordType.Put : RecordType.Delete) ||
                    !r.Key.Span.SequenceEqual(key) || !r.Payload.Span.SequenceEqual(value))
                {
                    Assert.Fail($"{context}: record {j} is not operation {j} ({r})");
                }
            }

            long n = records.Count;
            Assert.That(n, Is.GreaterThanOrEqualTo(lastDurable), context + ": a durable-acknowledged operation was lost");
            Assert.That(n, Is.GreaterThanOrEqualTo(recovered), context);
            tornTails += report.TailTruncated > 0 ? 1 : 0;
            beyondDurable += n > lastDurable ? 1 : 0;
            injectedTails += InjectTornTail(dir, records, report, cycle) ? 1 : 0;
            var model = KvModel(n);

            if (Directory.Exists(dir))
            {
                using var ro = KvStore.OpenReadOnly(dir);
                Assert.That(Items(ro), Is.EqualTo(model), context + " (read-only view)");
            }

            using (var kv = KvStore.Open(dir))
            {
                Assert.That(Items(kv), Is.EqualTo(model), context + " (writer view)");
                for (int key = 0; key < 97; key++)
                {
                    string name = $"key-{key:D3}";
                    var got = kv.Get(Encoding.ASCII.GetBytes(name));
                    Assert.That(got is null ? null : Encoding.ASCII.GetString(got), Is.EqualTo(model.GetValueOrDefault(name)), context + " get " + name);
                }
            }

            recovered = n;
            opsRecovered += cycle % CyclesPerStore == CyclesPerStore - 1 || cycle == cycles - 1 ? n : 0;
        }

        Count(cycles);
        Figures($"kv: cycles {cycles} (batched {batched}, after the loop finished {finished}), durable acks seen {durableAcks}, kills leaving a torn tail {tornTails}, torn tails injected and cut {injectedTails}, " +
                $"kills with ops beyond the last durable ack {beyondDurable}, ops recovered (final, all stores) {opsRecovered}, durable ops lost 0");
    }

    [Test]
    public void Sigkill_during_group_commit_keeps_every_record_whose_append_returned()
    {
        using var root = new TempDir("rel-group");
        int cycles = Cycles(GroupCommitCycles);
        const int Threads = 4;
        long durableAcks = 0, recordsRecovered = 0, tornTails = 0, finished = 0;
        for (int cycle = 0; cycle < cycles; cycle++)
        {
            string dir = root[$"c{cycle}"];
            var lines = RunAndKill(cycle, "rel-group", dir, Threads.ToString(CultureInfo.InvariantCulture), "3000");
            finished += lines.Contains("done") ? 1 : 0;
            string context = $"group cycle {cycle} (delay {DelayFor(cycle)?.ToString(CultureInfo.InvariantCulture) ?? "none"})";
            var durable = new long[Threads];
            Array.Fill(durable, -1);
            foreach (var line in lines.Where(l => l.StartsWith("durable ", StringComparison.Ordinal)))
            {
                var parts = line["durable ".Length..].Split(':');
                int t = int.Parse(parts[0], CultureInfo.InvariantCulture);
                durable[t] = Math.Max(durable[t], long.Parse(parts[1], CultureInfo.InvariantCulture));
                durableAcks++;
            }

            var (records, report) = ReadAll(dir);
            Assert.That(report.MidStreamErrors, Is.Zero, context);
            tornTails += report.TailTruncated > 0 ? 1 : 0;
            var next = new long[Threads];
            for (int j = 0; j < records.Count; j++)
            {
                var parsed = ReliabilityData.ParseGroupRecord(records[j].Payload.Span);
                Assert.That(records[j].TxId, Is.EqualTo((ulong)j + 1), context);
                Assert.That(parsed, Is.Not.Null, $"{context}: record {j} is not a whole payload");
                var (thread, nth) = parsed!.Value;
                Assert.That(nth, Is.EqualTo(next[thread]), $"{context}: thread {thread}'s records are not contiguous");
                next[thread]++;
            }

            for (int t = 0; t < Threads; t++)
            {
                Assert.That(next[t], Is.GreaterThan(durable[t]), $"{context}: thread {t} lost record {durable[t]} after its append returned");
            }

            using (var log = RecordLog.Open(dir))
            {
                Assert.That(log.Scan(), Has.Count.EqualTo(records.Count), context);
            }

            recordsRecovered += records.Count;
        }

        Count(cycles);
        Figures($"group commit ({Threads} threads, EveryAppend): cycles {cycles} (after the loop finished {finished}), durable acks seen {durableAcks}, " +
                $"kills leaving a torn tail {tornTails}, records recovered {recordsRecovered}, durable records lost 0");
    }

    [Test]
    public void Sigkill_during_compactions_leaves_the_source_intact_and_outputs_whole_or_a_sorted_prefix()
    {
        using var root = new TempDir("rel-compact");
        string source = root["source"];
        var model = Seed(source);
        var sourceBytes = SegmentBytes(source);
        int cycles = Cycles(CompactCycles);
        long complete = 0, partial = 0, empty = 0;
        for (int cycle = 0; cycle < cycles; cycle++)
        {
            string outRoot = root[$"c{cycle}"];
            Directory.CreateDirectory(outRoot);
            var lines = RunAndKill(cycle, "rel-compact", source, outRoot);
            long lastAck = MaxAck(lines, "compacted");
            string context = $"compact cycle {cycle} (delay {DelayFor(cycle)?.ToString(CultureInfo.InvariantCulture) ?? "none"}, last ack {lastAck})";

            AssertSourceIntact(source, sourceBytes, model, context);
            var outputs = Directory.GetDirectories(outRoot).Select(Path.GetFileName).ToList();
            Assert.That(outputs.Count, Is.LessThanOrEqualTo(lastAck + 2), context + ": an output beyond the one in progress");
            foreach (var name in outputs)
            {
                int i = int.Parse(name!["out_".Length..], CultureInfo.InvariantCulture);
                string output = Path.Combine(outRoot, name);
                var (records, report) = ReadAll(output);
                var keys = records.Select(r => Encoding.ASCII.GetString(r.Key.Span)).ToList();
                Assert.That(records.All(r => r.Type == RecordType.Put), context + " " + name);
                Assert.That(keys, Is.EqualTo(model.Keys.Take(keys.Count)), $"{context} {name}: not a prefix of the sorted live keys");
                foreach (var r in records)
                {
                    Assert.That(Encoding.ASCII.GetString(r.Payload.Span), Is.EqualTo(model[Encoding.ASCII.GetString(r.Key.Span)]), context);
                }

                if (i <= lastAck)
                {
                    Assert.That(keys, Has.Count.EqualTo(model.Count), $"{context}: acknowledged output {name} is incomplete");
                    Assert.That(report.TailTruncated, Is.Zero, context);
                    complete++;
                }
                else if (records.Count == 0)
                {
                    empty++;
                }
                else
                {
                    partial++;
                }

                // The killed compaction's lock never blocks opening the output.
                using var kv = KvStore.Open(output);
                Assert.That(Items(kv).ToList(), Is.EqualTo(model.Take(keys.Count).ToList()), context);
            }
        }

        Count(cycles);
        Figures($"compact_to: cycles {cycles}, complete outputs checked {complete}, in-progress outputs empty {empty}, " +
                $"in-progress outputs a partial sorted prefix {partial}, source changed 0 times");
    }

    [Test]
    public void Sigkill_during_exports_leaves_whole_exports_and_only_temp_files_that_opens_ignore()
    {
        using var root = new TempDir("rel-export");
        string source = root["source"];
        var model = Seed(source);
        var sourceBytes = SegmentBytes(source);
        int cycles = Cycles(ExportCycles);
        long exportsChecked = 0, tempsSeen = 0;
        for (int cycle = 0; cycle < cycles; cycle++)
        {
            // Exports go into the store directory itself, so their temp files sit beside the segments.
            var lines = RunAndKill(cycle, "rel-export", source, source);
            string context = $"export cycle {cycle} (delay {DelayFor(cycle)?.ToString(CultureInfo.InvariantCulture) ?? "none"}, last ack {MaxAck(lines, "exported")})";

            var entries = Directory.EnumerateFileSystemEntries(source).Select(Path.GetFileName).ToList();
            var exports = entries.Where(n => n!.StartsWith("export_", StringComparison.Ordinal) && n.EndsWith(".jsonl", StringComparison.Ordinal)).ToList();
            var others = entries.Except(exports).Where(n => n != ".lock" && !n!.EndsWith(".dwal", StringComparison.Ordinal)).ToList();
            Assert.That(AtomicFile.FindTempFiles(source).Select(Path.GetFileName), Is.EquivalentTo(others), $"{context}: litter that is not an atomic-write temp file");
            tempsSeen = others.Count;
            foreach (var name in exports)
            {
                AssertExportEquals(Path.Combine(source, name!), model, context + " " + name);
                exportsChecked++;
            }

            AssertSourceIntact(source, sourceBytes, model, context);
        }

        Count(cycles);
        Figures($"export_jsonl: cycles {cycles}, export files checked whole {exportsChecked}, temp files left beside the segments (ignored by opens) {tempsSeen}, source changed 0 times");
    }

    /// <summary>
    /// Online compaction (<see cref="KvStore.Compact"/>, in the store's own directory) in a loop beside two writer threads
    /// under EveryAppend, 4 KiB segments: after each kill every key holds its last acknowledged value (or is absent after
    /// an acknowledged delete), or the value of the one write of that key that was in flight — never an older value,
    /// never bytes that no write produced. Each key has one writer thread, so its writes are ordered by that thread.
    /// </summary>
    [Test]
    public void Sigkill_during_online_compactions_beside_writers_keeps_every_acknowledged_write()
    {
        using var root = new TempDir("rel-online");
        int cycles = Cycles(OnlineCompactCycles);
        long acks = 0, compactions = 0, killedInside = 0, imagesLeft = 0, inFlightLanded = 0, keysChecked = 0;
        var state = new Dictionary<string, string?>(StringComparer.Ordinal);   // what the store held after the last check
        for (int cycle = 0; cycle < cycles; cycle++)
        {
            string dir = root[$"s{cycle / CyclesPerStore}"];
            if (cycle % CyclesPerStore == 0)
            {
                state.Clear();
            }

            var lines = RunAndKill(cycle, "rel-online-compact", dir, "2", cycle.ToString(CultureInfo.InvariantCulture));
            string context = $"online compaction cycle {cycle} (delay {DelayFor(cycle)?.ToString(CultureInfo.InvariantCulture) ?? "none"})";

            // Per key: the state its last acknowledged write left, and the state its in-flight write (if any) would leave.
            var acked = new Dictionary<string, string?>(state, StringComparer.Ordinal);
            var inFlight = new Dictionary<string, string?>(StringComparer.Ordinal);
            string? lastCompactionLine = null;
            foreach (var line in lines)
            {
                var f = line.Split(' ');
                switch (f[0])
                {
                    case "op" or "ok" when f.Length < (f[0] == "op" ? 5 : 4):
                        break;   // a line cut by the kill: its write had not started (op) or is not acknowledged (ok)
                    case "op":
                        inFlight[f[1]] = f[4] == "del" ? null : ReliabilityData.OnlineValue(f[1], int.Parse(f[2], CultureInfo.InvariantCulture), long.Parse(f[3], CultureInfo.InvariantCulture));
                        break;
                    case "ok":
                        acked[f[1]] = inFlight[f[1]];
                        inFlight.Remove(f[1]);
                        acks++;
                        break;
                    case "compacting":
                        lastCompactionLine = line;
                        break;
                    case "compacted":
                        lastCompactionLine = line;
                        compactions++;
                        break;
                }
            }

            killedInside += lastCompactionLine == "compacting" ? 1 : 0;
            if (!Directory.Exists(dir))
            {
                Assert.That(acked.Values.Any(v => v is not null), Is.False, context + ": acknowledged writes but no store");
                continue;
            }

            imagesLeft += File.Exists(Path.Combine(dir, SegmentCompaction.TempFileName)) ? 1 : 0;
            SortedDictionary<string, string> recovered;
            using (var ro = KvStore.OpenReadOnly(dir))
            {
                recovered = Items(ro);
            }

            foreach (var key in acked.Keys.Union(inFlight.Keys).Union(recovered.Keys).ToList())
            {
                string? got = recovered.GetValueOrDefault(key);
                string? want = acked.GetValueOrDefault(key);
                if (got != want)
                {
                    Assert.That(inFlight.TryGetValue(key, out var pending) && got == pending, Is.True,
                        $"{context}: key {key} is {got ?? "absent"}; last acknowledged {want ?? "absent"}, in flight {(inFlight.TryGetValue(key, out var p) ? p ?? "delete" : "nothing")}");
                    inFlightLanded++;
                }

                keysChecked++;
            }

            ulong maxTxId = RecordLogReader.Open(dir).ScanIter().Select(r => r.TxId).DefaultIfEmpty(0UL).Max();
            using (var kv = KvStore.Open(dir))
            {
                Assert.That(Items(kv), Is.EqualTo(recovered), context + " (writer view)");
                Assert.That(kv.Log.NextTxId, Is.GreaterThan(maxTxId), context + ": next txid");
                Assert.That(File.Exists(Path.Combine(dir, SegmentCompaction.TempFileName)), Is.False, context + ": the writer open removes a leftover image");
                foreach (var (key, value) in recovered)
                {
                    Assert.That(Encoding.ASCII.GetString(kv.Get(Encoding.ASCII.GetBytes(key))!), Is.EqualTo(value), context + " get " + key);
                }
            }

            state.Clear();
            foreach (var (key, value) in recovered)
            {
                state[key] = value;
            }
        }

        Count(cycles);
        Figures($"online compaction: cycles {cycles}, durable acks seen {acks}, keys checked {keysChecked}, compactions completed {compactions}, kills inside a compaction {killedInside} " +
                $"(image temp file left {imagesLeft}), kills after an unacknowledged write landed {inFlightLanded}, acknowledged writes lost 0");

        // Coverage over the whole test (one cycle under load may see neither).
        Assert.That(compactions, Is.GreaterThan(0), "no compaction completed");
        Assert.That(killedInside, Is.GreaterThan(0), "no kill landed inside a compaction");
        Assert.That(acks, Is.GreaterThan(cycles), "too few acknowledged writes to mean anything");
    }

    private static void AssertExportEquals(string path, SortedDictionary<string, string> model, string context)
    {
        var text = File.ReadAllText(path);
        Assert.That(text, Does.EndWith("\n"), context + ": export is not whole");
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var got = new List<KeyValuePair<string, string>>();
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            got.Add(new(
                Encoding.ASCII.GetString(Convert.FromBase64String(doc.RootElement.GetProperty("key_b64").GetString()!)),
                Encoding.ASCII.GetString(Convert.FromBase64String(doc.RootElement.GetProperty("value_b64").GetString()!))));
        }

        Assert.That(got, Is.EqualTo(model.ToList()), context);
    }

    /// <summary>Source segments byte-identical, and both a reader and the next writer see the seeded map.</summary>
    private static void AssertSourceIntact(string source, Dictionary<string, byte[]> bytes, SortedDictionary<string, string> model, string context)
    {
        var now = SegmentBytes(source);
        Assert.That(now.Keys, Is.EquivalentTo(bytes.Keys), context + ": source segments changed");
        foreach (var (name, content) in bytes)
        {
            Assert.That(now[name].AsSpan().SequenceEqual(content), Is.True, $"{context}: source segment {name} changed");
        }

        using (var ro = KvStore.OpenReadOnly(source))
        {
            Assert.That(Items(ro), Is.EqualTo(model), context);
        }

        using (var kv = KvStore.Open(source))
        {
            Assert.That(Items(kv), Is.EqualTo(model), context);
        }

        using (var log = RecordLog.Open(source))
        {
            Assert.That(log.RecoveryReport.TailTruncated, Is.Zero, context);
        }
    }

    private static Dictionary<string, byte[]> SegmentBytes(string directory) =>
        Directory.EnumerateFiles(directory, "*.dwal").ToDictionary(p => Path.GetFileName(p), File.ReadAllBytes);

    /// <summary>Seeds 200 keys <c>key-%08d</c> with overwrites and deletes (so compaction has work); returns the live map.</summary>
    private static SortedDictionary<string, string> Seed(string directory)
    {
        var model = new SortedDictionary<string, string>(StringComparer.Ordinal);
        using var kv = KvStore.Open(directory);
        for (int i = 0; i < 200; i++)
        {
            string key = $"key-{i:D8}";
            string value = $"value-{i}-" + new string((char)('a' + (i % 26)), i % 90);
            kv.Put(Encoding.ASCII.GetBytes(key), Encoding.ASCII.GetBytes(value));
            model[key] = value;
        }

        for (int i = 0; i < 200; i += 10)
        {
            string key = $"key-{i:D8}";
            string value = $"second-{i}";
            kv.Put(Encoding.ASCII.GetBytes(key), Encoding.ASCII.GetBytes(value));
            model[key] = value;
        }

        for (int i = 0; i < 200; i += 7)
        {
            string key = $"key-{i:D8}";
            kv.Delete(Encoding.ASCII.GetBytes(key));
            model.Remove(key);
        }

        kv.Fsync();
        return model;
    }
}
