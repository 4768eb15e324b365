using BenchmarkDotNet.Attributes;
using DataWal.Core;

namespace DataWal.Benchmarks;

/// <summary>
/// Group commit: <see cref="Writers"/> long-lived threads share one log; one invocation lets them make
/// 1024 durable 100 B appends between them (1024 / Writers each) and waits for all. Under
/// <see cref="DurabilityMode.Manual"/> each operation is <c>Append</c> + <c>Fsync</c>; under
/// <see cref="DurabilityMode.EveryAppend"/> it is a plain <c>Append</c>, which returns once durable. The rate is
/// durable appends/s across all writers (OperationsPerInvoke = 1024). The threads are started once, in
/// [GlobalSetup], and released by a barrier per invocation, so no thread start-up is measured. The
/// "measure" mode has the same sweep with latency percentiles and fsync counts.
/// </summary>
[MemoryDiagnoser]
public class GroupCommitBenchmarks
{
    private const int OpsPerInvoke = 1024;
    private const int PayloadBytes = 100;

    private RecordLog? _log;
    private string? _dir;
    private Barrier? _start;
    private Barrier? _end;
    private Thread[] _threads = [];
    private volatile bool _stop;

    [Params(1, 4, 16, 64)]
    public int Writers { get; set; }

    [Params(DurabilityMode.Manual, DurabilityMode.EveryAppend)]
    public DurabilityMode Mode { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = BenchEnv.NewDir("group-commit");
        _log = RecordLog.Open(_dir, new RecordLogOptions { Durability = Mode });
        _log.Fsync();
        _stop = false;
        _start = new Barrier(Writers + 1);
        _end = new Barrier(Writers + 1);
        var payload = BenchEnv.Filled(PayloadBytes, BenchEnv.PayloadFill);
        int perWriter = OpsPerInvoke / Writers;
        bool fsync = Mode == DurabilityMode.Manual;
        _threads = new Thread[Writers];
        for (int w = 0; w < Writers; w++)
        {
            _threads[w] = new Thread(() =>
            {
                var log = _log;
                while (true)
                {
                    _start.SignalAndWait();
                    if (_stop)
                    {
                        return;
                    }

                    for (int i = 0; i < perWriter; i++)
                    {
                        log.Append(payload);
                        if (fsync)
                        {
                            log.Fsync();
                        }
                    }

                    _end.SignalAndWait();
                }
            })
            {
                IsBackground = true,
                Name = $"group-commit-{w}",
            };
            _threads[w].Start();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop = true;
        _start?.SignalAndWait();
        foreach (var t in _threads)
        {
            t.Join();
        }

        _start?.Dispose();
        _end?.Dispose();
        _log?.Dispose();
        BenchEnv.DeleteDir(_dir);
    }

    /// <summary>1024 durable appends shared by the writers.</summary>
    [Benchmark(OperationsPerInvoke = OpsPerInvoke)]
    public void DurableAppends()
    {
        _start!.SignalAndWait();
        _end!.SignalAndWait();
    }
}
