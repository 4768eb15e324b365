using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;

namespace DataWal.Benchmarks;

/// <summary>The suite's BenchmarkDotNet configuration.</summary>
public static class BenchConfig
{
    /// <summary>
    /// Short runs by default (1 launch, 2 warm-up and 5 measured iterations per case) so the whole suite
    /// finishes in reasonable time on a 2-core machine; <paramref name="full"/> uses BenchmarkDotNet's
    /// default job (statistically driven iteration counts). Memory is always measured; Median and Min are
    /// shown beside the Mean (the machine this runs on is often shared, and Min is the least disturbed
    /// figure), and an Op/s column turns the per-operation mean into a rate (records/s where
    /// OperationsPerInvoke is the record count).
    /// </summary>
    public static IConfig Create(bool full)
    {
        var job = full
            ? Job.Default.WithId("Full")
            : Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5).WithId("Short");
        return DefaultConfig.Instance
            .AddJob(job.AsDefault())
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.OperationsPerSecond);
    }
}
