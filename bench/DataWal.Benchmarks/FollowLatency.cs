using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using DataWal.Core;

namespace DataWal.Benchmarks;

/// <summary>
/// "follow-latency" mode: append→yield latency of <see cref="RecordLogReader.FollowAsync"/>. A writer appends
/// records whose payload starts with <see cref="Stopwatch.GetTimestamp"/> taken right before the append (on
/// Linux CLOCK_MONOTONIC, comparable across processes) and its sequence number; a follower started at
/// <see cref="FollowPosition.Now"/> takes the clock again as each record is yielded. Appends are paced (one
/// every <c>--interval-us</c>, default 1000 µs, slept with Thread.Sleep(1), so ≈ 1.08 ms) so each figure is one wake-up, not a queue; the burst rows append
/// back to back and measure throughput (their latency is queueing). The cross-process writer is this program
/// re-launched as <c>follow-latency-writer DIR COUNT INTERVAL_US</c>. Prints a markdown table; asserts nothing.
/// </summary>
internal static class FollowLatency
{
    public const string Mode = "follow-latency";
    public const string WriterChildMode = "follow-latency-writer";

    private const int PayloadBytes = 64;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static readonly TimeSpan RowTimeout = TimeSpan.FromSeconds(60);

    private sealed record Row(string Name, string Writer, string Follower, string Pacing, Stats Stats);

    private sealed record Stats(int Samples, int Missing, double P50, double P90, double P99, double Max, double RecordsPerSecond, double WriterPerSecond = 0);

    private sealed record Settings(int Samples, int WarmUp, int IntervalMicros, int Burst, int DurableSamples);

    public static int Run(string[] args)
    {
        int samples = 2000;
        int intervalMicros = 1000;
        int burst = 100_000;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--samples" && i + 1 < args.Length)
            {
                samples = int.Parse(args[++i], Inv);
            }
            else if (args[i] == "--interval-us" && i + 1 < args.Length)
            {
                intervalMicros = int.Parse(args[++i], Inv);
            }
            else if (args[i] == "--burst" && i + 1 < args.Length)
            {
                burst = int.Parse(args[++i], Inv);
            }
            else
            {
                Console.Error.WriteLine($"usage: {Mode} [--samples N] [--interval-us U] [--burst N]   (unknown argument '{args[i]}')");
                return 2;
            }
        }

        if (samples < 1 || intervalMicros < 1 || burst < 1)
        {
            Console.Error.WriteLine($"usage: {Mode} [--samples N] [--interval-us U] [--burst N]   (all positive)");
            return 2;
        }

        var settings = new Settings(samples, WarmUp: Math.Max(500, samples / 4), intervalMicros, burst, DurableSamples: Math.Min(samples, 1000));
        BenchEnv.PrintHeader(Console.Out);
        Console.WriteLine(string.Create(Inv, $"# {Mode}: {samples:N0} paced samples per row (one append every {intervalMicros} µs, after {settings.WarmUp} warm-up records), bursts of {burst:N0}, {PayloadBytes} B payloads"));
        string root = BenchEnv.NewDir("follow-latency");
        Directory.CreateDirectory(root);
        var rows = new List<Row>();
        string paced = string.Create(Inv, $"1 per {intervalMicros} µs");
        var total = Stopwatch.StartNew();
        try
        {
            // Untimed: JIT the writer, follower and scanner paths before the first measured row.
            WarmUp(Path.Combine(root, "warmup"));

            Add(rows, "same process", "Manual", "default", paced,
                InProcess(Path.Combine(root, "inproc"), DurabilityMode.Manual, new FollowOptions(), settings, intervalMicros));
            Add(rows, "same process", "EveryAppend (fsync each)", "DurableOnly", paced,
                InProcess(Path.Combine(root, "inproc-durable"), DurabilityMode.EveryAppend, new FollowOptions { DurableOnly = true }, settings with { Samples = settings.DurableSamples }, intervalMicros));
            Add(rows, "same process, burst", "Manual", "default", "back to back",
                InProcess(Path.Combine(root, "inproc-burst"), DurabilityMode.Manual, new FollowOptions(), settings with { Samples = burst }, intervalMicros: 0));
            Add(rows, "other process", "Manual", "WatchFileSystem (inotify), poll 250 ms", paced,
                CrossProcess(Path.Combine(root, "xproc-watch"), new FollowOptions(), settings, intervalMicros));
            Add(rows, "other process", "Manual", "no watch, PollInterval 1 ms", paced,
                CrossProcess(Path.Combine(root, "xproc-poll1"), new FollowOptions { WatchFileSystem = false, PollInterval = TimeSpan.FromMilliseconds(1) }, settings, intervalMicros));
            Add(rows, "other process", "Manual", "no watch, PollInterval 10 ms", paced,
                CrossProcess(Path.Combine(root, "xproc-poll10"), new FollowOptions { WatchFileSystem = false, PollInterval = TimeSpan.FromMilliseconds(10) }, settings, intervalMicros));
            Add(rows, "other process, burst", "Manual", "WatchFileSystem (inotify), poll 250 ms", "back to back",
                CrossProcess(Path.Combine(root, "xproc-burst"), new FollowOptions(), settings with { Samples = burst }, intervalMicros: 0));
        }
        finally
        {
            BenchEnv.DeleteDir(root);
        }

