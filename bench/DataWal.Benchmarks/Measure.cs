using System.Diagnostics;
using System.Globalization;
using DataWal.Core;
using DataWal.Kv;

namespace DataWal.Benchmarks;

/// <summary>
/// "measure" mode: one-shot figures at N records/keys (default 1,000,000) for the targets, printed
/// as a markdown table beside upstream's numbers. The store's open is measured in a fresh child process
/// (<c>measure-open DIR</c>) so that its peak RSS is the open's alone. Then the group-commit sweep
/// (<see cref="GroupCommit"/>) prints its own table.
/// </summary>
internal static class Measure
{
    public const string OpenChildMode = "measure-open";

    private const int KvValueBytes = 100;
    private const int AppendPayloadBytes = 100;
    private const int BatchRecords = 1000;
    private const int FsyncOps = 2000;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private sealed record Row(string Figure, string Ours, string Upstream, string Note);

    public static int Run(string[] args)
    {
        int keys = 1_000_000;
        double groupCommitSeconds = 3;
        bool groupCommit = true;
        bool groupCommitOnly = false;
        var singlePoints = new List<(GroupCommit.Variant Variant, int Writers)>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--keys" && i + 1 < args.Length)
            {
                keys = int.Parse(args[++i].Replace("_", "", StringComparison.Ordinal).Replace(",", "", StringComparison.Ordinal), Inv);
            }
            else if (args[i] == "--gc-seconds" && i + 1 < args.Length)
            {
                groupCommitSeconds = double.Parse(args[++i], Inv);
            }
            else if (args[i] == "--no-group-commit")
            {
                groupCommit = false;
            }
            else if (args[i] == "--group-commit-only")
            {
                groupCommitOnly = true;
            }
            else if (args[i] == "--gc-point" && i + 1 < args.Length)
            {
                // VARIANT:WRITERS, e.g. Grouped:16 (repeatable): only these group-commit points, no warm-up sweep.
                string[] parts = args[++i].Split(':');
                singlePoints.Add((Enum.Parse<GroupCommit.Variant>(parts[0], ignoreCase: true), int.Parse(parts[1], Inv)));
                groupCommitOnly = true;
            }
            else
            {
                Console.Error.WriteLine($"usage: measure [--keys N] [--gc-seconds S] [--no-group-commit | --group-commit-only | --gc-point VARIANT:WRITERS ...]   (unknown argument '{args[i]}')");
                return 2;
            }
        }

