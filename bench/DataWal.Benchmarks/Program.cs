using System.Globalization;
using BenchmarkDotNet.Running;

namespace DataWal.Benchmarks;

/// <summary>
/// Entry point.
/// <list type="bullet">
/// <item><c>[--full] [BenchmarkDotNet options, e.g. --filter *Append*]</c>: the BenchmarkDotNet suite (short runs unless --full).</item>
/// <item><c>measure [--keys N] [--gc-seconds S] [--no-group-commit | --group-commit-only | --gc-point VARIANT:WRITERS ...]</c>:
/// one-shot figures at N records/keys (default 1,000,000) as a markdown table, then the group-commit sweep
/// (1/4/16/64 writers, S seconds per point, default 3) as a second table.</item>
/// <item><c>measure-open DIR</c> (internal): opens the store in DIR in this fresh process and reports time and memory.</item>
/// <item><c>follow-latency [--samples N] [--interval-us U] [--burst N]</c>: append→yield latency of
/// <c>RecordLogReader.FollowAsync</c> (same process, other process with file-change notification, polling) as a markdown table.</item>
/// <item><c>follow-latency-writer DIR COUNT INTERVAL_US</c> (internal): the other-process writer of follow-latency.</item>
/// <item><c>soak [--minutes M] [--keys N] [--value-bytes B] [--segment-mib S] [--interval SECONDS] [--dir PATH] ...</c>:
/// random overwrites and deletes of a bounded key set with auto-compaction on, one row of disk/RSS/fds/heap/writes per
/// interval, a first-half/second-half summary and a read-back of every key against an in-memory model (<see cref="Soak"/>).</item>
/// <item><c>compaction [--keys N] [--value-bytes B] [--seconds S]</c>: in-place <c>Compact()</c> and <c>CompactTo</c> of an
/// N-key store written twice (time, peak RSS), and puts/s with and without a compaction running (<see cref="CompactionBench"/>).</item>
/// <item><c>compaction-child WHAT DIR S</c> (internal): the fresh processes of compaction.</item>
/// <item><c>fresh [--records N] [--runs R] [--fsync-records M] [--gc-seconds S] [--keys-10m]</c>: the fresh-process figures, each
/// workload (append, append + fsync, group commit, KV put/get/open, scans, compaction, export) and each raw floor (libc
/// write, write + fdatasync, pread + CRC, read + CRC) in its own fresh child process, R runs, a table per run and a
/// summary of medians with ratios to the floors, upstream's quoted figures and the goals (<see cref="FreshBench"/>).</item>
/// <item><c>fresh-child WHAT ROOT ...</c> (internal): the fresh processes of fresh.</item>
/// </list>
/// Data goes under <c>$DATAWAL_BENCH_DIR</c> (default <c>&lt;temp&gt;/datawal-bench</c>).
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        if (args.Length > 0 && args[0] == "measure")
        {
            return Measure.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == Measure.OpenChildMode)
        {
            return Measure.RunOpenChild(args[1..]);
        }

        if (args.Length > 0 && args[0] == FollowLatency.Mode)
        {
            return FollowLatency.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == FollowLatency.WriterChildMode)
        {
            return FollowLatency.RunWriterChild(args[1..]);
        }

        if (args.Length > 0 && args[0] == Soak.Mode)
        {
            return Soak.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == CompactionBench.Mode)
        {
            return CompactionBench.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == CompactionBench.ChildMode)
        {
            return CompactionBench.RunChild(args[1..]);
        }

        if (args.Length > 0 && args[0] == FreshBench.Mode)
        {
            return FreshBench.Run(args[1..]);
        }

        if (args.Length > 0 && args[0] == FreshBench.ChildMode)
        {
            return FreshBench.RunChild(args[1..]);
        }

        bool full = args.Contains("--full");
        string[] rest = args.Where(a => a != "--full").ToArray();
        BenchEnv.PrintHeader(Console.Out);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest, BenchConfig.Create(full));
        return 0;
    }
}
