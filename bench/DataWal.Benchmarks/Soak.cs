using System.Diagnostics;
using System.Globalization;
using DataWal.Core;
using DataWal.Kv;

namespace DataWal.Benchmarks;

/// <summary>
/// "soak" mode: one writer thread does random overwrites (and some deletes) of a bounded key set through
/// <see cref="KvStore.Put(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/> / <see cref="KvStore.Delete(ReadOnlySpan{byte})"/> under <see cref="DurabilityMode.Grouped"/> (default) with a small
/// <see cref="RecordLogOptions.MaxSegmentBytes"/> and <see cref="KvStoreOptions.AutoCompaction"/> on, for a fixed time.
/// Every interval it prints one row: disk use of the store directory, live bytes, segments, RSS, open fds, GC heap,
/// writes/s, completed compactions (counted through the store's compaction metrics, <see cref="CompactionCounter"/>).
/// At the end: min/max/final of disk, RSS, fds and heap over each half of the run, then every key of an in-memory model
/// is read back (in the same process, and again after a reopen) and must equal its last written value.
/// </summary>
internal static class Soak
{
    public const string Mode = "soak";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private sealed record Sample(double Seconds, long DiskBytes, long LiveBytes, int Segments, long RssKb, int Fds, long HeapBytes, double WritesPerSecond, int Compactions, int LiveKeys);

    public static int Run(string[] args)
    {
        double minutes = 10;
        int keys = 100_000;
        int valueBytes = 100;
        long segmentMib = 8;
        double intervalSeconds = 10;
        int deletePercent = 5;
        double deadFraction = 0.5;
        long minDeadMib = 16;
        var durability = DurabilityMode.Grouped;
        string? dir = null;
        bool keep = false;
        int seed = 14;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            bool hasValue = i + 1 < args.Length;
            if (a == "--minutes" && hasValue)
            {
                minutes = double.Parse(args[++i], Inv);
            }
            else if (a == "--keys" && hasValue)
            {
                keys = int.Parse(args[++i].Replace("_", "", StringComparison.Ordinal).Replace(",", "", StringComparison.Ordinal), Inv);
            }
            else if (a == "--value-bytes" && hasValue)
            {
                valueBytes = int.Parse(args[++i], Inv);
            }
            else if (a == "--segment-mib" && hasValue)
            {
                segmentMib = long.Parse(args[++i], Inv);
            }
            else if (a == "--interval" && hasValue)
            {
                intervalSeconds = double.Parse(args[++i], Inv);
            }
            else if (a == "--delete-percent" && hasValue)
            {
                deletePercent = int.Parse(args[++i], Inv);
            }
            else if (a == "--dead-fraction" && hasValue)
            {
                deadFraction = double.Parse(args[++i], Inv);
            }
            else if (a == "--min-dead-mib" && hasValue)
            {
                minDeadMib = long.Parse(args[++i], Inv);
            }
            else if (a == "--durability" && hasValue)
            {
                durability = Enum.Parse<DurabilityMode>(args[++i], ignoreCase: true);
            }
            else if (a == "--dir" && hasValue)
            {
                dir = Path.GetFullPath(args[++i]);
            }
            else if (a == "--keep")
            {
                keep = true;
            }
            else if (a == "--seed" && hasValue)
            {
                seed = int.Parse(args[++i], Inv);
            }
            else
            {
                Console.Error.WriteLine("usage: soak [--minutes M] [--keys N] [--value-bytes B] [--segment-mib S] [--interval SECONDS] [--delete-percent P] "
                    + $"[--dead-fraction F] [--min-dead-mib D] [--durability Grouped|Manual|EveryAppend] [--dir PATH] [--keep] [--seed N]   (unknown argument '{a}')");
                return 2;
            }
        }

        if (valueBytes < 16)
        {
            Console.Error.WriteLine("soak: --value-bytes must be at least 16 (sequence number and key index are stored in the value)");
            return 2;
        }

        BenchEnv.PrintHeader(Console.Out);
        dir ??= BenchEnv.NewDir("soak");
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
        {
            Console.Error.WriteLine($"soak: {dir} is not empty");
            return 2;
        }