        BenchEnv.PrintHeader(Console.Out);
        string root = BenchEnv.NewDir("measure");
        Directory.CreateDirectory(root);
        var rows = new List<Row>();
        List<GroupCommit.Point>? groupPoints = null;
        try
        {
            if (groupCommitOnly)
            {
                groupPoints = singlePoints.Count == 0
                    ? RunGroupCommit(root, groupCommitSeconds)
                    : singlePoints.Select(p => GroupCommit.RunPoint(root, p.Variant, p.Writers, groupCommitSeconds)).ToList();
                Console.WriteLine();
                GroupCommit.PrintTable(Console.Out, groupPoints, groupCommitSeconds);
                return 0;
            }

            Console.WriteLine($"# measure: N = {keys:N0}; warming up ...");
            WarmUp(Path.Combine(root, "warmup"));

            // 1. KV put: build the store of N keys (16 B keys, 100 B values) in this process, then fsync.
            string storeDir = Path.Combine(root, "store");
            var (putSeconds, fsyncSeconds) = BuildStore(storeDir, keys);
            rows.Add(new("KV put 16 B key / 100 B value (new keys, no fsync)", Rate(keys, putSeconds), "0.41 M/s", $"{keys:N0} puts in {putSeconds:F2} s; final fsync {fsyncSeconds * 1000:F0} ms"));
            Console.WriteLine($"# put done: {putSeconds:F2} s");
            ForceGc();

            // 2. Open in a fresh process: time, peak RSS, managed heap, keydir bytes.
            var open = ChildProcess.Run(OpenChildMode, storeDir);
            double openSeconds = double.Parse(open["open_s"], Inv);
            double reopenSeconds = double.Parse(open["reopen_s"], Inv);
            long count = long.Parse(open["count"], Inv);
            long hwm = long.Parse(open["vmhwm_kb"], Inv) * 1024;
            long rssBefore = long.Parse(open["vmrss_before_kb"], Inv) * 1024;
            long heapDelta = long.Parse(open["heap_delta"], Inv);
            long keydirBytes = long.Parse(open["keydir_bytes"], Inv);
            rows.Add(new($"open {count:N0}-key store (fresh process, first open)", $"{openSeconds:F2} s", "1.28 s", $"includes JIT of the open path; 2nd open in the same process {reopenSeconds:F2} s; page cache warm"));
            rows.Add(new("peak RSS of that process (VmHWM after open)", Mib(hwm), "360 MB", $"RSS before open {Mib(rssBefore)} (runtime)"));
            rows.Add(new("bytes per live key: KeyDirectoryBytes / Count", $"{(double)keydirBytes / count:F1} B", "", $"KeyDirectoryBytes = {Mib(keydirBytes)}"));
            rows.Add(new("bytes per live key: managed-heap delta / Count", $"{(double)heapDelta / count:F1} B", "", $"GC.GetTotalMemory(true) delta = {Mib(heapDelta)}"));
            Console.WriteLine($"# open done: {openSeconds:F2} s, VmHWM {Mib(hwm)}");

            // 3. Reads, compaction, export on the store (opened again in this process).
            using (var store = KvStore.Open(storeDir))
            {
                double getSeconds = TimeGets(store, keys, useTryGet: false);
                rows.Add(new("KV get (round-robin, Get → new byte[])", Rate(keys, getSeconds), "0.63 M/s", $"{keys:N0} gets"));
                double tryGetSeconds = TimeGets(store, keys, useTryGet: true);
                rows.Add(new("KV get (round-robin, TryGet → reused ArrayBufferWriter)", Rate(keys, tryGetSeconds), "0.63 M/s", $"{keys:N0} gets"));
                Console.WriteLine("# gets done");

                string compactDir = Path.Combine(root, "compacted");
                long start = Stopwatch.GetTimestamp();
                var stats = store.CompactTo(compactDir);
                double compactSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                rows.Add(new($"compact_to {stats.LiveKeys:N0} keys", $"{compactSeconds:F2} s", "4.1 s", $"{Mib(stats.BytesWritten)} written, fsynced"));
                BenchEnv.DeleteDir(compactDir);
                Console.WriteLine($"# compaction done: {compactSeconds:F2} s");

                string exportPath = Path.Combine(root, "export", "export.jsonl");
                start = Stopwatch.GetTimestamp();
                store.ExportJsonl(exportPath);
                double exportSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                long exportBytes = new FileInfo(exportPath).Length;
                rows.Add(new($"export_jsonl {store.Count:N0} keys", $"{exportSeconds:F2} s", "4.2 s", $"{Mib(exportBytes)} of JSONL, atomic + fsynced"));
                BenchEnv.DeleteFile(exportPath);
                Console.WriteLine($"# export done: {exportSeconds:F2} s");
            }

            BenchEnv.DeleteDir(storeDir);
            ForceGc();

            // 4. Record log: single appends, scan, batch appends, durable appends.
            string appendDir = Path.Combine(root, "append");
            double appendSeconds = TimeAppends(appendDir, keys);
            rows.Add(new("append 100 B (Raw, no fsync)", Rate(keys, appendSeconds), "1.0 M/s", $"{keys:N0} appends, one log"));
            Console.WriteLine("# appends done");

            var (scanSeconds, scanned) = TimeScanIter(appendDir);
            rows.Add(new("scan (ScanIter, 100 B records)", Rate(scanned, scanSeconds), "5.7 M rec/s", $"{scanned:N0} records, page cache warm"));
            BenchEnv.DeleteDir(appendDir);
            Console.WriteLine("# scan done");

            string batchDir = Path.Combine(root, "batch");
            double batchSeconds = TimeBatchAppends(batchDir, keys);
            rows.Add(new($"batch append 100 B ({BatchRecords} records per RecordBatch, no fsync)", Rate(keys, batchSeconds), "", $"{keys:N0} records incl. building the batches"));
            BenchEnv.DeleteDir(batchDir);
            Console.WriteLine("# batch appends done");

            string fsyncDir = Path.Combine(root, "fsync");
            var (fsyncEachSeconds, median, p99) = TimeAppendFsync(fsyncDir, FsyncOps);
            rows.Add(new("append 100 B + fsync each", Rate(FsyncOps, fsyncEachSeconds), "3.7 k/s", $"{FsyncOps:N0} ops; latency median {median:F0} µs, p99 {p99:F0} µs"));
            BenchEnv.DeleteDir(fsyncDir);
            Console.WriteLine("# append + fsync done");

            if (groupCommit)
            {
                groupPoints = RunGroupCommit(root, groupCommitSeconds);
                foreach (var p in groupPoints.Where(p => p.Writers == 16))
                {
                    string what = p.Variant == GroupCommit.Variant.Grouped ? "appends/s (not durable on return)" : "durable ops/s";
                    rows.Add(new($"group commit, 16 writers — {GroupCommit.Label(p.Variant)}", Rate((long)p.OpsPerSecond, 1), p.Variant == GroupCommit.Variant.Grouped ? "" : "3.7 k/s (one caller at a time)",
                        string.Create(Inv, $"{what}; p50 {p.P50Micros:F0} µs, p99 {p.P99Micros:F0} µs; {p.MeanBatch:F1} ops per fsync")));
                }
            }
        }
        finally
        {
            BenchEnv.DeleteDir(root);
        }

