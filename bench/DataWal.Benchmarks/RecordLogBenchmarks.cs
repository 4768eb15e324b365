using BenchmarkDotNet.Attributes;
using DataWal.Core;

namespace DataWal.Benchmarks;

/// <summary>
/// Upstream <c>record_log</c>: append without fsync at 64 B / 1 KiB / 64 KiB into one open log that is
/// reused across the invocations of an iteration. The log is thrown away and recreated between iterations
/// (outside the measurement) so the files stay bounded (at most 1 GiB at 64 KiB). A fixed invocation count
/// is required for that: BenchmarkDotNet would otherwise run one invocation per iteration when there is an
/// [IterationCleanup].
/// </summary>
[MemoryDiagnoser]
[InvocationCount(16_384)]
public class AppendBenchmarks
{
    private RecordLog? _log;
    private string? _dir;
    private byte[] _payload = [];

    [Params(64, 1024, 65536)]
    public int PayloadBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = BenchEnv.Filled(PayloadBytes, BenchEnv.PayloadFill);
        OpenFresh();
    }

    [IterationCleanup]
    public void Reset() => OpenFresh();

    [GlobalCleanup]
    public void Cleanup()
    {
        _log?.Dispose();
        BenchEnv.DeleteDir(_dir);
    }

    private void OpenFresh()
    {
        Cleanup();
        _dir = BenchEnv.NewDir("append");
        _log = RecordLog.Open(_dir);
        _log.Append(_payload);   // size the log's encode buffer now, not in the first measured call
    }

    /// <summary>One Raw record, no fsync (a pwrite of one frame).</summary>
    [Benchmark]
    public RecordRef Append() => _log!.Append(_payload);
}

/// <summary>Upstream <c>record_log</c> fsync-each: append then <see cref="RecordLog.Fsync"/>, per record.</summary>
[MemoryDiagnoser]
public class AppendFsyncBenchmarks
{
    private RecordLog? _log;
    private string? _dir;
    private byte[] _payload = [];

    [Params(64, 1024, 65536)]
    public int PayloadBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = BenchEnv.Filled(PayloadBytes, BenchEnv.PayloadFill);
        _dir = BenchEnv.NewDir("append-fsync");
        _log = RecordLog.Open(_dir);
        _log.Fsync();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _log?.Dispose();
        BenchEnv.DeleteDir(_dir);
    }

    /// <summary>One durable append: pwrite + fdatasync.</summary>
    [Benchmark]
    public RecordRef AppendFsync()
    {
        var r = _log!.Append(_payload);
        _log.Fsync();
        return r;
    }
}

/// <summary>
/// Batch append (upstream #11): a <see cref="RecordBatch"/> of 1000 × 100 B records written with one
/// system call, compared with 1000 single appends. Rates are per record (OperationsPerInvoke = 1000).
/// The log is recreated between iterations (128 MiB per iteration at most).
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1024)]
public class BatchAppendBenchmarks
{
    private const int Records = 1000;
    private const int PayloadBytes = 100;

    private RecordLog? _log;
    private string? _dir;
    private RecordBatch? _batch;
    private RecordBatch? _prebuilt;
    private byte[] _payload = [];

    [GlobalSetup]
    public void Setup()
    {
        _payload = BenchEnv.Filled(PayloadBytes, BenchEnv.PayloadFill);
        _batch = new RecordBatch(256 * 1024);
        _prebuilt = new RecordBatch(256 * 1024);
        for (int i = 0; i < Records; i++)
        {
            _prebuilt.Add(RecordType.Raw, default, _payload);
        }

        OpenFresh();
    }

    [IterationCleanup]
    public void Reset() => OpenFresh();

    [GlobalCleanup]
    public void Cleanup()
    {
        CloseLog();
        _batch?.Dispose();
        _prebuilt?.Dispose();
    }

    private void CloseLog()
    {
        _log?.Dispose();
        BenchEnv.DeleteDir(_dir);
    }

    private void OpenFresh()
    {
        CloseLog();
        _dir = BenchEnv.NewDir("batch");
        _log = RecordLog.Open(_dir);
    }

    /// <summary>Fill a reused batch with 1000 records (encode + copy) and append it: the end-to-end cost.</summary>
    [Benchmark(OperationsPerInvoke = Records, Baseline = true)]
    public ulong BuildAndAppendBatch()
    {
        var batch = _batch!;
        batch.Clear();
        for (int i = 0; i < Records; i++)
        {
            batch.Add(RecordType.Raw, default, _payload);
        }

        return _log!.AppendBatch(batch);
    }

    /// <summary>Append an already built batch (txid + CRC stamping and one write).</summary>
    [Benchmark(OperationsPerInvoke = Records)]
    public ulong AppendPrebuiltBatch() => _log!.AppendBatch(_prebuilt!);

    /// <summary>The same 1000 records as 1000 single appends (1000 system calls).</summary>
    [Benchmark(OperationsPerInvoke = Records)]
    public ulong AppendSingles()
    {
        ulong sum = 0;
        for (int i = 0; i < Records; i++)
        {
            sum += _log!.Append(_payload).Offset;
        }

        return sum;
    }
}

/// <summary>
/// Upstream scan benches: 1k / 10k records of 256 B, read back eagerly (<see cref="RecordLog.Scan"/>), by
/// collecting <see cref="RecordLog.ScanIter"/>, by counting it (streaming, nothing kept) and by stopping
/// after the first record. Rates are records/s (OperationsPerInvoke = record count) except early stop.
/// </summary>
[MemoryDiagnoser]
public class ScanBenchmarks
{
    private const int PayloadBytes = 256;
    private const int Small = 1_000;
    private const int Large = 10_000;

    private RecordLog? _small;
    private RecordLog? _large;
    private string? _smallDir;
    private string? _largeDir;

    [GlobalSetup]
    public void Setup()
    {
        _smallDir = BenchEnv.NewDir("scan1k");
        _largeDir = BenchEnv.NewDir("scan10k");
        BenchEnv.PopulateLog(_smallDir, Small, PayloadBytes);
        BenchEnv.PopulateLog(_largeDir, Large, PayloadBytes);
        _small = RecordLog.Open(_smallDir);
        _large = RecordLog.Open(_largeDir);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _small?.Dispose();
        _large?.Dispose();
        BenchEnv.DeleteDir(_smallDir);
        BenchEnv.DeleteDir(_largeDir);
    }

    [Benchmark(OperationsPerInvoke = Small)]
    public int Scan_1k() => _small!.Scan().Count;

    [Benchmark(OperationsPerInvoke = Large)]
    public int Scan_10k() => _large!.Scan().Count;

    [Benchmark(OperationsPerInvoke = Small)]
    public int ScanIterCollect_1k() => _small!.ScanIter().ToList().Count;

    [Benchmark(OperationsPerInvoke = Large)]
    public int ScanIterCollect_10k() => _large!.ScanIter().ToList().Count;

    [Benchmark(OperationsPerInvoke = Large)]
    public long ScanIterCount_10k()
    {
        long bytes = 0;
        foreach (var record in _large!.ScanIter())
        {
            bytes += record.Payload.Length;
        }

        return bytes;
    }

    [Benchmark]
    public ulong ScanIterEarlyStop_1k() => _small!.ScanIter().First().TxId;

    [Benchmark]
    public ulong ScanIterEarlyStop_10k() => _large!.ScanIter().First().TxId;
}