        Console.WriteLine(string.Create(Inv, $"# {Mode} done in {total.Elapsed.TotalSeconds:F1} s"));
        Console.WriteLine();
        Console.WriteLine("| Writer → follower | Writer durability | Follower options | Appends | Samples | p50 µs | p90 µs | p99 µs | max µs | yielded records/s | writer appends/s |");
        Console.WriteLine("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows)
        {
            var s = row.Stats;
            string samplesText = s.Missing == 0 ? s.Samples.ToString("N0", Inv) : string.Create(Inv, $"{s.Samples:N0} ({s.Missing:N0} missing)");
            Console.WriteLine(string.Create(Inv,
                $"| {row.Name} | {row.Writer} | {row.Follower} | {row.Pacing} | {samplesText} | {s.P50:F0} | {s.P90:F0} | {s.P99:F0} | {s.Max:F0} | {Rate(s.RecordsPerSecond)} | {Rate(s.WriterPerSecond)} |"));
        }

        return 0;
    }

    private static void Add(List<Row> rows, string name, string writer, string follower, string pacing, Stats stats)
    {
        var row = new Row(name, writer, follower, pacing, stats);
        rows.Add(row);
        Console.WriteLine(string.Create(Inv,
            $"# {name} / {writer} / {follower}: p50 {stats.P50:F0} µs, p90 {stats.P90:F0} µs, p99 {stats.P99:F0} µs, max {stats.Max:F0} µs, {Rate(stats.RecordsPerSecond)} yielded, writer {Rate(stats.WriterPerSecond)}"));
    }

    /// <summary>
    /// Runs the writer and follower paths until tiered compilation has promoted them, then waits for the
    /// background JIT to finish, so that it does not compete with a measured row for the 2 cores.
    /// </summary>
    private static void WarmUp(string dir)
    {
        var settings = new Settings(Samples: 2000, WarmUp: 2000, IntervalMicros: 50, Burst: 0, DurableSamples: 0);
        InProcess(dir + "-1", DurabilityMode.Manual, new FollowOptions(), settings, intervalMicros: 50);
        InProcess(dir + "-2", DurabilityMode.Manual, new FollowOptions(), settings, intervalMicros: 0);
        BenchEnv.DeleteDir(dir + "-1");
        BenchEnv.DeleteDir(dir + "-2");
        Thread.Sleep(500);
    }

    /// <summary>A writer thread and a follower in this process.</summary>
    private static Stats InProcess(string dir, DurabilityMode durability, FollowOptions options, Settings settings, int intervalMicros)
    {
        int count = settings.WarmUp + settings.Samples;
        using var log = RecordLog.Open(dir, new RecordLogOptions { Durability = durability });
        var reader = RecordLogReader.Open(dir);
        using var cts = new CancellationTokenSource(RowTimeout);
        var follow = reader.FollowAsync(FollowPosition.Now, options, cts.Token).GetAsyncEnumerator(cts.Token);
        // The first MoveNextAsync resolves Now and registers with the directory's signal before it first awaits.
        var first = follow.MoveNextAsync();
        Exception? writerError = null;
        double writerSeconds = 0;
        var writer = new Thread(() =>
        {
            try
            {
                writerSeconds = WriteRecords(log, count, intervalMicros);
            }
            catch (Exception e)
            {
                writerError = e;
            }
        })
        {
            IsBackground = true,
            Name = "follow-latency writer",
        };
        writer.Start();
        var stats = ConsumeAsync(follow, first, settings.WarmUp, count).GetAwaiter().GetResult();
        writer.Join();
        if (writerError is not null)
        {
            throw new InvalidOperationException("the writer thread failed", writerError);
        }

        return stats with { WriterPerSecond = count / writerSeconds };
    }

