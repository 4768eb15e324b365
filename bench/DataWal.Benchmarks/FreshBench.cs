using System.Diagnostics;
using System.Globalization;
using DataWal.Core;
using DataWal.Kv;

namespace DataWal.Benchmarks;

/// <summary>
/// "fresh" mode (performance as users meet it): every workload in its own fresh child process (<c>fresh-child WHAT ...</c>), timed inside
/// the child — so JIT warm-up is included and process start is not — through the public API only, each beside a raw
/// floor (<see cref="RawFloors"/>) measured in its own fresh child of the same run. Per run, a setup child first
/// writes the stores the read workloads use (not timed); everything is deleted between runs. One markdown table per
/// run, then a summary of the medians over the runs with their ratios to the floors, the upstream figures quoted in
/// the outside check (not measured here) and the goals.
/// </summary>
internal static class FreshBench
{
    public const string Mode = "fresh";
    public const string ChildMode = "fresh-child";

    /// <summary>Seed of the random key order shared by the KV get workload and its pread floor.</summary>
    private const int GetSeed = 16;

    private const int PayloadBytes = 100;
    private const int ValueBytes = 100;
    private const int TenMillion = 10_000_000;
    private const int GroupCommitWriters = 16;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private enum Unit
    {
        Rate,
        Seconds,
        Mib,
        Bytes,
    }

    /// <summary>
    /// One row of the tables. <paramref name="Per"/> names what a rate counts; <paramref name="RatioTo"/> the row whose
    /// same-run value divides this one (its floor, or the single writer); <paramref name="Met"/> judges the goal from
    /// the value and that ratio.
    /// </summary>
    private sealed record RowDef(string Key, string Label, Unit Unit, string Per, string? RatioTo, string Upstream, string Goal, Func<double, double?, bool>? Met);

    private sealed class RunResult
    {
        public Dictionary<string, double> Values { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, string> Notes { get; } = new(StringComparer.Ordinal);

        public string LoadStart { get; set; } = "?";

        public string LoadEnd { get; set; } = "?";
    }