        var options = new KvStoreOptions
        {
            Log = new RecordLogOptions { Durability = durability, MaxSegmentBytes = segmentMib * 1024 * 1024 },
            AutoCompaction = new KvAutoCompaction { DeadFraction = deadFraction, MinDeadBytes = minDeadMib * 1024 * 1024 },
        };
        Console.WriteLine(string.Create(Inv, $"# soak: {minutes:0.##} min, {keys:N0} keys of {BenchEnv.KeyLength} B, values {valueBytes} B, {deletePercent} % deletes, one writer thread, "
            + $"Durability = {durability}, MaxSegmentBytes = {segmentMib} MiB, AutoCompaction {{ DeadFraction = {deadFraction}, MinDeadBytes = {minDeadMib} MiB }}, seed {seed}"));
        Console.WriteLine($"# store: {dir}; load average at start: {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine();
        Console.WriteLine("| t (s) | disk (MiB) | live (MiB) | segments | RSS (MiB) | fds | GC heap (MiB) | writes/s | compactions | live keys |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

        // The model: the sequence number of each key's last Put, -1 = absent (never written or deleted).
        var model = new long[keys];
        model.AsSpan().Fill(-1);
        var rng = new Random(seed);
        var value = BenchEnv.Filled(valueBytes, BenchEnv.ValueFill);
        var key = new byte[BenchEnv.KeyLength];
        var samples = new List<Sample>();
        long seq = 0;
        long puts = 0;
        long deletes = 0;
        string? lastError = null;
        using var counter = new CompactionCounter();
        var duration = TimeSpan.FromMinutes(minutes);
        var interval = TimeSpan.FromSeconds(intervalSeconds);
        using (var store = KvStore.Open(dir, options))
        {
            var clock = Stopwatch.StartNew();
            var nextReport = interval;
            long opsAtLast = 0;
            var lastReport = TimeSpan.Zero;
            while (true)
            {
                for (int i = 0; i < 1024; i++)
                {
                    int k = rng.Next(keys);
                    BenchEnv.WriteKey(key, k);
                    if (rng.Next(100) < deletePercent)
                    {
                        store.Delete(key);
                        model[k] = -1;
                        deletes++;
                    }
                    else
                    {
                        seq++;
                        FillValue(value, seq, k);
                        store.Put(key, value);
                        model[k] = seq;
                        puts++;
                    }
                }

                var now = clock.Elapsed;
                if (now < nextReport && now < duration)
                {
                    continue;
                }

                long ops = puts + deletes;
                var sample = new Sample(
                    now.TotalSeconds,
                    ProcStats.DirectoryBytes(dir),
                    store.LiveBytes,
                    ProcStats.SegmentCount(dir),
                    ProcStats.StatusKb("VmRSS"),
                    ProcStats.OpenFds(),
                    GC.GetTotalMemory(forceFullCollection: false),
                    (ops - opsAtLast) / (now - lastReport).TotalSeconds,
                    counter.Count,
                    store.Count);
                samples.Add(sample);
                Console.WriteLine(string.Create(Inv, $"| {sample.Seconds:F0} | {ProcStats.Mib(sample.DiskBytes)} | {ProcStats.Mib(sample.LiveBytes)} | {sample.Segments} | {sample.RssKb / 1024.0:F1} | {sample.Fds} | {ProcStats.Mib(sample.HeapBytes)} | {sample.WritesPerSecond:N0} | {sample.Compactions} | {sample.LiveKeys:N0} |"));
                if (store.AutoCompactionError is { } error && error.Message != lastError)
                {
                    lastError = error.Message;
                    Console.WriteLine($"# AutoCompactionError: {error.GetType().Name}: {error.Message}");
                }

                opsAtLast = ops;
                lastReport = now;
                while (nextReport <= now)
                {
                    nextReport += interval;
                }

                if (now >= duration)
                {
                    break;
                }
            }

            double seconds = clock.Elapsed.TotalSeconds;
            Console.WriteLine();
            Console.WriteLine($"# load average at end: {File.ReadAllText("/proc/loadavg").Trim()}");
            Console.WriteLine(string.Create(Inv, $"# total: {puts + deletes:N0} writes ({puts:N0} puts, {deletes:N0} deletes) in {seconds:F0} s = {(puts + deletes) / seconds:N0} writes/s; "
                + $"{(puts + deletes) * (double)FrameBytes(valueBytes) / (1024.0 * 1024 * 1024):F1} GiB of frames written (≈ {FrameBytes(valueBytes)} B per put)"));
            var durations = counter.Durations;
            if (durations.Length > 0)
            {
                Array.Sort(durations);
                Console.WriteLine(string.Create(Inv, $"# compactions completed: {durations.Length}; duration median {BenchEnv.Percentile(durations, 0.5) * 1000:F0} ms, max {durations[^1] * 1000:F0} ms; "
                    + $"{counter.BytesWritten / (1024.0 * 1024 * 1024):F2} GiB written by them"));
            }
            else
            {
                Console.WriteLine("# compactions completed: 0");
            }

            Console.WriteLine($"# AutoCompactionError at end: {store.AutoCompactionError?.Message ?? "none"}");
            PrintHalves(samples, seconds);

            int checkedLive = Verify(store, model, valueBytes, out int absent);
            Console.WriteLine($"# verified {keys:N0} keys in the writing process ({checkedLive:N0} live with their last value, {absent:N0} absent as expected)");
        }

        using (var reopened = KvStore.Open(dir))
        {
            int checkedLive = Verify(reopened, model, valueBytes, out int absent);
            Console.WriteLine($"# verified {keys:N0} keys after a reopen ({checkedLive:N0} live with their last value, {absent:N0} absent as expected; Count = {reopened.Count:N0})");
        }

        if (!keep)
        {
            BenchEnv.DeleteDir(dir);
        }

        return 0;
    }

    /// <summary>Sequence number in bytes 0..7, key index in 8..15, filler after.</summary>
    private static void FillValue(byte[] value, long seq, int key)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(value, seq);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(value.AsSpan(8), key);
    }

