using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DataWal.Core;
using DataWal.Kv;

namespace TestChild;

/// <summary>
/// Child-process scenarios for the reliability suite (tests/DataWal.Reliability.Tests): each prints exactly
/// what it acknowledged, one line per acknowledgement, so the parent can SIGKILL it at any moment and then
/// check that nothing acknowledged was lost.
/// </summary>
internal static class ReliabilityScenarios
{
    /// <summary>Runs the scenario named by <c>args[0]</c>, or returns null when it is not one of these.</summary>
    public static int? Run(string[] args) => args[0] switch
    {
        "rel-append" => Append(args[1], args[2] == "1", Int(args[3]), Int(args[4]), args.Length > 5 ? Int(args[5]) : 1, args.Length > 6 ? args[6] : "manual"),
        "rel-kv" => Kv(args[1], Int(args[2]), Int(args[3]), args.Length > 4 ? Int(args[4]) : 0),
        "rel-group" => Group(args[1], Int(args[2]), Int(args[3])),
        "rel-compact" => Compact(args[1], args[2]),
        "rel-export" => Export(args[1], args[2]),
        "rel-online-compact" => OnlineCompact(args[1], Int(args[2]), Int(args[3])),
        "rel-race" => Race(args[1], long.Parse(args[2], CultureInfo.InvariantCulture), Int(args[3])),
        _ => null,
    };

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    /// <summary>
    /// Opens the log as writer and resumes numbering at the number of records already there, appending
    /// <see cref="ReliabilityData.Record"/> payloads. Prints <c>acked N</c> once the append of N returned, or
    /// <c>durable N</c> once it is durable (with fsync: Fsync after it returned; under <c>every-async</c>: its
    /// AppendAsync completed). With <paramref name="batchMax"/> &gt; 1 the records go in batches of
    /// 1..<paramref name="batchMax"/> (one AppendBatch, then one ack line per record). <paramref name="mode"/>:
    /// <c>manual</c>, <c>grouped</c> (background flushes every 2 ms) or <c>every-async</c>. Rotates whenever
    /// a multiple of <paramref name="rotateEvery"/> records was passed (0 = never). After <paramref name="max"/>
    /// records of this run it prints <c>done</c> and idles.
    /// </summary>
    private static int Append(string directory, bool fsync, int rotateEvery, int max, int batchMax, string mode)
    {
        // "<mode>+auto": the log also rotates by itself, at a small MaxSegmentBytes, so kills land inside automatic rotations.
        bool autoRotate = mode.EndsWith("+auto", StringComparison.Ordinal);
        mode = autoRotate ? mode[..^"+auto".Length] : mode;
        var options = mode switch
        {
            "manual" => new RecordLogOptions(),
            "grouped" => new RecordLogOptions { Durability = DurabilityMode.Grouped, GroupCommitInterval = TimeSpan.FromMilliseconds(2) },
            "every-async" => new RecordLogOptions { Durability = DurabilityMode.EveryAppend },
            _ => throw new ArgumentException("unknown durability mode " + mode, nameof(mode)),
        };
        if (autoRotate)
        {
            options = new RecordLogOptions { Durability = options.Durability, GroupCommitInterval = options.GroupCommitInterval, MaxSegmentBytes = 4096 };
        }

        string ack = fsync || mode == "every-async" ? "durable" : "acked";
        using var log = RecordLog.Open(directory, options);
        using var batch = new RecordBatch();
        long start = (long)(log.NextTxId - 1);
        for (long i = start; i < start + max;)
        {
            int n = batchMax > 1 ? 1 + (int)(i * 13 % batchMax) : 1;
            if (n > 1)
            {
                batch.Clear();
                for (int k = 0; k < n; k++)
                {
                    batch.Add(RecordType.Raw, default, ReliabilityData.Record(i + k));
                }

                log.AppendBatch(batch);
            }
            else if (mode == "every-async")
            {
                log.AppendAsync(ReliabilityData.Record(i)).AsTask().GetAwaiter().GetResult();
            }
            else
            {
                log.Append(ReliabilityData.Record(i));
            }

            if (fsync)
            {
                log.Fsync();
            }

            for (int k = 0; k < n; k++)
            {
                Console.WriteLine($"{ack} {i + k}");
            }

            if (rotateEvery > 0 && (i + n) / rotateEvery > i / rotateEvery)
            {
                log.Rotate();
            }

            i += n;
        }

        Console.WriteLine("done");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    /// <summary>
    /// Opens a KvStore as writer and applies <see cref="ReliabilityData.KvOp"/> operations, resuming at the
    /// sequence number equal to the records already in the log (one record per operation). Whenever a multiple
    /// of <paramref name="fsyncEvery"/> operations was passed it fsyncs and prints <c>durable S</c>: operations
    /// 0..S-1 are durable. With <paramref name="batchMax"/> &gt; 0 the operations go in <see cref="KvBatch"/>es
    /// of 1..<paramref name="batchMax"/> (one Apply each).
    /// </summary>
    private static int Kv(string directory, int fsyncEvery, int max, int batchMax)
    {
        using var kv = KvStore.Open(directory);
        using var batch = new KvBatch();
        long start = (long)(kv.Log.NextTxId - 1);
        for (long seq = start; seq < start + max;)
        {
            int n = batchMax > 0 ? 1 + (int)(seq * 13 % batchMax) : 1;
            if (batchMax > 0)
            {
                batch.Clear();
                for (int k = 0; k < n; k++)
                {
                    var (isPut, key, value) = ReliabilityData.KvOp(seq + k);
                    if (isPut)
                    {
                        batch.Put(key, value);
                    }
                    else
                    {
                        batch.Delete(key);
                    }
                }

                kv.Apply(batch);
            }
            else
            {
                var (isPut, key, value) = ReliabilityData.KvOp(seq);
                if (isPut)
                {
                    kv.Put(key, value);
                }
                else
                {
                    kv.Delete(key);
                }
            }

            seq += n;
            if (seq / fsyncEvery > (seq - n) / fsyncEvery)
            {
                kv.Fsync();
                Console.WriteLine($"durable {seq}");
            }
        }

        Console.WriteLine("done");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    /// <summary>
    /// Opens the log under <see cref="DurabilityMode.EveryAppend"/>; <paramref name="threads"/> threads each
    /// append <see cref="ReliabilityData.GroupRecord"/> payloads 0, 1, 2, … and print <c>durable T:N</c> once
    /// their Append returned (group commit shares the fsyncs).
    /// </summary>
    private static int Group(string directory, int threads, int maxPerThread)
    {
        using var log = RecordLog.Open(directory, new RecordLogOptions { Durability = DurabilityMode.EveryAppend });
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int thread = t;
            workers[t] = new Thread(() =>
            {
                for (int n = 0; n < maxPerThread; n++)
                {
                    log.Append(ReliabilityData.GroupRecord(thread, n));
                    Console.WriteLine($"durable {thread}:{n}");
                }
            });
            workers[t].Start();
        }

        foreach (var w in workers)
        {
            w.Join();
        }

        Console.WriteLine("done");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    /// <summary>Opens the seeded store as writer and compacts it into <c>out_0</c>, <c>out_1</c>, … printing <c>compacted I</c>.</summary>
    private static int Compact(string source, string outRoot)
    {
        using var kv = KvStore.Open(source);
        for (int i = 0; i < 5000; i++)
        {
            kv.CompactTo(Path.Combine(outRoot, $"out_{i}"));
            Console.WriteLine($"compacted {i}");
        }

        Console.WriteLine("done");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    /// <summary>
    /// Online compaction beside writers (docs/design.md D15): a KvStore with 4 KiB segments under
    /// <see cref="DurabilityMode.EveryAppend"/>; <paramref name="writers"/> threads each own the keys
    /// <c>w{t}-k{00..39}</c> and put (4 in 5) or delete them at random, printing <c>op KEY GEN SEQ put|del</c> before
    /// the write and <c>ok KEY GEN SEQ</c> once it returned (durable). The value of a put is
    /// <see cref="ReliabilityData.OnlineValue"/> (self-checking); (<paramref name="generation"/>, SEQ) orders a key's
    /// writes across runs. Another thread runs <see cref="KvStore.Compact"/> in a loop, printing <c>compacting</c>
    /// before and <c>compacted SEGMENTS DELETED</c> after each. Runs until killed.
    /// </summary>
    private static int OnlineCompact(string directory, int writers, int generation)
    {
        var options = new KvStoreOptions { Log = new RecordLogOptions { Durability = DurabilityMode.EveryAppend, MaxSegmentBytes = 4096 } };
        using var kv = KvStore.Open(directory, options);
        Console.WriteLine("opened");
        var threads = new List<Thread>();
        for (int t = 0; t < writers; t++)
        {
            int thread = t;
            threads.Add(new Thread(() =>
            {
                var random = new Random((generation * 31) + thread);
                for (long seq = 0; ; seq++)
                {
                    string key = $"w{thread}-k{random.Next(40):D2}";
                    bool delete = random.Next(5) == 0;
                    Console.WriteLine($"op {key} {generation} {seq} {(delete ? "del" : "put")}");
                    if (delete)
                    {
                        kv.Delete(Encoding.ASCII.GetBytes(key));
                    }
                    else
                    {
                        kv.Put(Encoding.ASCII.GetBytes(key), Encoding.ASCII.GetBytes(ReliabilityData.OnlineValue(key, generation, seq)));
                    }

                    Console.WriteLine($"ok {key} {generation} {seq}");
                }
            })
            { IsBackground = true });
        }

        threads.Add(new Thread(() =>
        {
            while (true)
            {
                Console.WriteLine("compacting");
                var result = kv.Compact();
                Console.WriteLine($"compacted {result.SegmentsCompacted} {result.SegmentsDeleted}");
            }
        })
        { IsBackground = true });
        threads.ForEach(t => t.Start());
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    /// <summary>Opens the seeded store as writer and exports it to <c>export_I.jsonl</c> in <paramref name="outDir"/>, printing <c>exported I</c>.</summary>
    private static int Export(string source, string outDir)
    {
        using var kv = KvStore.Open(source);
        for (int i = 0; i < 5000; i++)
        {
            // Each cycle of the crash test starts again at 0 in the same directory: replace what an earlier cycle left.
            kv.ExportJsonl(Path.Combine(outDir, $"export_{i}.jsonl"), overwrite: true);
            Console.WriteLine($"exported {i}");
        }

        Console.WriteLine("done");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    /// <summary>
    /// Spins until the common start time (Unix ms), then tries to open the log as writer: prints <c>won</c>
    /// (and holds the lock for <paramref name="holdMs"/>) or <c>locked</c>; prints <c>late</c> first when it
    /// arrived after the start time.
    /// </summary>
    private static int Race(string directory, long startUnixMs, int holdMs)
    {
        if (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() > startUnixMs)
        {
            Console.WriteLine("late");
        }

        while (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() < startUnixMs)
        {
            Thread.SpinWait(50);
        }

        try
        {
            using var log = RecordLog.Open(directory);
            Console.WriteLine("won");
            Thread.Sleep(holdMs);
        }
        catch (StoreLockedException)
        {
            Console.WriteLine("locked");
        }
        catch (Exception e)
        {
            Console.WriteLine($"error {e.GetType().Name}: {e.Message}");
        }

        return 0;
    }
}

/// <summary>Self-checking payloads and the deterministic KV operation stream of the reliability suite.</summary>
public static class ReliabilityData
{
    /// <summary>The value of write (<paramref name="generation"/>, <paramref name="seq"/>) of <paramref name="key"/> in the online-compaction scenario: 20..119 bytes that name all three.</summary>
    public static string OnlineValue(string key, int generation, long seq)
    {
        string head = $"{key}|{generation}|{seq}|";
        return head + new string((char)('a' + (int)(seq % 26)), 20 + (int)(((seq * 37) + generation) % 100) - Math.Min(head.Length, 20));
    }

    /// <summary>Record <paramref name="index"/>: a <see cref="Generation"/> payload of 16..615 bytes.</summary>
    public static byte[] Record(long index) => Generation.Build(index, RecordSize(index));

    /// <summary>The payload size of record <paramref name="index"/>.</summary>
    public static int RecordSize(long index) => 16 + (int)(index * 131 % 600);

    /// <summary>Payload <paramref name="n"/> of thread <paramref name="thread"/>: 8 bytes thread, 8 bytes n, then a pattern.</summary>
    public static byte[] GroupRecord(int thread, long n)
    {
        var bytes = new byte[32 + (int)(n * 53 % 200)];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, thread);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), n);
        for (int i = 16; i < bytes.Length; i++)
        {
            bytes[i] = (byte)((thread * 97) + (n * 13) + i);
        }

        return bytes;
    }

    /// <summary>Parses a <see cref="GroupRecord"/>; null when the bytes are not exactly one.</summary>
    public static (int Thread, long N)? ParseGroupRecord(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 32)
        {
            return null;
        }

        int thread = (int)BinaryPrimitives.ReadInt64LittleEndian(bytes);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes[8..]);
        if (thread < 0 || thread > 1024 || n < 0)
        {
            return null;
        }

        return bytes.SequenceEqual(GroupRecord(thread, n)) ? (thread, n) : null;
    }

    /// <summary>
    /// Operation <paramref name="seq"/> of the KV stream: every 4th a delete, otherwise a put whose value names
    /// the sequence number and the key (self-checking); keys come from a universe of 97.
    /// </summary>
    public static (bool IsPut, byte[] Key, byte[] Value) KvOp(long seq)
    {
        byte[] key = Encoding.ASCII.GetBytes($"key-{seq * 7919 % 97:D3}");
        if (seq % 4 == 3)
        {
            return (false, key, []);
        }

        string value = $"v{seq}:{Encoding.ASCII.GetString(key)}:" + new string((char)('a' + (seq % 26)), (int)(seq % 50));
        return (true, key, Encoding.ASCII.GetBytes(value));
    }
}