    private static readonly RowDef[] Rows =
    [
        new("append", "append 100 B (`RecordLog.Append`, default options) + 1 `Fsync`", Unit.Rate, "rec/s", "floor_write", "0.74–0.82 M/s", "≥ 0.95× floor", (_, r) => r >= 0.95),
        new("floor_write", "floor: N × `write` 128 B + 1 `fdatasync`", Unit.Rate, "rec/s", null, "", "", null),
        new("append_fsync", "append 100 B + `Fsync` each (M records)", Unit.Rate, "rec/s", "floor_fdatasync", "6.3–6.8 k/s", "≥ 0.95× floor", (_, r) => r >= 0.95),
        new("floor_fdatasync", "floor: M × (`write` 128 B + `fdatasync`)", Unit.Rate, "rec/s", null, "", "", null),
        new("gc16", "group commit: 16 threads × (`Append` + `Fsync`), Manual", Unit.Rate, "rec/s", "append_fsync", "", "≥ 8× single writer (append + Fsync each)", (_, r) => r >= 8),
        new("gc16_every", "group commit: 16 threads × `Append`, EveryAppend", Unit.Rate, "rec/s", "append_fsync", "", "≥ 8× single writer (append + Fsync each)", (_, r) => r >= 8),
        new("kv_put", "KV put: N × `Put` (16 B keys, 100 B values, new keys) + `Dispose`", Unit.Rate, "puts/s", null, "0.39–0.44 M/s", "≥ 1.5× upstream (≥ 0.66 M/s)", (v, _) => v >= 0.66e6),
        new("kv_get", "KV get: N × `Get` of random existing keys", Unit.Rate, "gets/s", "floor_pread", "0.80–0.92 M/s", "≥ 2× upstream (≥ 1.84 M/s)", (v, _) => v >= 1.84e6),
        new("kv_get_open", "KV get: the `KvStore.Open` before the gets (not in the rate)", Unit.Seconds, "", null, "", "", null),
        new("floor_pread", "floor: N × (`pread` 144 B at a random frame + CRC-32C of 140 B)", Unit.Rate, "gets/s", null, "", "", null),
        new("open", "open N keys: `KvStore.Open` (first in the process)", Unit.Seconds, "", null, "1.3 s", "≥ 4× upstream (≤ 0.325 s)", (v, _) => v <= 1.3 / 4),
        new("open_rss", "open N keys: peak RSS (VmHWM after the open)", Unit.Mib, "", null, "359 MiB", "≤ 0.3× upstream (≤ 107.7 MiB)", (v, _) => v <= 0.3 * 359),
        new("open_bpk_keydir", "open N keys: `KeyDirectoryBytes` / key", Unit.Bytes, "", null, "", "", null),
        new("open_bpk_heap", "open N keys: managed-heap delta / key", Unit.Bytes, "", null, "", "", null),
        new("open_bpk_rss", "open N keys: RSS delta (managed + native) / key", Unit.Bytes, "", null, "", "", null),
        new("scan_iter", "scan: `RecordLogReader.Open(dir).ScanIter()`", Unit.Rate, "rec/s", "floor_read", "4.3–4.5 M rec/s", "≥ 2× upstream (≥ 9.0 M rec/s)", (v, _) => v >= 9.0e6),
        new("scan_replay", "scan zero-alloc: `RecordLogReader.Replay(IFrameVisitor)`", Unit.Rate, "rec/s", "floor_read", "", "≥ 0.5× floor", (_, r) => r >= 0.5),
        new("floor_read", "floor: `read` 256 KiB chunks + CRC-32C of each 144 B frame", Unit.Rate, "rec/s", null, "", "", null),
        new("compact_to", "compact: `CompactTo(newdir)`, every key written twice", Unit.Rate, "keys/s", null, "0.22–0.31 M keys/s", "≥ 4× upstream (≥ 1.24 M keys/s)", (v, _) => v >= 1.24e6),
        new("compact", "compact in place: `Compact()`, every key written twice", Unit.Rate, "keys/s", null, "", "", null),
        new("export", "export: `ExportJsonl(path, overwrite: true)`", Unit.Rate, "keys/s", null, "0.32–0.36 M keys/s", "≥ 4× upstream (≥ 1.44 M keys/s)", (v, _) => v >= 1.44e6),
        new("open10m", "open 10 M keys: `KvStore.Open`", Unit.Seconds, "", null, "", "", null),
        new("open10m_rss", "open 10 M keys: peak RSS (VmHWM after the open)", Unit.Mib, "", null, "", "", null),
        new("open10m_bpk_keydir", "open 10 M keys: `KeyDirectoryBytes` / key", Unit.Bytes, "", null, "", "", null),
        new("open10m_bpk_heap", "open 10 M keys: managed-heap delta / key", Unit.Bytes, "", null, "", "", null),
        new("open10m_bpk_rss", "open 10 M keys: RSS delta (managed + native) / key", Unit.Bytes, "", null, "", "", null),
    ];

    public static int Run(string[] args)
    {
        int records = 1_000_000;
        int runs = 3;
        int fsyncRecords = 3000;
        double groupCommitSeconds = 3;
        bool keys10M = false;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--records" && i + 1 < args.Length)
            {
                records = ParseCount(args[++i]);
            }
            else if (args[i] == "--runs" && i + 1 < args.Length)
            {
                runs = ParseCount(args[++i]);
            }
            else if (args[i] == "--fsync-records" && i + 1 < args.Length)
            {
                fsyncRecords = ParseCount(args[++i]);
            }
            else if (args[i] == "--gc-seconds" && i + 1 < args.Length)
            {
                groupCommitSeconds = double.Parse(args[++i], Inv);
            }
            else if (args[i] == "--keys-10m")
            {
                keys10M = true;
            }
            else
            {
                Console.Error.WriteLine($"usage: {Mode} [--records N] [--runs R] [--fsync-records M] [--gc-seconds S] [--keys-10m]   (unknown argument '{args[i]}')");
                return 2;
            }
        }

        if (records < 1 || runs < 1 || fsyncRecords < 1)
        {
            Console.Error.WriteLine($"{Mode}: --records, --runs and --fsync-records must be at least 1");
            return 2;
        }

        BenchEnv.PrintHeader(Console.Out);
        Console.WriteLine(string.Create(Inv,
            $"# fresh: N = {records:N0} records/keys (16 B keys, 100 B payloads/values), M = {fsyncRecords:N0} fsynced appends, group commit {GroupCommitWriters} writers × {groupCommitSeconds:0.#} s, {runs} run(s){(keys10M ? ", with the 10 M-key open" : "")}"));
        Console.WriteLine("# each workload and each floor runs in its own fresh process, timed inside it (JIT included, process start excluded); page cache warm (the setup child just wrote the data)");
        var results = new List<RunResult>();
        for (int run = 1; run <= runs; run++)
        {
            var result = RunOnce(run, records, fsyncRecords, groupCommitSeconds, keys10M);
            results.Add(result);
            PrintRun(run, records, fsyncRecords, result);
        }

