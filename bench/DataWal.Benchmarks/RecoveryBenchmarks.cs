using BenchmarkDotNet.Attributes;
using DataWal.Core;
using SafeAtomic;

namespace DataWal.Benchmarks;

/// <summary>
/// Upstream <c>recovery</c>: <see cref="RecordLog.Open"/> (lock + recovery pass) and its report, on clean
/// logs of 1k / 10k records and on 1 / 4 / 16 segments × 500 records. Records are 64 B Raw payloads.
/// </summary>
[MemoryDiagnoser]
public class RecoveryOpenBenchmarks
{
    private const int PayloadBytes = 64;

    private string? _clean1k;
    private string? _clean10k;
    private readonly Dictionary<int, string> _segmented = [];

    [GlobalSetup]
    public void Setup()
    {
        _clean1k = BenchEnv.NewDir("recovery-1k");
        _clean10k = BenchEnv.NewDir("recovery-10k");
        BenchEnv.PopulateLog(_clean1k, 1_000, PayloadBytes);
        BenchEnv.PopulateLog(_clean10k, 10_000, PayloadBytes);
        foreach (int segments in new[] { 1, 4, 16 })
        {
            string dir = BenchEnv.NewDir($"recovery-seg{segments}");
            BenchEnv.PopulateLog(dir, 500, PayloadBytes, segments);
            _segmented[segments] = dir;
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        BenchEnv.DeleteDir(_clean1k);
        BenchEnv.DeleteDir(_clean10k);
        foreach (string dir in _segmented.Values)
        {
            BenchEnv.DeleteDir(dir);
        }
    }

    private static long OpenAndReport(string dir)
    {
        using var log = RecordLog.Open(dir);
        return log.RecoveryReport.RecordsReplayed;
    }

    [Benchmark]
    public long OpenClean_1k() => OpenAndReport(_clean1k!);

    [Benchmark]
    public long OpenClean_10k() => OpenAndReport(_clean10k!);

    [Benchmark]
    public long OpenSegments_1x500() => OpenAndReport(_segmented[1]);

    [Benchmark]
    public long OpenSegments_4x500() => OpenAndReport(_segmented[4]);

    [Benchmark]
    public long OpenSegments_16x500() => OpenAndReport(_segmented[16]);
}

/// <summary>
/// Upstream <c>recovery</c> tail truncation: 1k records with the last 1 / 64 / 1024 bytes cut off, then
/// <see cref="RecordLog.Open"/>. Unlike upstream, open cuts the damaged tail (ftruncate + fsync, docs/design.md D6),
/// so the torn bytes are written back before every invocation (outside the measurement): one invocation
/// per iteration, more iterations.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1)]
[WarmupCount(3)]
[IterationCount(25)]
public class RecoveryTornTailBenchmarks
{
    private const int Records = 1_000;
    private const int PayloadBytes = 64;

    private string? _dir;
    private string? _segment;
    private byte[] _torn = [];

    [Params(1, 64, 1024)]
    public int TruncatedBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = BenchEnv.NewDir("recovery-torn");
        BenchEnv.PopulateLog(_dir, Records, PayloadBytes);
        _segment = SegmentFiles.PathFor(_dir, 1);
        byte[] whole = File.ReadAllBytes(_segment);
        _torn = whole[..^TruncatedBytes];
        using (var handle = FileSync.Open(_segment, FileMode.Open, FileAccess.ReadWrite))
        {
            FileSync.SetLength(handle, _torn.Length);
            FileSync.Fsync(handle);
        }
    }

    /// <summary>Puts back the torn tail that the previous open cut (only the missing bytes are written).</summary>
    [IterationSetup]
    public void Tear()
    {
        using var handle = FileSync.Open(_segment!, FileMode.Open, FileAccess.ReadWrite);
        long length = RandomAccess.GetLength(handle);
        if (length < _torn.Length)
        {
            FileSync.Write(handle, _torn.AsSpan((int)length), length);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => BenchEnv.DeleteDir(_dir);

    /// <summary>Open: recover 1k records minus the torn one, cut the tail, fsync.</summary>
    [Benchmark]
    public long OpenTornTail()
    {
        using var log = RecordLog.Open(_dir!);
        return log.RecoveryReport.TailBytesDiscarded;
    }
}
