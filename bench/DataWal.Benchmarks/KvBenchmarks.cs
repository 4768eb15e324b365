using System.Buffers;
using BenchmarkDotNet.Attributes;
using DataWal.Kv;

namespace DataWal.Benchmarks;

/// <summary>
/// Upstream <c>datawal_kv</c>: put of new keys into a keydir of 1k/10k/100k, get round-robin (allocating
/// <see cref="KvStore.Get(ReadOnlySpan{byte})"/> and non-allocating <see cref="KvStore.TryGet"/>), delete + re-put. 16-byte
/// keys (index LE in the first 8), 64-byte values of 0xCD. A store that a benchmark changed is rebuilt
/// between iterations (outside the measurement), so every iteration starts from the stated keydir size
/// (put keeps adding new keys during an iteration, as upstream's does: 16,384 per iteration).
/// </summary>
[MemoryDiagnoser]
[InvocationCount(16_384)]
public class KvBenchmarks
{
    private const int ValueBytes = 64;

    private readonly byte[] _key = new byte[BenchEnv.KeyLength];
    private readonly ArrayBufferWriter<byte> _sink = new(256);
    private byte[] _value = [];
    private KvStore? _store;
    private string? _dir;
    private long _next;
    private bool _changed;

    [Params(1_000, 10_000, 100_000)]
    public int Keys { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _value = BenchEnv.Filled(ValueBytes, BenchEnv.ValueFill);
        Rebuild();
    }

    [IterationCleanup]
    public void ResetIfChanged()
    {
        if (_changed)
        {
            Rebuild();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store?.Dispose();
        BenchEnv.DeleteDir(_dir);
    }

    private void Rebuild()
    {
        Cleanup();
        _dir = BenchEnv.NewDir("kv");
        BenchEnv.PopulateStore(_dir, Keys, _value);
        _store = KvStore.Open(_dir);
        _next = Keys;
        _changed = false;
    }

    /// <summary>Put of a key not in the store (append a Put frame + keydir insert).</summary>
    [Benchmark]
    public void Put()
    {
        _changed = true;
        BenchEnv.WriteKey(_key, _next++);
        _store!.Put(_key, _value);
    }

    /// <summary>Get round-robin over the live keys: keydir lookup, pread of the frame, CRC, copy out.</summary>
    [Benchmark]
    public byte[]? Get()
    {
        BenchEnv.WriteKey(_key, _next++ % Keys);
        return _store!.Get(_key);
    }

    /// <summary>The same into a reused <see cref="ArrayBufferWriter{T}"/>: no allocation expected.</summary>
    [Benchmark]
    public bool TryGet()
    {
        BenchEnv.WriteKey(_key, _next++ % Keys);
        _sink.ResetWrittenCount();
        return _store!.TryGet(_key, _sink);
    }

    /// <summary>Delete a live key (tombstone) and put it back (upstream's "delete" bench).</summary>
    [Benchmark]
    public void DeleteAndReput()
    {
        _changed = true;
        BenchEnv.WriteKey(_key, _next++ % Keys);
        _store!.Delete(_key);
        _store.Put(_key, _value);
    }
}

/// <summary>Upstream <c>open_rebuild</c>: open a store of 1k/10k/100k Put records and rebuild its keydir.</summary>
[MemoryDiagnoser]
public class OpenRebuildBenchmarks
{
    private string? _dir;

    [Params(1_000, 10_000, 100_000)]
    public int Records { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = BenchEnv.NewDir("open-rebuild");
        BenchEnv.PopulateStore(_dir, Records, BenchEnv.Filled(64, BenchEnv.ValueFill));
    }

    [GlobalCleanup]
    public void Cleanup() => BenchEnv.DeleteDir(_dir);

    [Benchmark]
    public int OpenRebuild()
    {
        using var store = KvStore.Open(_dir!);
        return store.Count;
    }
}

/// <summary>
/// Upstream <c>compaction</c>: 10,000 keys with 10/50/100 % left live by deleting the rest;
/// <see cref="KvStore.CompactTo"/> into a fresh directory (fsynced) and <see cref="KvStore.ExportJsonl(string)"/>
/// (atomic replace: temp file, fsync, rename, directory fsync). Outputs are removed between iterations
/// (16 invocations per iteration, 10 iterations).
/// </summary>
[MemoryDiagnoser]
[InvocationCount(16)]
[IterationCount(10)]
public class CompactionBenchmarks
{
    private const int Keys = 10_000;

    private KvStore? _store;
    private string? _dir;
    private string? _outRoot;
    private int _outCounter;

    [Params(10, 50, 100)]
    public int LivePercent { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = BenchEnv.NewDir("compact-src");
        _outRoot = BenchEnv.NewDir("compact-out");
        Directory.CreateDirectory(_outRoot);
        var value = BenchEnv.Filled(64, BenchEnv.ValueFill);
        BenchEnv.PopulateStore(_dir, Keys, value);
        _store = KvStore.Open(_dir);
        var key = new byte[BenchEnv.KeyLength];
        int liveTenths = LivePercent / 10;
        for (int i = 0; i < Keys; i++)
        {
            if (i % 10 >= liveTenths)
            {
                BenchEnv.WriteKey(key, i);
                _store.Delete(key);
            }
        }

        _store.Fsync();
    }

    [IterationCleanup]
    public void RemoveOutputs()
    {
        BenchEnv.DeleteDir(_outRoot);
        Directory.CreateDirectory(_outRoot!);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store?.Dispose();
        BenchEnv.DeleteDir(_dir);
        BenchEnv.DeleteDir(_outRoot);
    }

    [Benchmark]
    public long CompactTo() =>
        _store!.CompactTo(Path.Combine(_outRoot!, (_outCounter++).ToString(System.Globalization.CultureInfo.InvariantCulture))).LiveKeys;

    [Benchmark]
    public void ExportJsonl() => _store!.ExportJsonl(Path.Combine(_outRoot!, "export.jsonl"), overwrite: true);   // every iteration replaces the last one's file
}