        PrintSummary(records, fsyncRecords, results);
        return 0;
    }

    private static int ParseCount(string text) =>
        int.Parse(text.Replace("_", "", StringComparison.Ordinal).Replace(",", "", StringComparison.Ordinal), Inv);

    private static RunResult RunOnce(int run, int records, int fsyncRecords, double groupCommitSeconds, bool keys10M)
    {
        var result = new RunResult { LoadStart = BenchEnv.LoadAverage() };
        string root = BenchEnv.NewDir("fresh");
        Directory.CreateDirectory(root);
        string n = records.ToString(Inv);
        string m = fsyncRecords.ToString(Inv);
        string gcs = groupCommitSeconds.ToString("R", Inv);
        Console.WriteLine($"# run {run}: load average at start {result.LoadStart}; setup ...");
        try
        {
            var setup = Child("setup", root, n, keys10M ? "10m" : "");
            Console.WriteLine($"# run {run}: setup {setup["kv_s"]} s (store of N keys), {setup["kv2_s"]} s (N keys written twice){(keys10M ? $", {setup["kv10m_s"]} s (10 M keys)" : "")}");

            var write = Child("floor-write", root, n);
            Rate(result, "floor_write", write, $"{records:N0} writes in {write["seconds"]} s");
            var append = Child("append", root, n);
            Rate(result, "append", append, $"{records:N0} appends + Fsync in {append["seconds"]} s; open {append["open_s"]} s; frame {append["frame_bytes"]} B; {append["alloc_per_op"]} B allocated per append");
            BenchEnv.DeleteDir(Path.Combine(root, "append"));
            BenchEnv.DeleteFile(Path.Combine(root, "floor-write.bin"));

            var fdatasync = Child("floor-fdatasync", root, m);
            Rate(result, "floor_fdatasync", fdatasync, $"latency p50 {fdatasync["p50_us"]} µs, p99 {fdatasync["p99_us"]} µs");
            var appendFsync = Child("append-fsync", root, m);
            Rate(result, "append_fsync", appendFsync, $"latency p50 {appendFsync["p50_us"]} µs, p99 {appendFsync["p99_us"]} µs; {appendFsync["fsyncs"]} data fsyncs");
            BenchEnv.DeleteDir(Path.Combine(root, "append-fsync"));
            BenchEnv.DeleteFile(Path.Combine(root, "floor-fdatasync.bin"));

            foreach (var (key, variant) in new[] { ("gc16", GroupCommit.Variant.AppendThenFsync), ("gc16_every", GroupCommit.Variant.EveryAppendSync) })
            {
                var gc = Child("group-commit", root, gcs, variant.ToString());
                Rate(result, key, gc, $"{gc["ops"]} durable appends in {gc["seconds"]} s; p50 {gc["p50_us"]} µs, p99 {gc["p99_us"]} µs; {gc["batch"]} records per fsync; CPU {gc["cpu_percent"]} % of 2 cores");
            }

            var put = Child("kv-put", root, n);
            Rate(result, "kv_put", put, $"{records:N0} puts {put["put_s"]} s + Dispose {put["dispose_s"]} s; open {put["open_s"]} s; {put["alloc_per_op"]} B allocated per put");
            BenchEnv.DeleteDir(Path.Combine(root, "put"));

            Open(result, "open", Path.Combine(root, "kv"));

            var get = Child("kv-get", root, n);
            Rate(result, "kv_get", get, $"{records:N0} gets in {get["seconds"]} s (the same gets again in this process: {get["second_s"]} s); {get["alloc_per_op"]} B allocated per get");
            result.Values["kv_get_open"] = double.Parse(get["open_s"], Inv);
            var pread = Child("floor-pread", root, n);
            Rate(result, "floor_pread", pread, $"{records:N0} preads in {pread["seconds"]} s, same random frame order as the gets");

            var scan = Child("scan-iter", root);
            Rate(result, "scan_iter", scan, $"{scan["ops"]} records in {scan["seconds"]} s (a 2nd pass in this process: {scan["second_s"]} s); {scan["alloc_per_op"]} B allocated per record");
            var replay = Child("scan-replay", root);
            Rate(result, "scan_replay", replay, $"{replay["ops"]} records in {replay["seconds"]} s (a 2nd pass in this process: {replay["second_s"]} s); {replay["alloc_per_op"]} B allocated per record");
            var read = Child("floor-read", root);
            Rate(result, "floor_read", read, $"{read["ops"]} frames in {read["seconds"]} s");

            var compactTo = Child("compact-to", root);
            Rate(result, "compact_to", compactTo, $"{compactTo["ops"]} keys in {compactTo["seconds"]} s, {ProcStats.Mib(long.Parse(compactTo["bytes_written"], Inv))} MiB written; open {compactTo["open_s"]} s");
            BenchEnv.DeleteDir(Path.Combine(root, "compacted"));
            var compact = Child("compact", root);
            Rate(result, "compact", compact, $"{compact["ops"]} keys in {compact["seconds"]} s, {ProcStats.Mib(long.Parse(compact["bytes_before"], Inv))} → {ProcStats.Mib(long.Parse(compact["bytes_after"], Inv))} MiB; open {compact["open_s"]} s");

            var export = Child("export", root);
            Rate(result, "export", export, $"{export["ops"]} keys in {export["seconds"]} s, {ProcStats.Mib(long.Parse(export["bytes"], Inv))} MiB of JSONL; open {export["open_s"]} s");
            BenchEnv.DeleteFile(Path.Combine(root, "export.jsonl"));

            if (keys10M)
            {
                Open(result, "open10m", Path.Combine(root, "kv10m"));
            }
        }
        finally
        {
            BenchEnv.DeleteDir(root);
        }

        result.LoadEnd = BenchEnv.LoadAverage();
        return result;
    }

