using System.Diagnostics;
using System.Globalization;
using DataWal.Core;
using DataWal.Kv;

namespace DataWal.Benchmarks;

/// <summary>
/// Group-commit figures of the "measure" mode: N concurrent writers (1, 4, 16, 64) hammering one log for a
/// fixed duration per point, each measuring every operation's latency (from before the append to after its
/// durability wait returned) into its own preallocated array; percentiles are computed afterwards over all
/// writers' samples. Mean batch = operations / <see cref="RecordLog.FsyncCount"/> delta over the point.
/// </summary>
internal static class GroupCommit
{
    /// <summary>Payload of the record-log variants and value size of the KV variant.</summary>
    public const int PayloadBytes = 100;

    /// <summary>The writer counts of the sweep.</summary>
    public static readonly int[] WriterCounts = [1, 4, 16, 64];

    /// <summary>Upper bound of samples kept per point (all writers together), per second of duration.</summary>
    private const long SamplesPerSecondCap = 2_000_000;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>What the writers do.</summary>
    public enum Variant
    {
        /// <summary>Manual durability: threads each doing <c>Append</c> then <c>Fsync</c>.</summary>
        AppendThenFsync,

        /// <summary><see cref="DurabilityMode.EveryAppend"/>: threads each doing a plain (blocking) <c>Append</c>.</summary>
        EveryAppendSync,

        /// <summary><see cref="DurabilityMode.EveryAppend"/>: tasks each awaiting <c>AppendAsync</c>.</summary>
        EveryAppendAsync,

        /// <summary><see cref="DurabilityMode.EveryAppend"/> KV store: tasks each awaiting <c>KvStore.PutAsync</c> of a new key.</summary>
        KvPutAsync,

        /// <summary><see cref="DurabilityMode.Grouped"/>: threads each doing a plain <c>Append</c> (not durable on return).</summary>
        Grouped,
    }

    /// <summary>One measured point.</summary>
    public sealed record Point(
        Variant Variant,
        int Writers,
        long Ops,
        double Seconds,
        long Fsyncs,
        double P50Micros,
        double P99Micros,
        double CpuPercent,
        bool Capped)
    {
        public double OpsPerSecond => Ops / Seconds;

        public double MeanBatch => Fsyncs == 0 ? double.NaN : (double)Ops / Fsyncs;
    }

    /// <summary>Grouped mode's interval for the Grouped point.</summary>
    public static readonly TimeSpan GroupedInterval = TimeSpan.FromMilliseconds(2);

    /// <summary>The whole sweep, each point in a fresh directory under <paramref name="root"/> (deleted after).</summary>
    public static List<Point> RunAll(string root, double seconds, Action<string> progress)
    {
        // Warm-up: every variant once, briefly, so the timed points see optimized code.
        foreach (var variant in Enum.GetValues<Variant>())
        {
            RunPoint(root, variant, 4, 0.3);
        }

        Thread.Sleep(300);
        var points = new List<Point>();
        foreach (var variant in new[] { Variant.AppendThenFsync, Variant.EveryAppendSync, Variant.EveryAppendAsync })
        {
            foreach (int writers in WriterCounts)
            {
                var p = RunPoint(root, variant, writers, seconds);
                points.Add(p);
                progress(Describe(p));
            }
        }

        foreach (var (variant, writers) in new[] { (Variant.KvPutAsync, 16), (Variant.Grouped, 16) })
        {
            var p = RunPoint(root, variant, writers, seconds);
            points.Add(p);
            progress(Describe(p));
        }

        return points;
    }

    private static string Describe(Point p) => string.Create(Inv,
        $"# group commit {Label(p.Variant)}, {p.Writers} writers: {p.OpsPerSecond / 1e3:F1} k ops/s, p50 {p.P50Micros:F0} µs, p99 {p.P99Micros:F0} µs, {p.MeanBatch:F1} ops/fsync");

    /// <summary>A short label of the variant.</summary>
    public static string Label(Variant v) => v switch
    {
        Variant.AppendThenFsync => "Manual: Append + Fsync (threads)",
        Variant.EveryAppendSync => "EveryAppend: Append (threads)",
        Variant.EveryAppendAsync => "EveryAppend: await AppendAsync (tasks)",
        Variant.KvPutAsync => "EveryAppend KV: await PutAsync, new 16 B keys (tasks)",
        Variant.Grouped => $"Grouped {GroupedInterval.TotalMilliseconds:F0} ms: Append (threads) — **not durable on return**",
        _ => v.ToString(),
    };