        Console.WriteLine();
        Console.WriteLine("| Figure (N = " + keys.ToString("N0", Inv) + ") | DataWal .NET | upstream Rust (same machine) | Notes |");
        Console.WriteLine("|---|---:|---:|---|");
        foreach (var row in rows)
        {
            Console.WriteLine($"| {row.Figure} | {row.Ours} | {row.Upstream} | {row.Note} |");
        }

        if (groupPoints is not null)
        {
            Console.WriteLine();
            GroupCommit.PrintTable(Console.Out, groupPoints, groupCommitSeconds);
        }

        return 0;
    }

    private static List<GroupCommit.Point> RunGroupCommit(string root, double seconds)
    {
        Console.WriteLine(string.Create(Inv, $"# group commit: {GroupCommit.WriterCounts.Length * 3 + 2} points of {seconds:0.#} s ..."));
        var points = GroupCommit.RunAll(root, seconds, Console.WriteLine);
        var (median, p10, p90) = BenchEnv.RawFsyncLatency();
        Console.WriteLine(string.Create(Inv, $"# raw fsync after the group-commit sweep: median {median:F1} µs, p10 {p10:F1} µs, p90 {p90:F1} µs"));
        return points;
    }

    /// <summary>Small runs of every measured path so the big runs see optimized code.</summary>
    private static void WarmUp(string dir)
    {
        const int N = 20_000;
        BuildStore(Path.Combine(dir, "store"), N);
        using (var store = KvStore.Open(Path.Combine(dir, "store")))
        {
            TimeGets(store, N, useTryGet: false);
            TimeGets(store, N, useTryGet: true);
            store.CompactTo(Path.Combine(dir, "compacted"));
            store.ExportJsonl(Path.Combine(dir, "export.jsonl"));
        }

        TimeAppends(Path.Combine(dir, "append"), N);
        TimeScanIter(Path.Combine(dir, "append"));
        TimeBatchAppends(Path.Combine(dir, "batch"), N);
        TimeAppendFsync(Path.Combine(dir, "fsync"), 20);
        BenchEnv.DeleteDir(dir);
        Thread.Sleep(500);   // let the tiered JIT finish its background recompilations
        ForceGc();
    }

    private static (double PutSeconds, double FsyncSeconds) BuildStore(string dir, int keys)
    {
        var value = BenchEnv.Filled(KvValueBytes, BenchEnv.ValueFill);
        Span<byte> key = stackalloc byte[BenchEnv.KeyLength];
        using var store = KvStore.Open(dir);
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < keys; i++)
        {
            BenchEnv.WriteKey(key, i);
            store.Put(key, value);
        }

        double put = Stopwatch.GetElapsedTime(start).TotalSeconds;
        start = Stopwatch.GetTimestamp();
        store.Fsync();
        return (put, Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    private static double TimeGets(KvStore store, int keys, bool useTryGet)
    {
        Span<byte> key = stackalloc byte[BenchEnv.KeyLength];
        var sink = new System.Buffers.ArrayBufferWriter<byte>(256);
        long found = 0;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < keys; i++)
        {
            BenchEnv.WriteKey(key, i);
            if (useTryGet)
            {
                sink.ResetWrittenCount();
                found += store.TryGet(key, sink) ? 1 : 0;
            }
            else
            {
                found += store.Get(key) is null ? 0 : 1;
            }
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (found != keys)
        {
            throw new InvalidOperationException($"get found {found} of {keys} keys");
        }

        return seconds;
    }

    private static double TimeAppends(string dir, int records)
    {
        var payload = BenchEnv.Filled(AppendPayloadBytes, BenchEnv.PayloadFill);
        using var log = RecordLog.Open(dir);
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < records; i++)
        {
            log.Append(payload);
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        log.Fsync();
        return seconds;
    }

    private static (double Seconds, long Records) TimeScanIter(string dir)
    {
        using var log = RecordLog.Open(dir);
        long records = 0;
        long bytes = 0;
        long start = Stopwatch.GetTimestamp();
        foreach (var record in log.ScanIter())
        {
            records++;
            bytes += record.Payload.Length;
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        GC.KeepAlive(bytes);
        return (seconds, records);
    }

    private static double TimeBatchAppends(string dir, int records)
    {
        var payload = BenchEnv.Filled(AppendPayloadBytes, BenchEnv.PayloadFill);
        using var log = RecordLog.Open(dir);
        using var batch = new RecordBatch(256 * 1024);
        long start = Stopwatch.GetTimestamp();
        for (int done = 0; done < records; done += BatchRecords)
        {
            batch.Clear();
            int n = Math.Min(BatchRecords, records - done);
            for (int i = 0; i < n; i++)
            {
                batch.Add(RecordType.Raw, default, payload);
            }

            log.AppendBatch(batch);
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        log.Fsync();
        return seconds;
    }

    private static (double Seconds, double MedianMicros, double P99Micros) TimeAppendFsync(string dir, int ops)
    {
        var payload = BenchEnv.Filled(AppendPayloadBytes, BenchEnv.PayloadFill);
        var latencies = new double[ops];
        using var log = RecordLog.Open(dir);
        log.Fsync();
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < ops; i++)
        {
            long t = Stopwatch.GetTimestamp();
            log.Append(payload);
            log.Fsync();
            latencies[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        Array.Sort(latencies);
        return (seconds, BenchEnv.Percentile(latencies, 0.5), BenchEnv.Percentile(latencies, 0.99));
    }

    /// <summary>The child: open the store once (first open in this process), report, then a second open.</summary>
    public static int RunOpenChild(string[] args)
    {
        if (args.Length != 1)
        {
            Console.Error.WriteLine($"usage: {OpenChildMode} DIR");
            return 2;
        }

        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        long rssBefore = ReadStatusKb("VmRSS");
        long start = Stopwatch.GetTimestamp();
        var store = KvStore.Open(args[0]);
        double openSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        long heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        long hwm = ReadStatusKb("VmHWM");
        long rssAfter = ReadStatusKb("VmRSS");
        int count = store.Count;
        long keydirBytes = store.KeyDirectoryBytes;
        store.Dispose();
        GC.KeepAlive(store);

        ForceGc();
        start = Stopwatch.GetTimestamp();
        using (var again = KvStore.Open(args[0]))
        {
            GC.KeepAlive(again.Count);
        }

        double reopenSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;

        Console.WriteLine(string.Create(Inv, $"open_s={openSeconds:R}"));
        Console.WriteLine(string.Create(Inv, $"reopen_s={reopenSeconds:R}"));
        Console.WriteLine(string.Create(Inv, $"count={count}"));
        Console.WriteLine(string.Create(Inv, $"keydir_bytes={keydirBytes}"));
        Console.WriteLine(string.Create(Inv, $"heap_delta={heapAfter - heapBefore}"));
        Console.WriteLine(string.Create(Inv, $"vmhwm_kb={hwm}"));
        Console.WriteLine(string.Create(Inv, $"vmrss_before_kb={rssBefore}"));
        Console.WriteLine(string.Create(Inv, $"vmrss_after_kb={rssAfter}"));
        return 0;
    }

    /// <summary>A "Name:   123 kB" line of /proc/self/status, in kB (-1 where there is no /proc).</summary>
    private static long ReadStatusKb(string name)
    {
        const string Status = "/proc/self/status";
        if (!File.Exists(Status))
        {
            return -1;
        }

        foreach (string line in File.ReadLines(Status))
        {
            if (line.StartsWith(name + ":", StringComparison.Ordinal))
            {
                string number = line[(name.Length + 1)..].Trim().Split(' ')[0];
                return long.Parse(number, Inv);
            }
        }

        return -1;
    }

    private static void ForceGc()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    private static string Rate(long operations, double seconds)
    {
        double perSecond = operations / seconds;
        return perSecond >= 1e6
            ? string.Create(Inv, $"{perSecond / 1e6:F2} M/s")
            : string.Create(Inv, $"{perSecond / 1e3:F2} k/s");
    }

    private static string Mib(long bytes) => string.Create(Inv, $"{bytes / (1024.0 * 1024.0):F1} MiB");
}