    private static Dictionary<string, string> Child(string what, params string[] args)
    {
        var values = ChildProcess.Run(ChildMode, [what, .. args]);
        if (values.TryGetValue("rate", out string? rate))
        {
            Console.WriteLine($"#   {what}: {FormatRate(double.Parse(rate, Inv), "/s")}");
        }

        return values;
    }

    private static void Rate(RunResult result, string key, Dictionary<string, string> values, string note)
    {
        result.Values[key] = double.Parse(values["rate"], Inv);
        result.Notes[key] = note;
    }

    /// <summary>The open rows, from <see cref="Measure"/>'s <c>measure-open DIR</c> child (it opens a second time after reporting the first).</summary>
    private static void Open(RunResult result, string prefix, string dir)
    {
        var open = ChildProcess.Run(Measure.OpenChildMode, dir);
        long count = long.Parse(open["count"], Inv);
        double seconds = double.Parse(open["open_s"], Inv);
        long hwmKb = long.Parse(open["vmhwm_kb"], Inv);
        long rssBeforeKb = long.Parse(open["vmrss_before_kb"], Inv);
        long rssAfterKb = long.Parse(open["vmrss_after_kb"], Inv);
        result.Values[prefix] = seconds;
        result.Notes[prefix] = string.Create(Inv, $"{count:N0} keys; a 2nd open in the same process {double.Parse(open["reopen_s"], Inv):F3} s");
        result.Values[prefix + "_rss"] = hwmKb / 1024.0;
        result.Notes[prefix + "_rss"] = string.Create(Inv, $"VmRSS before the open {rssBeforeKb / 1024.0:F1} MiB (the bare runtime), after {rssAfterKb / 1024.0:F1} MiB");
        result.Values[prefix + "_bpk_keydir"] = (double)long.Parse(open["keydir_bytes"], Inv) / count;
        result.Values[prefix + "_bpk_heap"] = (double)long.Parse(open["heap_delta"], Inv) / count;
        result.Notes[prefix + "_bpk_heap"] = "GC.GetTotalMemory(true) after − before";
        result.Values[prefix + "_bpk_rss"] = (rssAfterKb - rssBeforeKb) * 1024.0 / count;
        result.Notes[prefix + "_bpk_rss"] = "(VmRSS after − before) / keys";
        Console.WriteLine(string.Create(Inv, $"#   {Path.GetFileName(dir)} open: {seconds:F3} s, VmHWM {hwmKb / 1024.0:F1} MiB"));
    }

    private static double? Ratio(RunResult result, RowDef row, double value) =>
        row.RatioTo is not null && result.Values.TryGetValue(row.RatioTo, out double baseline) && baseline > 0 ? value / baseline : null;