    /// <summary>The writer is this program re-launched as <c>follow-latency-writer</c>; the follower is here.</summary>
    private static Stats CrossProcess(string dir, FollowOptions options, Settings settings, int intervalMicros)
    {
        int count = settings.WarmUp + settings.Samples;
        Directory.CreateDirectory(dir);
        string processPath = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var info = new ProcessStartInfo(processPath)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(processPath).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            info.ArgumentList.Add(typeof(FollowLatency).Assembly.Location);
        }

        info.ArgumentList.Add(WriterChildMode);
        info.ArgumentList.Add(dir);
        info.ArgumentList.Add(count.ToString(Inv));
        info.ArgumentList.Add(intervalMicros.ToString(Inv));
        using var child = Process.Start(info) ?? throw new InvalidOperationException("could not start the writer process");
        try
        {
            string? line = child.StandardOutput.ReadLine();
            if (line != "ready")
            {
                throw new InvalidOperationException($"{WriterChildMode} said '{line}' instead of 'ready'");
            }

            var reader = RecordLogReader.Open(dir);
            using var cts = new CancellationTokenSource(RowTimeout);
            var follow = reader.FollowAsync(FollowPosition.Now, options, cts.Token).GetAsyncEnumerator(cts.Token);
            var first = follow.MoveNextAsync();   // resolves Now (and starts the watcher) before it first awaits
            child.StandardInput.WriteLine("go");
            child.StandardInput.Flush();
            var stats = ConsumeAsync(follow, first, settings.WarmUp, count).GetAwaiter().GetResult();
            string rest = child.StandardOutput.ReadToEnd();
            child.WaitForExit();
            if (child.ExitCode != 0)
            {
                throw new InvalidOperationException($"{WriterChildMode} exited {child.ExitCode}: {rest}");
            }

            const string Key = "writer_s=";
            string? reported = rest.Split('\n', StringSplitOptions.TrimEntries).FirstOrDefault(l => l.StartsWith(Key, StringComparison.Ordinal));
            double writerSeconds = reported is null ? double.NaN : double.Parse(reported[Key.Length..], Inv);
            return stats with { WriterPerSecond = count / writerSeconds };
        }
        finally
        {
            if (!child.HasExited)
            {
                child.Kill();
                child.WaitForExit();
            }
        }
    }

    /// <summary>
    /// Yields records until the one with sequence number <paramref name="count"/> − 1; latency samples are those
    /// with sequence ≥ <paramref name="warmUp"/>. Records/s = samples / (last yield − stamp of the first sample).
    /// </summary>
    private static async Task<Stats> ConsumeAsync(IAsyncEnumerator<Record> follow, ValueTask<bool> first, int warmUp, int count)
    {
        var ticks = new long[count - warmUp];
        int samples = 0;
        long firstStamp = 0;
        long lastSeen = 0;
        int expected = -1;
        try
        {
            bool more = await first.ConfigureAwait(false);
            while (more)
            {
                long now = Stopwatch.GetTimestamp();
                var payload = follow.Current.Payload.Span;
                long stamp = BinaryPrimitives.ReadInt64LittleEndian(payload);
                int sequence = BinaryPrimitives.ReadInt32LittleEndian(payload[8..]);
                if (expected >= 0 && sequence != expected)
                {
                    throw new InvalidOperationException($"follow yielded record {sequence} after {expected - 1}");
                }

                expected = sequence + 1;
                if (sequence >= warmUp)
                {
                    if (samples == 0)
                    {
                        firstStamp = stamp;
                    }

                    ticks[samples++] = now - stamp;
                    lastSeen = now;
                }

                if (sequence == count - 1)
                {
                    break;
                }

                more = await follow.MoveNextAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            await follow.DisposeAsync().ConfigureAwait(false);
        }

        var micros = new double[samples];
        for (int i = 0; i < samples; i++)
        {
            micros[i] = ticks[i] * 1e6 / Stopwatch.Frequency;
        }

        Array.Sort(micros);
        double seconds = (lastSeen - firstStamp) / (double)Stopwatch.Frequency;
        return new Stats(samples, count - warmUp - samples,
            BenchEnv.Percentile(micros, 0.5), BenchEnv.Percentile(micros, 0.9), BenchEnv.Percentile(micros, 0.99), micros[^1],
            seconds > 0 ? samples / seconds : 0);
    }

    /// <summary>
    /// Appends <paramref name="count"/> records of [timestamp (8 B LE), sequence (4 B LE), filler], one every
    /// <paramref name="intervalMicros"/> (0 = back to back). A late append does not cause a catch-up burst.
    /// Returns the seconds from the first append's start to the last one's return.
    /// </summary>
    private static double WriteRecords(RecordLog log, int count, int intervalMicros)
    {
        var payload = BenchEnv.Filled(PayloadBytes, BenchEnv.PayloadFill);
        long interval = intervalMicros * Stopwatch.Frequency / 1_000_000;
        long next = Stopwatch.GetTimestamp();
        long start = 0;
        for (int i = 0; i < count; i++)
        {
            if (interval > 0)
            {
                WaitUntil(next, sleep: intervalMicros >= 1000);
            }

            BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(8), i);
            long stamp = Stopwatch.GetTimestamp();
            start = i == 0 ? stamp : start;
            BinaryPrimitives.WriteInt64LittleEndian(payload, stamp);
            log.Append(payload);
            if (interval > 0)
            {
                next += interval;
                next = Math.Max(next, Stopwatch.GetTimestamp());
            }
        }

        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>
    /// Waits for <paramref name="deadline"/>: at intervals of 1 ms or more by Thread.Sleep(1) (≈ 1.08 ms on
    /// Linux, so a 1000 µs interval is really ≈ 1.1 ms) — the writer idles like a real one and leaves the
    /// CPU to the follower; below 1 ms by spinning with Thread.Yield, which keeps one of the cores busy.
    /// </summary>
    private static void WaitUntil(long deadline, bool sleep)
    {
        while (deadline - Stopwatch.GetTimestamp() > 0)
        {
            if (sleep)
            {
                Thread.Sleep(1);
            }
            else
            {
                Thread.Yield();
            }
        }
    }

    /// <summary>The child: opens the log in DIR (Manual), says "ready", waits for a line on stdin, appends COUNT paced records.</summary>
    public static int RunWriterChild(string[] args)
    {
        if (args.Length != 3
            || !int.TryParse(args[1], NumberStyles.Integer, Inv, out int count)
            || !int.TryParse(args[2], NumberStyles.Integer, Inv, out int intervalMicros)
            || count < 1 || intervalMicros < 0)
        {
            Console.Error.WriteLine($"usage: {WriterChildMode} DIR COUNT INTERVAL_US");
            return 2;
        }

        // JIT the append path in a scratch log first and let the background JIT finish (see WarmUp).
        string scratch = args[0] + "-writer-warmup";
        using (var log = RecordLog.Open(scratch))
        {
            WriteRecords(log, 20_000, 0);
        }

        BenchEnv.DeleteDir(scratch);
        Thread.Sleep(300);
        using (var log = RecordLog.Open(args[0]))
        {
            Console.WriteLine("ready");
            Console.Out.Flush();
            if (Console.ReadLine() != "go")
            {
                return 3;
            }

            double seconds = WriteRecords(log, count, intervalMicros);
            Console.WriteLine(string.Create(Inv, $"writer_s={seconds:R}"));
        }

        return 0;
    }

    private static string Rate(double perSecond) => perSecond >= 1e6
        ? string.Create(Inv, $"{perSecond / 1e6:F2} M/s")
        : string.Create(Inv, $"{perSecond / 1e3:F2} k/s");
}