    /// <summary>Runs one point on a fresh log or store and deletes it afterwards.</summary>
    public static Point RunPoint(string root, Variant variant, int writers, double seconds)
    {
        string dir = Path.Combine(root, string.Create(Inv, $"gc-{variant}-{writers}-{Guid.NewGuid():N}"));
        try
        {
            var logOptions = new RecordLogOptions
            {
                Durability = variant switch
                {
                    Variant.AppendThenFsync => DurabilityMode.Manual,
                    Variant.Grouped => DurabilityMode.Grouped,
                    _ => DurabilityMode.EveryAppend,
                },
                GroupCommitInterval = GroupedInterval,
            };
            int perWriterCap = (int)Math.Min(int.MaxValue / 2, Math.Max(1024, SamplesPerSecondCap * seconds / writers));
            var payload = BenchEnv.Filled(PayloadBytes, BenchEnv.PayloadFill);
            if (variant == Variant.KvPutAsync)
            {
                using var store = KvStore.Open(dir, new KvStoreOptions { Log = logOptions });
                store.Fsync();
                return Measure(variant, writers, seconds, perWriterCap, () => store.Log.FsyncCount, null, store, payload);
            }

            using var log = RecordLog.Open(dir, logOptions);
            log.Fsync();
            return Measure(variant, writers, seconds, perWriterCap, () => log.FsyncCount, log, null, payload);
        }
        finally
        {
            BenchEnv.DeleteDir(dir);
        }
    }

    private static Point Measure(Variant variant, int writers, double seconds, int perWriterCap, Func<long> fsyncCount, RecordLog? log, KvStore? store, byte[] payload)
    {
        var samples = new long[writers][];
        var counts = new int[writers];
        for (int w = 0; w < writers; w++)
        {
            samples[w] = new long[perWriterCap];
            samples[w].AsSpan().Clear();   // touch the pages now, not during the run
        }

        ForceGc();
        long durationTicks = (long)(seconds * Stopwatch.Frequency);
        long fsyncsBefore = fsyncCount();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        long start;
        long end;
        if (variant is Variant.EveryAppendAsync or Variant.KvPutAsync)
        {
            var go = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            var tasks = new Task[writers];
            for (int w = 0; w < writers; w++)
            {
                int id = w;
                tasks[w] = Task.Run(async () =>
                {
                    long deadline = await go.Task.ConfigureAwait(false);
                    counts[id] = await AsyncWriter(id, deadline, samples[id], log, store, payload).ConfigureAwait(false);
                });
            }

            start = Stopwatch.GetTimestamp();
            go.SetResult(start + durationTicks);
            Task.WaitAll(tasks);
            end = Stopwatch.GetTimestamp();
        }
        else
        {
            using var ready = new CountdownEvent(writers);
            using var go = new ManualResetEventSlim(false);
            long deadline = 0;
            var threads = new Thread[writers];
            for (int w = 0; w < writers; w++)
            {
                int id = w;
                threads[w] = new Thread(() =>
                {
                    ready.Signal();
                    go.Wait();
                    counts[id] = SyncWriter(variant, Volatile.Read(ref deadline), samples[id], log!, payload);
                })
                {
                    IsBackground = true,
                    Name = $"gc-writer-{id}",
                };
                threads[w].Start();
            }

            ready.Wait();
            start = Stopwatch.GetTimestamp();
            Volatile.Write(ref deadline, start + durationTicks);
            go.Set();
            foreach (var t in threads)
            {
                t.Join();
            }

            end = Stopwatch.GetTimestamp();
        }

        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        long fsyncs = fsyncCount() - fsyncsBefore;
        double wall = (double)(end - start) / Stopwatch.Frequency;

        long total = counts.Sum(c => (long)c);
        var all = new long[total];
        long at = 0;
        bool capped = false;
        for (int w = 0; w < writers; w++)
        {
            Array.Copy(samples[w], 0, all, at, counts[w]);
            at += counts[w];
            capped |= counts[w] == perWriterCap;
        }

        Array.Sort(all);
        double toMicros = 1e6 / Stopwatch.Frequency;
        double p50 = total == 0 ? double.NaN : Nearest(all, 0.50) * toMicros;
        double p99 = total == 0 ? double.NaN : Nearest(all, 0.99) * toMicros;
        double cpuPercent = 100.0 * cpu.TotalSeconds / wall / Environment.ProcessorCount;
        return new Point(variant, writers, total, wall, fsyncs, p50, p99, cpuPercent, capped);
    }

