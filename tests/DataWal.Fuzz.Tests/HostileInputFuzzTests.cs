// Hostile input fuzz loop (docs/reliability.md; docs/design.md D5, D9, D12, D13).
// Env knobs:
//   DATAWAL_FUZZ_INPUTS       generated inputs in the main loop (default 100000); seeds are 0 .. N-1.
//   DATAWAL_FUZZ_FILE_EVERY   every how many inputs one is also written to disk and opened with the reader,
//                             the writer, KvStore.OpenReadOnly and KvStore.Open (default 20).
//   DATAWAL_FUZZ_CLI_RUNS     how many of those on-disk stores the CLI is run on (scan, verify, report, check;
//                             every other store with --json; default 300).
// Seeds in regression-seeds.txt (one integer a line, '#' comments) run on every test run, with every check.
using System.Buffers.Binary;
using System.Diagnostics;
using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Fuzz.Tests;

[NonParallelizable]
public class HostileInputFuzzTests
{
    private const long Margin = 64 * 1024;
    private const long PerRecord = 256;   // a yielded Record object and its two array headers (keys/payloads are counted in the file size)
    private static readonly TimeSpan InputLimit = TimeSpan.FromSeconds(5);

    private static int Inputs => PowerLossTests.Env("DATAWAL_FUZZ_INPUTS", 100_000);

    private static int FileEvery => PowerLossTests.Env("DATAWAL_FUZZ_FILE_EVERY", 20);

    private static int CliRuns => PowerLossTests.Env("DATAWAL_FUZZ_CLI_RUNS", 300);

    // ---- the generator ----