    /// <summary>Frame size of one Put (24 B header + key + value + 4 B CRC); deletes are smaller, so the "GiB written" line is an upper bound.</summary>
    private static long FrameBytes(int valueBytes) => WireFormat.FrameSize(BenchEnv.KeyLength, valueBytes);

    /// <summary>Every key of the model reads back its last value (or nothing); throws on the first mismatch.</summary>
    private static int Verify(KvStore store, long[] model, int valueBytes, out int absent)
    {
        var key = new byte[BenchEnv.KeyLength];
        var expected = BenchEnv.Filled(valueBytes, BenchEnv.ValueFill);
        int live = 0;
        absent = 0;
        for (int k = 0; k < model.Length; k++)
        {
            BenchEnv.WriteKey(key, k);
            byte[]? got = store.Get(key);
            if (model[k] < 0)
            {
                if (got is not null)
                {
                    throw new InvalidOperationException($"soak verification: key {k} should be absent but reads {got.Length} bytes");
                }

                absent++;
                continue;
            }

            FillValue(expected, model[k], k);
            if (got is null || !got.AsSpan().SequenceEqual(expected))
            {
                throw new InvalidOperationException($"soak verification: key {k} should hold seq {model[k]} but reads "
                    + (got is null ? "nothing" : $"seq {System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(got)}"));
            }

            live++;
        }

        if (store.Count != live)
        {
            throw new InvalidOperationException($"soak verification: Count = {store.Count} but the model has {live} live keys");
        }

        return live;
    }

    private static void PrintHalves(List<Sample> samples, double seconds)
    {
        var first = samples.Where(s => s.Seconds <= seconds / 2).ToList();
        var second = samples.Where(s => s.Seconds > seconds / 2).ToList();
        if (first.Count == 0 || second.Count == 0)
        {
            Console.WriteLine("# (too few samples for a first-half / second-half summary)");
            return;
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(Inv, $"| Figure | first half (0–{seconds / 2:F0} s, {first.Count} samples): min / max / final | second half ({second.Count} samples): min / max / final |"));
        Console.WriteLine("|---|---:|---:|");
        Row("disk use (MiB)", first, second, s => s.DiskBytes / (1024.0 * 1024), "F1");
        Row("live bytes (MiB)", first, second, s => s.LiveBytes / (1024.0 * 1024), "F1");
        Row("segments", first, second, s => s.Segments, "F0");
        Row("RSS (MiB)", first, second, s => s.RssKb / 1024.0, "F1");
        Row("open fds", first, second, s => s.Fds, "F0");
        Row("GC heap (MiB)", first, second, s => s.HeapBytes / (1024.0 * 1024), "F1");
        Row("writes/s", first, second, s => s.WritesPerSecond, "N0");
    }

    private static void Row(string name, List<Sample> first, List<Sample> second, Func<Sample, double> pick, string format)
    {
        string Cell(List<Sample> half) =>
            $"{half.Min(pick).ToString(format, Inv)} / {half.Max(pick).ToString(format, Inv)} / {pick(half[^1]).ToString(format, Inv)}";
        Console.WriteLine($"| {name} | {Cell(first)} | {Cell(second)} |");
    }
}