    private static void PrintRun(int run, int records, int fsyncRecords, RunResult result)
    {
        Console.WriteLine();
        Console.WriteLine($"Run {run} (N = {records:N0}, M = {fsyncRecords:N0}); load average at start: {result.LoadStart}; at end: {result.LoadEnd}");
        Console.WriteLine();
        Console.WriteLine("| Workload (each a fresh process) | this run | ratio to floor / single writer | notes |");
        Console.WriteLine("|---|---:|---:|---|");
        foreach (var row in Rows)
        {
            if (result.Values.TryGetValue(row.Key, out double value))
            {
                double? ratio = Ratio(result, row, value);
                Console.WriteLine($"| {row.Label} | {Format(row, value)} | {FormatRatio(ratio)} | {result.Notes.GetValueOrDefault(row.Key, "")} |");
            }
        }

        Console.Out.Flush();
    }

    private static void PrintSummary(int records, int fsyncRecords, List<RunResult> results)
    {
        Console.WriteLine();
        Console.WriteLine($"Summary: median of {results.Count} run(s) (N = {records:N0}, M = {fsyncRecords:N0}); ratio = median of the per-run ratios to the same run's floor (or, for group commit, to the same run's single writer).");
        Console.WriteLine("The upstream column quotes the figures of the outside check's table: they were NOT measured in this run or on this build (upstream's Rust crate cannot be built on this machine).");
        if (records != 1_000_000)
        {
            Console.WriteLine($"N is {records:N0}, not 1,000,000: the upstream figures and goals are for 1 M records/keys.");
        }

        Console.WriteLine();
        Console.WriteLine("| Workload (each a fresh process) | median | min – max | ratio to floor / single writer | upstream (outside check, NOT same-run) | goal | goal met (median) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---|---|");
        foreach (var row in Rows)
        {
            var values = results.Where(r => r.Values.ContainsKey(row.Key)).Select(r => r.Values[row.Key]).ToArray();
            if (values.Length == 0)
            {
                continue;
            }

            var ratios = results.Where(r => r.Values.ContainsKey(row.Key))
                .Select(r => Ratio(r, row, r.Values[row.Key]))
                .Where(x => x is not null)
                .Select(x => x!.Value)
                .ToArray();
            double median = Median(values);
            double? ratio = ratios.Length == 0 ? null : Median(ratios);
            string met = row.Met is null ? "" : row.Met(median, ratio) ? "yes" : "**no**";
            Console.WriteLine($"| {row.Label} | {Format(row, median)} | {Format(row, values.Min())} – {Format(row, values.Max())} | {FormatRatio(ratio)} | {row.Upstream} | {row.Goal} | {met} |");
        }

        Console.WriteLine();
        Console.WriteLine($"Load averages (start → end of each run): {string.Join("; ", results.Select((r, i) => $"run {i + 1}: {r.LoadStart} → {r.LoadEnd}"))}");
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static string Format(RowDef row, double value) => row.Unit switch
    {
        Unit.Rate => FormatRate(value, " " + row.Per),
        Unit.Seconds => string.Create(Inv, $"{value:F3} s"),
        Unit.Mib => string.Create(Inv, $"{value:F1} MiB"),
        _ => string.Create(Inv, $"{value:F1} B"),
    };

    private static string FormatRate(double perSecond, string per) => perSecond >= 1e6
        ? string.Create(Inv, $"{perSecond / 1e6:F2} M{per}")
        : string.Create(Inv, $"{perSecond / 1e3:F2} k{per}");

    private static string FormatRatio(double? ratio) => ratio is { } r ? string.Create(Inv, $"{r:F2}×") : "";

    // ---------------------------------------------------------------- the children

    /// <summary>The child: <c>WHAT ROOT [ARGS]</c>; prints <c>name=value</c> lines (<c>rate</c> = operations per second).</summary>
    public static int RunChild(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine($"usage: {ChildMode} WHAT ROOT [ARGS...]");
            return 2;
        }

        string root = args[1];
        string Arg(int i) => args.Length > i ? args[i] : "";
        int Count(int i) => int.Parse(Arg(i), Inv);
        switch (args[0])
        {
            case "setup":
                Setup(root, Count(2), Arg(3) == "10m");
                return 0;
            case "append":
                Append(Path.Combine(root, "append"), Count(2));
                return 0;
            case "append-fsync":
                AppendFsync(Path.Combine(root, "append-fsync"), Count(2));
                return 0;
            case "group-commit":
                GroupCommitPoint(root, double.Parse(Arg(2), Inv), Enum.Parse<GroupCommit.Variant>(Arg(3)));
                return 0;
            case "kv-put":
                KvPut(Path.Combine(root, "put"), Count(2));
                return 0;
            case "kv-get":
                KvGet(Path.Combine(root, "kv"), Count(2));
                return 0;
            case "scan-iter":
                ScanIter(Path.Combine(root, "kv"));
                return 0;
            case "scan-replay":
                ScanReplay(Path.Combine(root, "kv"));
                return 0;
            case "compact-to":
                CompactTo(Path.Combine(root, "kv2"), Path.Combine(root, "compacted"));
                return 0;
            case "compact":
                CompactInPlace(Path.Combine(root, "kv2"));
                return 0;
            case "export":
                Export(Path.Combine(root, "kv"), Path.Combine(root, "export.jsonl"));
                return 0;
            case "floor-write":
                EmitRate(Count(2), RawFloors.WriteLoop(Path.Combine(root, "floor-write.bin"), Count(2)));
                return 0;
            case "floor-fdatasync":
                {
                    var (seconds, micros) = RawFloors.WriteFdatasyncLoop(Path.Combine(root, "floor-fdatasync.bin"), Count(2));
                    EmitRate(Count(2), seconds);
                    EmitLatency(micros);
                    return 0;
                }

            case "floor-pread":
                EmitRate(Count(2), RawFloors.PreadCrc(Path.Combine(root, "frames.bin"), RandomIndices(Count(2))));
                return 0;
            case "floor-read":
                {
                    var (seconds, frames) = RawFloors.ReadCrc(Path.Combine(root, "frames.bin"));
                    EmitRate(frames, seconds);
                    return 0;
                }

            default:
                Console.Error.WriteLine($"{ChildMode}: unknown '{args[0]}'");
                return 2;
        }
    }