    private static long Nearest(long[] sorted, double p)
    {
        long index = (long)Math.Clamp(Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1);
        return sorted[index];
    }

    /// <summary>One writer thread: operations until the deadline (or until its sample array is full).</summary>
    private static int SyncWriter(Variant variant, long deadline, long[] samples, RecordLog log, byte[] payload)
    {
        int n = 0;
        bool fsync = variant == Variant.AppendThenFsync;
        while (n < samples.Length)
        {
            long t0 = Stopwatch.GetTimestamp();
            if (t0 >= deadline)
            {
                break;
            }

            log.Append(payload);
            if (fsync)
            {
                log.Fsync();
            }

            samples[n++] = Stopwatch.GetTimestamp() - t0;
        }

        return n;
    }

    /// <summary>One writer task: awaited appends (or KV puts of new keys) until the deadline.</summary>
    private static async Task<int> AsyncWriter(int id, long deadline, long[] samples, RecordLog? log, KvStore? store, byte[] payload)
    {
        int n = 0;
        var key = new byte[BenchEnv.KeyLength];
        ReadOnlyMemory<byte> value = payload;
        long sequence = (long)id << 40;   // disjoint key ranges per writer: every put adds a new key
        while (n < samples.Length)
        {
            long t0 = Stopwatch.GetTimestamp();
            if (t0 >= deadline)
            {
                break;
            }

            if (log is not null)
            {
                await log.AppendAsync(value).ConfigureAwait(false);
            }
            else
            {
                BenchEnv.WriteKey(key, sequence++);
                await store!.PutAsync(key, value).ConfigureAwait(false);   // the key is copied before the first await
            }

            samples[n++] = Stopwatch.GetTimestamp() - t0;
        }

        return n;
    }

    /// <summary>Prints the sweep as a markdown table.</summary>
    public static void PrintTable(TextWriter output, IReadOnlyList<Point> points, double seconds)
    {
        output.WriteLine(string.Create(Inv, $"Group commit: {PayloadBytes} B records, {seconds:0.#} s per point, one log per point; latency = before the append → after the durability wait returned."));
        output.WriteLine();
        output.WriteLine("| Variant | Writers | durable ops/s | p50 commit latency | p99 commit latency | data fsyncs | mean batch (ops / fsync) | CPU (of 2 cores) |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var p in points)
        {
            bool durable = p.Variant != Variant.Grouped;
            string rate = durable ? Rate(p.OpsPerSecond) : Rate(p.OpsPerSecond) + " (appends, not durable)";
            string batch = double.IsNaN(p.MeanBatch) ? "—" : string.Create(Inv, $"{p.MeanBatch:F1}");
            string capped = p.Capped ? " (sample cap reached)" : "";
            output.WriteLine(string.Create(Inv,
                $"| {Label(p.Variant)} | {p.Writers} | {rate}{capped} | {Micros(p.P50Micros)} | {Micros(p.P99Micros)} | {p.Fsyncs:N0} | {batch} | {p.CpuPercent:F0} % |"));
        }

        output.WriteLine();
        output.WriteLine("Grouped row: latency is the append alone (the record is durable within the interval, not on return); its batch column is records per background fsync.");
    }

    private static string Rate(double perSecond) => perSecond >= 1e6
        ? string.Create(Inv, $"{perSecond / 1e6:F2} M/s")
        : string.Create(Inv, $"{perSecond / 1e3:F1} k/s");

    private static string Micros(double micros) => micros >= 1000
        ? string.Create(Inv, $"{micros / 1000:F2} ms")
        : string.Create(Inv, $"{micros:F0} µs");

    private static void ForceGc()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