    /// <summary>Compares byte arrays by content.</summary>
    private sealed class BytesComparer : IEqualityComparer<byte[]>
    {
        public static readonly BytesComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var h = new HashCode();
            h.AddBytes(obj);
            return h.ToHashCode();
        }
    }

    /// <summary>Every valid frame the generator encoded for the current input: any record decoded must be one of them.</summary>
    [ThreadStatic]
    private static HashSet<byte[]>? t_sources;

    private static HashSet<byte[]> Sources => t_sources ??= new HashSet<byte[]>(BytesComparer.Instance);

    private static byte[] Frame(RecordType type, ulong txid, byte[] key, byte[] payload)
    {
        var frame = WireFormat.Encode(type, txid, key, payload);
        Sources.Add(frame);
        return frame;
    }

    private static byte[] ValidLog(Random r, int frames, List<int>? offsets = null)
    {
        var output = new List<byte>();
        ulong txid = (ulong)r.Next(1, 1000);
        for (int i = 0; i < frames; i++)
        {
            var type = (RecordType)r.Next(3);
            var key = new byte[type == RecordType.Raw ? 0 : r.Next(0, 24)];
            var payload = new byte[type == RecordType.Delete ? 0 : r.Next(0, r.Next(4) == 0 ? 2000 : 120)];
            r.NextBytes(key);
            r.NextBytes(payload);
            offsets?.Add(output.Count);
            output.AddRange(Frame(type, txid++, key, payload));
        }

        offsets?.Add(output.Count);
        return [.. output];
    }

    private static byte[] Header(Random r, uint keyLength, uint payloadLength)
    {
        var h = new byte[WireFormat.HeaderLength];
        "DWAL"u8.CopyTo(h);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(4), WireFormat.Version);
        h[6] = (byte)r.Next(3);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(8), (ulong)r.NextInt64());
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(16), keyLength);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(20), payloadLength);
        return h;
    }

    private static byte[] RandomBytes(Random r, int n)
    {
        var b = new byte[n];
        r.NextBytes(b);
        return b;
    }

    /// <summary>One deterministic input per seed (and, in <see cref="Sources"/>, the valid frames encoded for it).</summary>
    internal static byte[] Generate(int seed, out string kind)
    {
        Sources.Clear();
        Sources.Add(StoreFrames[0]);
        Sources.Add(StoreFrames[1]);
        var r = new Random(seed);
        switch (r.Next(10))
        {
            case 0:
                kind = "random bytes";
                return RandomBytes(r, r.Next(0, 600));
            case 1:
                {
                    kind = "bit flips";
                    var b = ValidLog(r, r.Next(1, 8));
                    int flips = r.Next(1, 9);
                    for (int i = 0; i < flips; i++)
                    {
                        b[r.Next(b.Length)] ^= (byte)(1 << r.Next(8));
                    }

                    return b;
                }

            case 2:
                {
                    kind = "truncation";
                    var b = ValidLog(r, r.Next(1, 8));
                    return b[..r.Next(0, b.Length + 1)];
                }

            case 3:
                {
                    kind = "splice";
                    var a = ValidLog(r, r.Next(1, 6));
                    var b = ValidLog(r, r.Next(1, 6));
                    return [.. a[..r.Next(0, a.Length + 1)], .. b[r.Next(0, b.Length + 1)..]];
                }

            case 4:
                {
                    kind = "duplicated frame";
                    var offsets = new List<int>();
                    var b = ValidLog(r, r.Next(1, 8), offsets);
                    int f = r.Next(offsets.Count - 1);
                    var frame = b[offsets[f]..offsets[f + 1]];
                    int at = r.Next(3) == 0 ? r.Next(0, b.Length + 1) : offsets[r.Next(offsets.Count)];
                    return [.. b[..at], .. frame, .. b[at..]];
                }

            case 5:
                {
                    kind = "header claiming 64 MiB / 64 KiB";
                    uint key = r.Next(3) == 0 ? (uint)WireFormat.MaxKeyLength : (uint)r.Next(0, 16);
                    uint payload = r.Next(3) == 0 && key != WireFormat.MaxKeyLength ? (uint)r.Next(0, 16) : (uint)WireFormat.MaxPayloadLength;
                    var prefix = r.Next(2) == 0 ? ValidLog(r, r.Next(0, 4)) : [];
                    return [.. prefix, .. Header(r, key, payload), .. RandomBytes(r, r.Next(0, 100))];
                }

            case 6:
                {
                    kind = "length just over the limit";
                    uint[] keys = [WireFormat.MaxKeyLength + 1, WireFormat.MaxKeyLength + 2, int.MaxValue, uint.MaxValue, 0x80000000];
                    uint[] payloads = [WireFormat.MaxPayloadLength + 1, WireFormat.MaxPayloadLength + 2, int.MaxValue, uint.MaxValue, 0x80000000, 0x7FFFFFE4];
                    bool overKey = r.Next(2) == 0;
                    var h = Header(r, overKey ? keys[r.Next(keys.Length)] : (uint)r.Next(0, 8), overKey ? (uint)r.Next(0, 8) : payloads[r.Next(payloads.Length)]);
                    var prefix = r.Next(2) == 0 ? ValidLog(r, r.Next(0, 4)) : [];
                    return [.. prefix, .. h, .. RandomBytes(r, r.Next(0, 64))];
                }

            case 7:
                {
                    kind = "zero run";
                    var b = ValidLog(r, r.Next(0, 6));
                    var zeros = new byte[r.Next(1, r.Next(8) == 0 ? 70_000 : 300)];
                    return r.Next(3) switch
                    {
                        0 => [.. b, .. zeros],
                        1 => [.. b[..r.Next(0, b.Length + 1)], .. zeros],
                        _ => zeros,
                    };
                }

            case 8:
                {
                    kind = "random header fields";
                    var h = Header(r, (uint)r.Next(0, 40), (uint)r.Next(0, 200));
                    BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(4), (ushort)r.Next(0, 3));
                    h[6] = (byte)r.Next(0, 5);
                    h[7] = (byte)(r.Next(4) == 0 ? r.Next(256) : 0);
                    var prefix = r.Next(2) == 0 ? ValidLog(r, r.Next(0, 3)) : [];
                    return [.. prefix, .. h, .. RandomBytes(r, r.Next(0, 300))];
                }

            default:
                {
                    kind = "frames with valid CRCs and wild txids, empty keys and payloads";
                    var output = new List<byte>();
                    int n = r.Next(1, 10);
                    for (int i = 0; i < n; i++)
                    {
                        var type = (RecordType)r.Next(3);
                        output.AddRange(Frame(type, (ulong)r.NextInt64() * (ulong)r.Next(1, 3), RandomBytes(r, r.Next(0, 3)), RandomBytes(r, r.Next(0, 3))));
                    }

                    return [.. output];
                }
        }
    }

    // ---- the checks ----

    private sealed class Run
    {
        public readonly List<string> Failures = [];
        public long Decoded;
        public long Files;
        public long CliCalls;
        public long RecordsChecked;
        public long FixedScanCost;
        public long MaxDecodeAlloc;
        public long MaxScanOverhead;
        public readonly Dictionary<string, int> Kinds = [];
        public readonly Dictionary<int, int> ExitCodes = [];
        public long CurrentStart = Stopwatch.GetTimestamp();
        public int CurrentSeed = -1;

        public void Fail(int seed, string kind, string what)
        {
            lock (Failures)
            {
                if (Failures.Count < 25)
                {
                    Failures.Add($"seed {seed} ({kind}): {what}");
                }
            }
        }
    }

    private static void DecodeInMemory(Run run, int seed, string kind, byte[] input)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        int offset = 0;
        try
        {
            while (offset < input.Length)
            {
                var d = WireFormat.Decode(input.AsSpan(offset));
                if (d.Status == DecodeStatus.Ok)
                {
                    if (d.BytesConsumed < WireFormat.HeaderLength + WireFormat.CrcLength || d.BytesConsumed > input.Length - offset ||
                        d.BytesConsumed != WireFormat.FrameSize(d.Key.Length, d.Payload.Length))
                    {
                        run.Fail(seed, kind, $"Decode Ok with inconsistent lengths at {offset}: consumed {d.BytesConsumed}");
                        return;
                    }

                    offset += d.BytesConsumed;
                    continue;
                }

                if (d.Status == DecodeStatus.CrcMismatch && (d.BytesConsumed <= 0 || d.BytesConsumed > input.Length - offset))
                {
                    run.Fail(seed, kind, $"CrcMismatch with consumed {d.BytesConsumed} of {input.Length - offset}");
                }

                break;
            }
        }
        catch (InvalidFrameException)
        {
        }
        catch (Exception e)
        {
            run.Fail(seed, kind, $"Decode threw {e.GetType().FullName}: {e.Message}");
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        run.MaxDecodeAlloc = Math.Max(run.MaxDecodeAlloc, allocated);
        if (allocated > input.Length + Margin)
        {
            run.Fail(seed, kind, $"in-memory decode of {input.Length} B allocated {allocated} B");
        }

        // Never a wrong record: every frame that decodes Ok is byte for byte one the generator encoded.
        foreach (var frame in OkFrames(input))
        {
            run.RecordsChecked++;
            if (!Sources.Contains(frame))
            {
                run.Fail(seed, kind, $"Decode accepted a frame the generator never encoded: {Convert.ToHexString(frame)}");
            }
        }

        run.Decoded++;
    }

    private static List<byte[]> OkFrames(byte[] input)
    {
        var frames = new List<byte[]>();
        int offset = 0;
        try
        {
            while (offset < input.Length)
            {
                var d = WireFormat.Decode(input.AsSpan(offset));
                if (d.Status != DecodeStatus.Ok)
                {
                    break;
                }

                frames.Add(input[offset..(offset + d.BytesConsumed)]);
                offset += d.BytesConsumed;
            }
        }
        catch (InvalidFrameException)
        {
        }

        return frames;
    }

    private enum Outcome
    {
        Clean,
        Tail,
        Corrupt,
    }

    /// <summary>Scans with a reader, measuring allocation; returns the outcome and the record count.</summary>
    private static (Outcome Outcome, int Records, CorruptRecordException? Error, long Allocated) Scan(string dir)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        int records = 0;
        var it = RecordLogReader.Open(dir).ScanIter();
        try
        {
            foreach (var r in it)
            {
                records++;
            }
        }
        catch (CorruptRecordException e)
        {
            return (Outcome.Corrupt, records, e, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        return (it.RecoveryReport.TailTruncated > 0 ? Outcome.Tail : Outcome.Clean, records, null, allocated);
    }

    private static readonly byte[][] StoreFrames =
    [
        WireFormat.Encode(RecordType.Put, 1, "k"u8, "v"u8),
        WireFormat.Encode(RecordType.Delete, 9, "k"u8, default),
    ];

    private static void WriteStore(string dir, int seed, byte[] input)
    {
        foreach (var f in Directory.EnumerateFiles(dir))
        {
            File.Delete(f);
        }

        // Vary where the input sits: alone, as the last segment after a valid one, or as a sealed segment.
        switch (seed % 3)
        {
            case 0:
                File.WriteAllBytes(SegmentFiles.PathFor(dir, 1), input);
                break;
            case 1:
                File.WriteAllBytes(SegmentFiles.PathFor(dir, 1), StoreFrames[0]);
                File.WriteAllBytes(SegmentFiles.PathFor(dir, 2), input);
                break;
            default:
                File.WriteAllBytes(SegmentFiles.PathFor(dir, 1), input);
                File.WriteAllBytes(SegmentFiles.PathFor(dir, 2), StoreFrames[1]);
                break;
        }
    }

    private static void OnDisk(Run run, int seed, string kind, byte[] input, string dir, bool cli)
    {
        WriteStore(dir, seed, input);
        long size = Directory.EnumerateFiles(dir).Sum(f => new FileInfo(f).Length);
        run.Files++;

        (Outcome Outcome, int Records, CorruptRecordException? Error, long Allocated) scan;
        try
        {
            scan = Scan(dir);
        }
        catch (Exception e)
        {
            run.Fail(seed, kind, $"reader threw {e.GetType().FullName}: {e.Message}");
            return;
        }

        try
        {
            foreach (var record in RecordLogReader.Open(dir).ScanIter())
            {
                run.RecordsChecked++;
                if (!Sources.Contains(WireFormat.Encode(record.Type, record.TxId, record.Key.Span, record.Payload.Span)))
                {
                    run.Fail(seed, kind, $"the reader returned a record the generator never encoded: {record}");
                }
            }
        }
        catch (CorruptRecordException)
        {
        }

        long overhead = scan.Allocated - size - (PerRecord * scan.Records);
        run.MaxScanOverhead = Math.Max(run.MaxScanOverhead, overhead);
        if (overhead > run.FixedScanCost + Margin)
        {
            run.Fail(seed, kind, $"reader scan of {size} B ({scan.Records} records) allocated {scan.Allocated} B (fixed cost {run.FixedScanCost} B)");
        }

        Dictionary<string, string>? readOnlyItems = null;
        try
        {
            using var view = KvStore.OpenReadOnly(dir);
            if (scan.Outcome == Outcome.Corrupt)
            {
                run.Fail(seed, kind, "KvStore.OpenReadOnly opened a log the reader rejects");
            }

            readOnlyItems = Items(view);
        }
        catch (CorruptRecordException e) when (scan.Outcome == Outcome.Corrupt)
        {
            if (e.Segment != scan.Error!.Segment || e.Offset != scan.Error.Offset)
            {
                run.Fail(seed, kind, $"KvStore.OpenReadOnly reports {e.Segment}@{e.Offset}, the reader {scan.Error.Segment}@{scan.Error.Offset}");
            }
        }
        catch (Exception e)
        {
            run.Fail(seed, kind, $"KvStore.OpenReadOnly threw {e.GetType().FullName} (reader: {scan.Outcome}): {e.Message}");
        }

        if (cli)
        {
            RunCli(run, seed, kind, dir, scan.Outcome);
        }

        try
        {
            using var log = RecordLog.Open(dir);
            if (scan.Outcome == Outcome.Corrupt)
            {
                run.Fail(seed, kind, "the writer opened a log the reader rejects");
            }
            else if (log.RecoveryReport.RecordsReplayed != scan.Records)
            {
                run.Fail(seed, kind, $"writer recovered {log.RecoveryReport.RecordsReplayed} records, the reader {scan.Records}");
            }
        }
        catch (CorruptRecordException e) when (scan.Outcome == Outcome.Corrupt)
        {
            if (e.Segment != scan.Error!.Segment || e.Offset != scan.Error.Offset)
            {
                run.Fail(seed, kind, $"writer reports {e.Segment}@{e.Offset}, the reader {scan.Error.Segment}@{scan.Error.Offset}");
            }
        }
        catch (Exception e)
        {
            run.Fail(seed, kind, $"writer open threw {e.GetType().FullName} (reader: {scan.Outcome}): {e.Message}");
        }

        if (scan.Outcome != Outcome.Corrupt && readOnlyItems is not null)
        {
            // The writer's KV view (after its cut) equals the read-only one, and a put after it reads back.
            try
            {
                using var store = KvStore.Open(dir);
                var items = Items(store);
                if (!items.OrderBy(k => k.Key, StringComparer.Ordinal).SequenceEqual(readOnlyItems.OrderBy(k => k.Key, StringComparer.Ordinal)))
                {
                    run.Fail(seed, kind, $"KvStore.Open sees {items.Count} keys, KvStore.OpenReadOnly {readOnlyItems.Count}, or different values");
                }

                store.Put("fuzz-after"u8, "ok"u8);
                if (store.Get("fuzz-after"u8) is not { } v || !v.AsSpan().SequenceEqual("ok"u8))
                {
                    run.Fail(seed, kind, "a put after recovery does not read back");
                }
            }
            catch (Exception e)
            {
                run.Fail(seed, kind, $"KvStore.Open threw {e.GetType().FullName}: {e.Message}");
            }
        }
    }

    private static Dictionary<string, string> Items(KvStore store) =>
        store.Items().ToDictionary(kv => Convert.ToHexString(kv.Key), kv => Convert.ToHexString(kv.Value), StringComparer.Ordinal);

    private static void RunCli(Run run, int seed, string kind, string dir, Outcome outcome)
    {
        bool json = run.CliCalls % 8 == 4;   // every other store runs with --json
        foreach (var command in new[] { "scan", "verify", "report", "check" })
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code;
            try
            {
                code = DataWal.Cli.Program.Run(json ? ["--json", command, dir] : [command, dir], stdout, stderr);
            }
            catch (Exception e)
            {
                run.Fail(seed, kind, $"datawal {command} threw {e.GetType().FullName}: {e.Message}");
                continue;
            }

            run.CliCalls++;
            run.ExitCodes[code] = run.ExitCodes.GetValueOrDefault(code) + 1;
            string err = stderr.ToString();
            if (code is < 0 or > 3)
            {
                run.Fail(seed, kind, $"datawal {command} exited {code}");
            }

            if (err.Split('\n').Any(l => l.StartsWith("   at ", StringComparison.Ordinal)) || err.Contains("Exception:", StringComparison.Ordinal))
            {
                run.Fail(seed, kind, $"datawal {command} printed a stack trace or exception type: {err}");
            }

            if (code != 0 && string.IsNullOrWhiteSpace(err))
            {
                // Exit 2 (damaged tail) is explained on stdout by verify/report/check ("tail_truncated: 1");
                // scan explains it on stderr (pinned by Scan_exit_2_on_a_damaged_tail_has_a_message).
                if (!(code == 2 && (json ? stdout.ToString().Contains("\"tail_truncated\":1", StringComparison.Ordinal) : TextSaysTail(stdout.ToString()))))
                {
                    run.Fail(seed, kind, $"datawal {command} exited {code} without a message");
                }
            }

            if (command == "verify")
            {
                int expected = outcome switch { Outcome.Clean => 0, Outcome.Tail => 2, _ => 3 };
                if (code != expected)
                {
                    run.Fail(seed, kind, $"datawal verify exited {code}, the reader's outcome {outcome} means {expected}: {err.Trim()}");
                }
            }
        }
    }

    private static bool TextSaysTail(string stdout) =>
        stdout.Split('\n').Any(l => l.StartsWith("tail_truncated:", StringComparison.Ordinal) && l.TrimEnd().EndsWith(" 1", StringComparison.Ordinal));

    /// <summary>The reader's allocation for a tiny log after warm-up (iterator, handle, paths, report, one exception).</summary>
    private static long MeasureFixedScanCost(string dir)
    {
        long worst = 0;
        byte[][] probes =
        [
            [],
            WireFormat.Encode(RecordType.Put, 1, "k"u8, "v"u8),
            new byte[100],                                  // zero tail (rents the zero-check buffer)
            [.. WireFormat.Encode(RecordType.Put, 1, "k"u8, "v"u8), .. "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"u8], // structural error
        ];
        for (int round = 0; round < 3; round++)
        {
            foreach (var probe in probes)
            {
                WriteStore(dir, 0, probe);
                var s = Scan(dir);
                if (round == 2)
                {
                    worst = Math.Max(worst, s.Allocated - probe.Length - (PerRecord * s.Records));
                }
            }
        }

        return Math.Max(worst, 0);
    }

    private static void RunOne(Run run, int seed, string dir, bool onDisk, bool cli)
    {
        var input = Generate(seed, out string kind);
        run.Kinds[kind] = run.Kinds.GetValueOrDefault(kind) + 1;
        DecodeInMemory(run, seed, kind, input);
        if (onDisk)
        {
            OnDisk(run, seed, kind, input, dir, cli);
        }
    }

    /// <summary>Runs <paramref name="body"/> on its own thread; fails when one input takes longer than 5 s.</summary>
    private static void WithWatchdog(Run run, Action body)
    {
        Exception? crash = null;
        var worker = new Thread(() =>
        {
            try
            {
                body();
            }
            catch (Exception e)
            {
                crash = e;
            }
        })
        { IsBackground = true, Name = "fuzz worker" };
        worker.Start();
        while (!worker.Join(100))
        {
            var elapsed = Stopwatch.GetElapsedTime(Interlocked.Read(ref run.CurrentStart));
            if (elapsed > InputLimit)
            {
                Assert.Fail($"HANG: seed {Volatile.Read(ref run.CurrentSeed)} has been running for {elapsed.TotalSeconds:F1} s (limit {InputLimit.TotalSeconds} s)");
            }
        }

        Assert.That(crash, Is.Null, () => $"the fuzz loop itself failed: {crash}");
    }

    private static IEnumerable<int> RegressionSeeds()
    {
        string path = Path.Combine(TestContext.CurrentContext.TestDirectory, "regression-seeds.txt");
        foreach (var line in File.ReadAllLines(path))
        {
            string text = line.Split('#')[0].Trim();
            if (text.Length > 0)
            {
                yield return int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
            }
        }
    }

    private static void Report(Run run, string title)
    {
        TestContext.Out.WriteLine($"{title}: {run.Decoded} inputs decoded in memory, {run.Files} opened on disk (reader, RecordLog.Open, KvStore.OpenReadOnly, KvStore.Open), {run.CliCalls} CLI runs, {run.RecordsChecked} decoded records checked against the generated frames");
        TestContext.Out.WriteLine($"  kinds: {string.Join(", ", run.Kinds.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key}={k.Value}"))}");
        TestContext.Out.WriteLine($"  CLI exit codes: {string.Join(", ", run.ExitCodes.OrderBy(k => k.Key).Select(k => $"{k.Key}: {k.Value}"))}");
        TestContext.Out.WriteLine($"  worst in-memory decode allocation {run.MaxDecodeAlloc} B; reader fixed cost {run.FixedScanCost} B, worst overhead beyond file size + {PerRecord} B/record: {run.MaxScanOverhead} B (limit fixed + {Margin} B)");
    }

    [Test]
    public void Generated_hostile_inputs_only_raise_documented_exceptions_allocate_little_and_never_hang()
    {
        using var dir = new TempDir("fuzz");
        using var noSync = PowerLossRecorder.WithoutFsync();   // writer opens cut tails of throwaway stores
        var run = new Run();
        int inputs = Inputs;
        int fileEvery = FileEvery;
        int cliEvery = Math.Max(1, inputs / fileEvery / CliRuns);
        WithWatchdog(run, () =>
        {
            run.FixedScanCost = MeasureFixedScanCost(dir.Path);
            int files = 0;
            for (int seed = 0; seed < inputs; seed++)
            {
                Volatile.Write(ref run.CurrentSeed, seed);
                Interlocked.Exchange(ref run.CurrentStart, Stopwatch.GetTimestamp());
                bool onDisk = seed % fileEvery == 0;
                bool cli = onDisk && files++ % cliEvery == 0 && run.CliCalls < CliRuns * 4L;
                RunOne(run, seed, dir.Path, onDisk, cli);
            }
        });

        Report(run, "hostile input fuzz");
        Assert.That(run.Failures, Is.Empty, string.Join("\n", run.Failures));
        Assert.That(run.Decoded, Is.EqualTo(inputs));
        Assert.That(run.Kinds, Has.Count.EqualTo(10), "every generator kind ran");
        Assert.That(run.ExitCodes.Keys, Is.SupersetOf(new[] { 0, 2, 3 }), "the CLI met clean, damaged-tail and corrupt stores");
    }

    [Test]
    public void Regression_seeds_run_with_every_check()
    {
        using var dir = new TempDir("fuzz-regress");
        using var noSync = PowerLossRecorder.WithoutFsync();
        var run = new Run();
        var seeds = RegressionSeeds().ToList();
        Assert.That(seeds, Is.Not.Empty);
        WithWatchdog(run, () =>
        {
            run.FixedScanCost = MeasureFixedScanCost(dir.Path);
            foreach (int seed in seeds)
            {
                Volatile.Write(ref run.CurrentSeed, seed);
                Interlocked.Exchange(ref run.CurrentStart, Stopwatch.GetTimestamp());
                RunOne(run, seed, dir.Path, onDisk: true, cli: true);
            }
        });

        Report(run, $"regression seeds ({seeds.Count})");
        Assert.That(run.Failures, Is.Empty, string.Join("\n", run.Failures));
    }

    [Test]
    public void Scan_exit_2_on_a_damaged_tail_has_a_message()
    {
        using var dir = new TempDir("fuzz-scan-tail");
        File.WriteAllBytes(SegmentFiles.PathFor(dir.Path, 1), new byte[50]);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = DataWal.Cli.Program.Run(["scan", dir.Path], stdout, stderr);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr.ToString() + stdout.ToString(), Does.Contain("tail"), "exit 2 needs a message saying the tail is damaged");
    }

    [Test]
    public void A_header_claiming_64_MiB_in_a_100_byte_file_allocates_less_than_1_MiB_anywhere()
    {
        using var dir = new TempDir("fuzz-64m");
        using var noSync = PowerLossRecorder.WithoutFsync();
        var r = new Random(64);
        var file = new byte[100];
        Header(r, 3, WireFormat.MaxPayloadLength).CopyTo(file, 0);
        r.NextBytes(file.AsSpan(WireFormat.HeaderLength));
        var key = (byte[])file.Clone();
        Header(r, WireFormat.MaxKeyLength, WireFormat.MaxPayloadLength).CopyTo(key, 0);
        const long OneMiB = 1024 * 1024;
        foreach (var input in new[] { file, key })
        {
            for (int round = 0; round < 2; round++)   // the second round is measured (warm pools)
            {
                long a = GC.GetAllocatedBytesForCurrentThread();
                var d = WireFormat.Decode(input);
                long decode = GC.GetAllocatedBytesForCurrentThread() - a;
                Assert.That(d.Status, Is.EqualTo(DecodeStatus.Truncated));
                Assert.That(decode, Is.LessThan(OneMiB));

                WriteStore(dir.Path, 0, input);
                var scan = Scan(dir.Path);
                Assert.That(scan.Outcome, Is.EqualTo(Outcome.Tail));
                Assert.That(scan.Allocated, Is.LessThan(OneMiB), "reader scan");

                a = GC.GetAllocatedBytesForCurrentThread();
                using (var view = KvStore.OpenReadOnly(dir.Path))
                {
                    Assert.That(view.Count, Is.Zero);
                }

                long kv = GC.GetAllocatedBytesForCurrentThread() - a;
                Assert.That(kv, Is.LessThan(OneMiB), "KvStore.OpenReadOnly");

                a = GC.GetAllocatedBytesForCurrentThread();
                using (var log = RecordLog.Open(dir.Path))
                {
                    Assert.That(log.RecoveryReport.TailCut, Is.True);
                }

                long writer = GC.GetAllocatedBytesForCurrentThread() - a;
                Assert.That(writer, Is.LessThan(OneMiB), "RecordLog.Open");
                if (round == 1)
                {
                    TestContext.Out.WriteLine($"64 MiB header in {input.Length} B: decode {decode} B, reader {scan.Allocated} B, KvStore.OpenReadOnly {kv} B, RecordLog.Open {writer} B allocated");
                }
            }
        }
    }
}