    /// <summary>
    /// Not timed: <c>kv</c> (N keys, once), <c>kv2</c> (N keys written twice, for compaction), <c>frames.bin</c> (the
    /// segments of <c>kv</c> back to back: N frames of 144 B, the floors' file) and, with <paramref name="tenMillion"/>,
    /// <c>kv10m</c>.
    /// </summary>
    private static void Setup(string root, int keys, bool tenMillion)
    {
        var value = BenchEnv.Filled(ValueBytes, BenchEnv.ValueFill);
        string kv = Path.Combine(root, "kv");
        long start = Stopwatch.GetTimestamp();
        BenchEnv.PopulateStore(kv, keys, value);
        ChildProcess.Emit("kv_s", Stopwatch.GetElapsedTime(start).TotalSeconds.ToString("F1", Inv));

        start = Stopwatch.GetTimestamp();
        using (var store = KvStore.Open(Path.Combine(root, "kv2")))
        {
            var twice = BenchEnv.Filled(ValueBytes, BenchEnv.ValueFill);
            Span<byte> key = stackalloc byte[BenchEnv.KeyLength];
            for (int pass = 0; pass < 2; pass++)
            {
                twice[0] = (byte)pass;
                for (int k = 0; k < keys; k++)
                {
                    BenchEnv.WriteKey(key, k);
                    store.Put(key, twice);
                }
            }

            store.Fsync();
        }

        ChildProcess.Emit("kv2_s", Stopwatch.GetElapsedTime(start).TotalSeconds.ToString("F1", Inv));

        string frames = Path.Combine(root, "frames.bin");
        using (var output = new FileStream(frames, FileMode.CreateNew, FileAccess.Write))
        {
            foreach (uint id in SegmentFiles.List(kv))
            {
                using var input = File.OpenRead(SegmentFiles.PathFor(kv, id));
                input.CopyTo(output);
            }
        }

        long length = new FileInfo(frames).Length;
        if (length != (long)keys * RawFloors.KvFrameBytes)
        {
            throw new InvalidDataException($"the store's segments hold {length} bytes, not {keys} × {RawFloors.KvFrameBytes}");
        }

        if (tenMillion)
        {
            start = Stopwatch.GetTimestamp();
            BenchEnv.PopulateStore(Path.Combine(root, "kv10m"), TenMillion, value);
            ChildProcess.Emit("kv10m_s", Stopwatch.GetElapsedTime(start).TotalSeconds.ToString("F1", Inv));
        }
    }

