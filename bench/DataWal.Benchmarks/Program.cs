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

        bool full = args.Contains("--full");
        string[] rest = args.Where(a => a != "--full").ToArray();
        BenchEnv.PrintHeader(Console.Out);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest, BenchConfig.Create(full));
        return 0;
    }
}
