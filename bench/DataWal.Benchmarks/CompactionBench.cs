using System.Diagnostics;
using System.Globalization;
using DataWal.Core;
using DataWal.Kv;

namespace DataWal.Benchmarks;

/// <summary>
/// "compaction" mode. The parent builds one store: N keys (default 1,000,000; 16 B keys, 100 B values) written twice,
/// so half the bytes are dead, fsynced. Then three fresh child processes (<c>compaction-child WHAT DIR</c>), in order:
/// <list type="number">
/// <item><c>compact-to</c>: open, then time <see cref="KvStore.CompactTo"/> into a new directory beside it; peak RSS
/// (VmHWM reset through /proc/self/clear_refs after the open) — the source is left as it was.</item>
/// <item><c>compact</c>: open, then time <see cref="KvStore.Compact"/> in place; same peak RSS measurement.</item>
/// <item><c>throughput</c>: open the (now compacted) store, overwrite every key once so half the bytes are dead again,
/// then single-threaded random overwrites (<see cref="KvStore.Put(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>, <see cref="DurabilityMode.Manual"/>, no fsync):
/// S seconds without a compaction, then while a <see cref="KvStore.CompactAsync"/> runs (until it completes), then as
/// long again without. Puts/s and the longest single put of each phase.</item>
/// </list>
/// </summary>
internal static class CompactionBench
{
    public const string Mode = "compaction";
    public const string ChildMode = "compaction-child";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        int keys = 1_000_000;
        int valueBytes = 100;
        double seconds = 5;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--keys" && i + 1 < args.Length)
            {
                keys = int.Parse(args[++i].Replace("_", "", StringComparison.Ordinal).Replace(",", "", StringComparison.Ordinal), Inv);
            }
            else if (args[i] == "--value-bytes" && i + 1 < args.Length)
            {
                valueBytes = int.Parse(args[++i], Inv);
            }
            else if (args[i] == "--seconds" && i + 1 < args.Length)
            {
                seconds = double.Parse(args[++i], Inv);
            }
            else
            {
                Console.Error.WriteLine($"usage: compaction [--keys N] [--value-bytes B] [--seconds S]   (unknown argument '{args[i]}')");
                return 2;
            }
        }

        BenchEnv.PrintHeader(Console.Out);
        Console.WriteLine($"# compaction: {keys:N0} keys of {BenchEnv.KeyLength} B, values {valueBytes} B, each written twice; load average at start: {BenchEnv.LoadAverage()}");
        string root = BenchEnv.NewDir("compaction");
        string storeDir = Path.Combine(root, "store");
        try
        {
            long start = Stopwatch.GetTimestamp();
            using (var store = KvStore.Open(storeDir))
            {
                var value = BenchEnv.Filled(valueBytes, BenchEnv.ValueFill);
                var key = new byte[BenchEnv.KeyLength];
                for (int pass = 0; pass < 2; pass++)
                {
                    value[0] = (byte)pass;
                    for (int k = 0; k < keys; k++)
                    {
                        BenchEnv.WriteKey(key, k);
                        store.Put(key, value);
                    }
                }

                store.Fsync();
                Console.WriteLine(string.Create(Inv, $"# built in {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s: {ProcStats.Mib(ProcStats.DirectoryBytes(storeDir))} MiB in {ProcStats.SegmentCount(storeDir)} segment(s), live {ProcStats.Mib(store.LiveBytes)} MiB"));
            }

            var to = RunChild("compact-to", storeDir, seconds);
            Console.WriteLine($"# compact-to done: {to["elapsed_s"]} s");
            var inPlace = RunChild("compact", storeDir, seconds);
            Console.WriteLine($"# compact done: {inPlace["elapsed_s"]} s");
            var tp = RunChild("throughput", storeDir, seconds);
            Console.WriteLine("# throughput done");
            Console.WriteLine($"# load average at end: {BenchEnv.LoadAverage()}");

            Console.WriteLine();
            Console.WriteLine(string.Create(Inv, $"| Figure ({keys:N0} keys × 2 writes, {BenchEnv.KeyLength} B keys, {valueBytes} B values; each row a fresh process) | Value | Notes |"));
            Console.WriteLine("|---|---:|---|");
            Console.WriteLine($"| `CompactTo` a new directory (same disk) | {to["elapsed_s"]} s | {to["live_keys"]} keys, {Mib(to["bytes_written"])} MiB written from {Mib(to["bytes_before"])} MiB; fsynced |");
            Console.WriteLine($"| peak RSS during `CompactTo` (VmHWM, reset after open) | {KbMib(to["hwm_kb"])} MiB | RSS after open {KbMib(to["rss_open_kb"])} MiB (+{KbMib(long.Parse(to["hwm_kb"], Inv) - long.Parse(to["rss_open_kb"], Inv))} MiB); GC heap after {Mib(to["heap_after"])} MiB |");
            Console.WriteLine($"| `Compact()` in place | {inPlace["elapsed_s"]} s | {inPlace["live_keys"]} keys, {inPlace["segments_compacted"]} segments → 1, {Mib(inPlace["bytes_before"])} → {Mib(inPlace["bytes_after"])} MiB; result.Elapsed {inPlace["result_elapsed_s"]} s |");
            Console.WriteLine($"| peak RSS during `Compact()` (VmHWM, reset after open) | {KbMib(inPlace["hwm_kb"])} MiB | RSS after open {KbMib(inPlace["rss_open_kb"])} MiB (+{KbMib(long.Parse(inPlace["hwm_kb"], Inv) - long.Parse(inPlace["rss_open_kb"], Inv))} MiB); GC heap after {Mib(inPlace["heap_after"])} MiB |");
            Console.WriteLine($"| puts/s, no compaction (before) | {Rate(tp["before_rate"])} | {tp["before_puts"]} random overwrites in {tp["before_s"]} s; longest put {tp["before_max_ms"]} ms (at {tp["before_max_at_s"]} s into the phase) |");
            Console.WriteLine($"| puts/s while `CompactAsync` runs | {Rate(tp["during_rate"])} | {tp["during_puts"]} puts in {tp["during_s"]} s (the compaction's duration: {tp["compact_keys"]} keys, {Mib(tp["compact_bytes_before"])} → {Mib(tp["compact_bytes_after"])} MiB); longest put {tp["during_max_ms"]} ms (at {tp["during_max_at_s"]} s into the phase) |");
            Console.WriteLine($"| puts/s, no compaction (after) | {Rate(tp["after_rate"])} | {tp["after_puts"]} puts in {tp["after_s"]} s; longest put {tp["after_max_ms"]} ms (at {tp["after_max_at_s"]} s into the phase) |");
        }
        finally
        {
            BenchEnv.DeleteDir(root);
        }

        return 0;
    }

    private static string Mib(string bytes) => ProcStats.Mib(long.Parse(bytes, Inv));

    private static string KbMib(string kb) => KbMib(long.Parse(kb, Inv));

    private static string KbMib(long kb) => string.Create(Inv, $"{kb / 1024.0:F1}");

    private static string Rate(string perSecond) => string.Create(Inv, $"{double.Parse(perSecond, Inv) / 1e6:F3} M/s");

    private static Dictionary<string, string> RunChild(string what, string storeDir, double seconds) =>
        ChildProcess.Run(ChildMode, what, storeDir, seconds.ToString("R", Inv));

    /// <summary>The child: <c>compact-to DIR S</c>, <c>compact DIR S</c> or <c>throughput DIR S</c>; prints name=value lines.</summary>
    public static int RunChild(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine($"usage: {ChildMode} compact-to|compact|throughput DIR SECONDS");
            return 2;
        }

        string dir = args[1];
        double seconds = double.Parse(args[2], Inv);
        using var store = KvStore.Open(dir);
        switch (args[0])
        {
            case "compact-to":
                {
                    string outDir = dir + ".compacted";
                    long before = ProcStats.DirectoryBytes(dir);
                    var (elapsed, rssOpen, hwm) = Measured(() => store.CompactTo(outDir), out var stats);
                    Emit("elapsed_s", elapsed.ToString("F2", Inv));
                    Emit("live_keys", stats.LiveKeys.ToString("N0", Inv));
                    Emit("bytes_written", stats.BytesWritten);
                    Emit("bytes_before", before);
                    Emit("rss_open_kb", rssOpen);
                    Emit("hwm_kb", hwm);
                    Emit("heap_after", GC.GetTotalMemory(false));
                    BenchEnv.DeleteDir(outDir);
                    return 0;
                }

            case "compact":
                {
                    var (elapsed, rssOpen, hwm) = Measured(store.Compact, out var result);
                    Emit("elapsed_s", elapsed.ToString("F2", Inv));
                    Emit("result_elapsed_s", result.Elapsed.TotalSeconds.ToString("F2", Inv));
                    Emit("live_keys", result.LiveKeys.ToString("N0", Inv));
                    Emit("segments_compacted", result.SegmentsCompacted);
                    Emit("bytes_before", result.BytesBefore);
                    Emit("bytes_after", result.BytesAfter);
                    Emit("rss_open_kb", rssOpen);
                    Emit("hwm_kb", hwm);
                    Emit("heap_after", GC.GetTotalMemory(false));
                    return 0;
                }

            case "throughput":
                return Throughput(store, seconds);

            default:
                Console.Error.WriteLine($"{ChildMode}: unknown '{args[0]}'");
                return 2;
        }
    }

    /// <summary>GC, RSS after open, VmHWM reset, the action timed, VmHWM after.</summary>
    private static (double Seconds, long RssOpenKb, long HwmKb) Measured<T>(Func<T> action, out T result)
    {
        ProcStats.ForceGc();
        long rssOpen = ProcStats.StatusKb("VmRSS");
        if (!ProcStats.ResetPeakRss())
        {
            Console.Error.WriteLine("warning: could not reset VmHWM; the peak includes the open");
        }

        long start = Stopwatch.GetTimestamp();
        result = action();
        double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (elapsed, rssOpen, ProcStats.StatusKb("VmHWM"));
    }

    private static int Throughput(KvStore store, double seconds)
    {
        int keys = store.Count;
        var key = new byte[BenchEnv.KeyLength];
        var value = BenchEnv.Filled(100, BenchEnv.ValueFill);
        value[0] = 2;
        for (int k = 0; k < keys; k++)
        {
            BenchEnv.WriteKey(key, k);
            store.Put(key, value);
        }

        store.Fsync();
        var rng = new Random(14);
        value[0] = 3;

        // Warm-up of the random-put loop (the overwrite pass above ran the put path too).
        Phase(store, rng, keys, value, TimeSpan.FromSeconds(1), null);
        ProcStats.ForceGc();

        var before = Phase(store, rng, keys, value, TimeSpan.FromSeconds(seconds), null);
        var during = Phase(store, rng, keys, value, TimeSpan.MaxValue, () => store.CompactAsync());
        var compacted = during.Compaction!;
        var after = Phase(store, rng, keys, value, TimeSpan.FromSeconds(during.Seconds), null);
        store.Fsync();

        EmitPhase("before", before);
        EmitPhase("during", during);
        EmitPhase("after", after);
        Emit("compact_keys", compacted.LiveKeys.ToString("N0", Inv));
        Emit("compact_bytes_before", compacted.BytesBefore);
        Emit("compact_bytes_after", compacted.BytesAfter);
        return 0;
    }

    private readonly record struct PhaseResult(long Puts, double Seconds, double MaxMillis, double MaxAtSeconds, KvCompactionResult? Compaction);

    /// <summary>
    /// Random overwrites for <paramref name="duration"/>, or, given <paramref name="background"/>, from its start until its
    /// task completes (checked every 256 puts).
    /// </summary>
    private static PhaseResult Phase(KvStore store, Random rng, int keys, byte[] value, TimeSpan duration, Func<Task<KvCompactionResult>>? background)
    {
        var key = new byte[BenchEnv.KeyLength];
        long puts = 0;
        long maxTicks = 0;
        long maxAt = 0;
        long start = Stopwatch.GetTimestamp();
        var task = background?.Invoke();
        while (true)
        {
            for (int i = 0; i < 256; i++)
            {
                BenchEnv.WriteKey(key, rng.Next(keys));
                long t = Stopwatch.GetTimestamp();
                store.Put(key, value);
                long took = Stopwatch.GetTimestamp() - t;
                if (took > maxTicks)
                {
                    maxTicks = took;
                    maxAt = t - start;
                }
            }

            puts += 256;
            if (task is not null ? task.IsCompleted : Stopwatch.GetElapsedTime(start) >= duration)
            {
                break;
            }
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new(puts, seconds, maxTicks * 1000.0 / Stopwatch.Frequency, (double)maxAt / Stopwatch.Frequency, task?.GetAwaiter().GetResult());
    }

    private static void EmitPhase(string name, PhaseResult p)
    {
        Emit(name + "_puts", p.Puts.ToString("N0", Inv));
        Emit(name + "_s", p.Seconds.ToString("F2", Inv));
        Emit(name + "_rate", (p.Puts / p.Seconds).ToString("R", Inv));
        Emit(name + "_max_ms", p.MaxMillis.ToString("F1", Inv));
        Emit(name + "_max_at_s", p.MaxAtSeconds.ToString("F2", Inv));
    }

    private static void Emit(string name, object value) => ChildProcess.Emit(name, value);
}