    private static void Append(string dir, int records)
    {
        var payload = BenchEnv.Filled(PayloadBytes, BenchEnv.PayloadFill);
        long start = Stopwatch.GetTimestamp();
        using var log = RecordLog.Open(dir);
        ChildProcess.Emit("open_s", Stopwatch.GetElapsedTime(start).TotalSeconds.ToString("F3", Inv));
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        start = Stopwatch.GetTimestamp();
        var first = log.Append(payload);
        for (int i = 1; i < records; i++)
        {
            log.Append(payload);
        }

        log.Fsync();
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        EmitRate(records, seconds);
        EmitAllocated(allocated, records);
        ChildProcess.Emit("frame_bytes", first.Length);
    }

    private static void AppendFsync(string dir, int records)
    {
        var payload = BenchEnv.Filled(PayloadBytes, BenchEnv.PayloadFill);
        var micros = new double[records];
        using var log = RecordLog.Open(dir);
        log.Fsync();
        long fsyncsBefore = log.FsyncCount;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < records; i++)
        {
            long t = Stopwatch.GetTimestamp();
            log.Append(payload);
            log.Fsync();
            micros[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        Array.Sort(micros);
        EmitRate(records, seconds);
        EmitLatency(micros);
        ChildProcess.Emit("fsyncs", log.FsyncCount - fsyncsBefore);
    }

    private static void GroupCommitPoint(string root, double seconds, GroupCommit.Variant variant)
    {
        var p = GroupCommit.RunPoint(root, variant, GroupCommitWriters, seconds);
        EmitRate(p.Ops, p.Seconds);
        ChildProcess.Emit("ops", p.Ops.ToString("N0", Inv));
        ChildProcess.Emit("p50_us", p.P50Micros.ToString("F0", Inv));
        ChildProcess.Emit("p99_us", p.P99Micros.ToString("F0", Inv));
        ChildProcess.Emit("batch", p.MeanBatch.ToString("F1", Inv));
        ChildProcess.Emit("cpu_percent", p.CpuPercent.ToString("F0", Inv));
    }

    private static void KvPut(string dir, int keys)
    {
        var value = BenchEnv.Filled(ValueBytes, BenchEnv.ValueFill);
        Span<byte> key = stackalloc byte[BenchEnv.KeyLength];
        long start = Stopwatch.GetTimestamp();
        var store = KvStore.Open(dir);
        ChildProcess.Emit("open_s", Stopwatch.GetElapsedTime(start).TotalSeconds.ToString("F3", Inv));
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        start = Stopwatch.GetTimestamp();
        for (int i = 0; i < keys; i++)
        {
            BenchEnv.WriteKey(key, i);
            store.Put(key, value);
        }

        double putSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        EmitAllocated(allocated, keys);
        long disposeStart = Stopwatch.GetTimestamp();
        store.Dispose();
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        EmitRate(keys, seconds);
        ChildProcess.Emit("put_s", putSeconds.ToString("F3", Inv));
        ChildProcess.Emit("dispose_s", Stopwatch.GetElapsedTime(disposeStart).TotalSeconds.ToString("F3", Inv));
    }

    private static void KvGet(string dir, int keys)
    {
        int[] order = RandomIndices(keys);
        long start = Stopwatch.GetTimestamp();
        using var store = KvStore.Open(dir);
        ChildProcess.Emit("open_s", Stopwatch.GetElapsedTime(start).TotalSeconds.ToString("F3", Inv));
        if (store.Count != keys)
        {
            throw new InvalidDataException($"the store holds {store.Count} keys, not {keys}");
        }

        Span<byte> key = stackalloc byte[BenchEnv.KeyLength];
        long missing = 0;
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        start = Stopwatch.GetTimestamp();
        foreach (int index in order)
        {
            BenchEnv.WriteKey(key, index);
            if (store.Get(key) is not { Length: ValueBytes })
            {
                missing++;
            }
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        EmitAllocated(allocated, keys);
        if (missing != 0)
        {
            throw new InvalidDataException($"{missing} of {keys} gets did not find their {ValueBytes}-byte value");
        }

        EmitRate(keys, seconds);

        // Not in the rate: the same gets again in this process, to tell first-use costs (JIT, page faults) from the steady state.
        start = Stopwatch.GetTimestamp();
        foreach (int index in order)
        {
            BenchEnv.WriteKey(key, index);
            GC.KeepAlive(store.Get(key));
        }

        ChildProcess.Emit("second_s", Stopwatch.GetElapsedTime(start).TotalSeconds.ToString("F3", Inv));
    }

    private static void ScanIter(string dir)
    {
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        long records = ScanIterPass(dir);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        EmitAllocated(allocated, records);
        EmitRate(records, seconds);

        // Not in the rate: a second pass in this process (first-use costs vs the steady state).
        start = Stopwatch.GetTimestamp();
        ScanIterPass(dir);
        ChildProcess.Emit("second_s", Stopwatch.GetElapsedTime(start).TotalSeconds.ToString("F3", Inv));
    }

    private static long ScanIterPass(string dir)
    {
        long records = 0;
        long bytes = 0;
        foreach (var record in RecordLogReader.Open(dir).ScanIter())
        {
            records++;
            bytes += record.Key.Length + record.Payload.Length;
        }

        GC.KeepAlive(bytes);
        return records;
    }

    private sealed class CountingVisitor : IFrameVisitor
    {
        public long Records { get; private set; }

        public long Bytes { get; private set; }

        public void Visit(LogFrame frame)
        {
            Records++;
            Bytes += frame.Key.Length + frame.Payload.Length;
        }
    }

    private static void ScanReplay(string dir)
    {
        var visitor = new CountingVisitor();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        RecordLogReader.Open(dir).Replay(visitor);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        EmitAllocated(allocated, visitor.Records);
        EmitRate(visitor.Records, seconds);

        // Not in the rate: a second pass in this process (first-use costs vs the steady state).
        start = Stopwatch.GetTimestamp();
        RecordLogReader.Open(dir).Replay(new CountingVisitor());
        ChildProcess.Emit("second_s", Stopwatch.GetElapsedTime(start).TotalSeconds.ToString("F3", Inv));
    }

    private static KvStore OpenForMaintenance(string dir)
    {
        long start = Stopwatch.GetTimestamp();
        var store = KvStore.Open(dir);
        ChildProcess.Emit("open_s", Stopwatch.GetElapsedTime(start).TotalSeconds.ToString("F3", Inv));
        ProcStats.ForceGc();
        return store;
    }

    private static void CompactTo(string dir, string outDir)
    {
        using var store = OpenForMaintenance(dir);
        long start = Stopwatch.GetTimestamp();
        var stats = store.CompactTo(outDir);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        EmitRate(stats.LiveKeys, seconds);
        ChildProcess.Emit("bytes_written", stats.BytesWritten);
    }

    private static void CompactInPlace(string dir)
    {
        using var store = OpenForMaintenance(dir);
        long start = Stopwatch.GetTimestamp();
        var result = store.Compact();
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        EmitRate(result.LiveKeys, seconds);
        ChildProcess.Emit("bytes_before", result.BytesBefore);
        ChildProcess.Emit("bytes_after", result.BytesAfter);
    }

    private static void Export(string dir, string path)
    {
        using var store = OpenForMaintenance(dir);
        long start = Stopwatch.GetTimestamp();
        store.ExportJsonl(path, overwrite: true);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        EmitRate(store.Count, seconds);
        ChildProcess.Emit("bytes", new FileInfo(path).Length);
    }

    /// <summary>The random key (= frame) order of the get workload and its floor: <paramref name="count"/> indices in [0, count).</summary>
    private static int[] RandomIndices(int count)
    {
        var rng = new Random(GetSeed);
        var order = new int[count];
        for (int i = 0; i < count; i++)
        {
            order[i] = rng.Next(count);
        }

        return order;
    }

    private static void EmitRate(long operations, double seconds)
    {
        ChildProcess.Emit("ops", operations.ToString("N0", Inv));
        ChildProcess.Emit("seconds", seconds.ToString("F3", Inv));
        ChildProcess.Emit("rate", (operations / seconds).ToString("R", Inv));
    }

    private static void EmitLatency(double[] sortedMicros)
    {
        ChildProcess.Emit("p50_us", BenchEnv.Percentile(sortedMicros, 0.50).ToString("F0", Inv));
        ChildProcess.Emit("p99_us", BenchEnv.Percentile(sortedMicros, 0.99).ToString("F0", Inv));
    }

    private static void EmitAllocated(long allocatedBefore, long operations) =>
        ChildProcess.Emit("alloc_per_op", ((double)(GC.GetAllocatedBytesForCurrentThread() - allocatedBefore) / Math.Max(1, operations)).ToString("F1", Inv));
}
