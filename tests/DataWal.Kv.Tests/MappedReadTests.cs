using System.Collections.Concurrent;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// Gets read sealed segments through memory mappings (64-bit Linux) and the active segment with pread: the same
/// values and the same typed errors either way, a mapping never pulled from under a read (eviction, compaction,
/// Dispose), and the pread path — the only one elsewhere — kept covered by forcing it.
/// </summary>
public class MappedReadTests
{
    private const int Keys = 600;

    private static byte[] KeyOf(int i) => B($"key-{i:D5}");

    private static byte[] ValueOf(int i, int version) => B($"value {i} v{version} " + new string((char)('a' + (i % 26)), i % 90));

    private static KvStoreOptions Options(bool map = true, int capacity = ReadHandlePool.DefaultCapacity) => new()
    {
        Log = new RecordLogOptions { MaxSegmentBytes = 8 * 1024 },
        ReadHandleCapacity = capacity,
        MapSealedSegments = map,
    };

    /// <summary>Writes <see cref="Keys"/> keys over several small segments (and overwrites every third), then closes.</summary>
    private static void Fill(string directory)
    {
        using var kv = KvStore.Open(directory, Options());
        for (int i = 0; i < Keys; i++)
        {
            kv.Put(KeyOf(i), ValueOf(i, 1));
        }

        for (int i = 0; i < Keys; i += 3)
        {
            kv.Put(KeyOf(i), ValueOf(i, 2));
        }
    }

    private static int Version(int i) => i % 3 == 0 ? 2 : 1;

    /// <summary>The mappings of files under <paramref name="directory"/> this process holds (from /proc/self/maps).</summary>
    private static List<string> Mappings(string directory)
    {
        string prefix = Path.GetFullPath(directory) + Path.DirectorySeparatorChar;
        return File.ReadAllLines("/proc/self/maps").Where(line => line.Contains(prefix, StringComparison.Ordinal)).ToList();
    }

    private static void AssumeMapping() =>
        Assume.That(MappedSegment.Supported, "memory-mapped reads exist on 64-bit Linux only; elsewhere the pread tests cover the one path");

    [Test]
    public void Sealed_segments_read_through_mappings_give_the_values_pread_gives()
    {
        AssumeMapping();
        using var dir = new TempDir();
        Fill(dir.Path);

        var viaMapping = new List<byte[]?>();
        using (var kv = KvStore.Open(dir.Path, Options()))
        {
            Assert.That(kv.SealedBelow, Is.GreaterThan(3u), "the keys span several sealed segments");
            for (int i = 0; i < Keys; i++)
            {
                viaMapping.Add(kv.Get(KeyOf(i)));
            }

            Assert.That(kv.ReadPool.MappedCount, Is.GreaterThan(1), "sealed segments were mapped");
            Assert.That(Mappings(dir.Path), Has.Count.EqualTo(kv.ReadPool.MappedCount));
            Assert.That(Mappings(dir.Path), Has.None.Contains(Path.GetFileName(Seg(dir.Path, kv.SealedBelow))), "the active segment is never mapped");
        }

        using (var kv = KvStore.Open(dir.Path, Options(map: false)))
        {
            for (int i = 0; i < Keys; i++)
            {
                Assert.That(viaMapping[i], Is.EqualTo(ValueOf(i, Version(i))), $"key {i} through the mapping");
                Assert.That(kv.Get(KeyOf(i)), Is.EqualTo(viaMapping[i]), $"key {i} through pread");
            }

            Assert.That(kv.ReadPool.MapsSealedSegments, Is.False);
            Assert.That(kv.ReadPool.MappedCount, Is.Zero);
            Assert.That(Mappings(dir.Path), Is.Empty, "forced pread maps nothing");
        }
    }

    [Test]
    public void The_forced_pread_path_reads_every_key_with_and_without_cached_handles()
    {
        using var dir = new TempDir();
        Fill(dir.Path);
        foreach (int capacity in new[] { 0, 2, ReadHandlePool.DefaultCapacity })
        {
            using var kv = KvStore.Open(dir.Path, Options(map: false, capacity: capacity));
            for (int i = 0; i < Keys; i++)
            {
                Assert.That(kv.Get(KeyOf(i)), Is.EqualTo(ValueOf(i, Version(i))), $"key {i}, capacity {capacity}");
            }

            Assert.That(kv.ReadPool.MappedCount, Is.Zero);
            Assert.That(kv.ReadPool.Count, Is.LessThanOrEqualTo(capacity));
        }
    }

    [Test]
    public void A_segment_sealed_in_this_process_is_mapped_once_writes_move_on()
    {
        AssumeMapping();
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("a"u8, "first"u8);
        Assert.That(S(kv.Get("a"u8)), Is.EqualTo("first"));
        Assert.That(kv.ReadPool.MappedCount, Is.Zero, "segment 1 is active: pread");

        kv.Rotate();
        Assert.That(S(kv.Get("a"u8)), Is.EqualTo("first"));
        Assert.That(kv.ReadPool.MappedCount, Is.Zero, "no append has landed in segment 2 yet: segment 1 still counts as active");

        kv.Put("b"u8, "second"u8);
        Assert.That(kv.SealedBelow, Is.EqualTo(2u));
        Assert.That(S(kv.Get("a"u8)), Is.EqualTo("first"));
        Assert.That(S(kv.Get("b"u8)), Is.EqualTo("second"));
        Assert.That(kv.ReadPool.MappedCount, Is.EqualTo(1), "segment 1's pread handle was replaced by a mapping");
        Assert.That(kv.ReadPool.Count, Is.EqualTo(2));
    }

    [Test]
    public void A_sealed_segment_truncated_after_sealing_reads_as_the_same_short_read_error_as_pread()
    {
        AssumeMapping();
        using var dir = new TempDir();
        Fill(dir.Path);
        using var kv = KvStore.Open(dir.Path, Options());

        // The last frame of segment 1: cut it in half, and lose the one before it entirely. Nothing has been mapped
        // yet, so the mapping sees the short file and must bounds-check, not fault.
        var inFirst = Enumerable.Range(0, Keys).Where(i => kv.RefOf(KeyOf(i))!.Value.Segment == 1)
            .OrderBy(i => kv.RefOf(KeyOf(i))!.Value.Offset).ToList();
        Assert.That(inFirst, Has.Count.GreaterThan(2));
        int last = inFirst[^1];
        var lastAt = kv.RefOf(KeyOf(last))!.Value;
        Truncate(Seg(dir.Path, 1), (long)lastAt.Offset + (lastAt.Length / 2));

        var e = Assert.Throws<CorruptRecordException>(() => kv.Get(KeyOf(last)))!;
        Assert.That(e.Kind, Is.EqualTo(CorruptionKind.Truncated));
        Assert.That(e.Segment, Is.EqualTo(1u));
        Assert.That(kv.ReadPool.MappedCount, Is.EqualTo(1), "the error came through the mapping");

        using var pread = new ReadHandlePool(dir.Path, mapSealed: false);
        var viaPread = Assert.Throws<CorruptRecordException>(() => ValueReader.Read(pread, KeyOf(last), lastAt, kv.SealedBelow))!;
        Assert.That(e.Message, Is.EqualTo(viaPread.Message), "the same typed error as pread");

        int first = inFirst[0];
        Assert.That(kv.Get(KeyOf(first)), Is.EqualTo(ValueOf(first, Version(first))), "frames before the cut still read");

        // A frame past the mapped end entirely: a short read of nothing.
        Truncate(Seg(dir.Path, 1), (long)lastAt.Offset);
        kv.ReadPool.Invalidate(1, 1);
        var gone = Assert.Throws<CorruptRecordException>(() => kv.Get(KeyOf(last)))!;
        Assert.That(gone.Message, Is.EqualTo($"datawal: short read for segment 00000001 offset {lastAt.Offset} (got 0, need at least {WireFormat.HeaderLength})"));
        Assert.That(ValueReader.Read(pread, KeyOf(first), kv.RefOf(KeyOf(first))!.Value, kv.SealedBelow), Is.EqualTo(ValueOf(first, Version(first))));
    }

    [Test]
    public void A_sealed_segment_corrupted_while_mapped_is_a_crc_mismatch_not_a_value()
    {
        AssumeMapping();
        using var dir = new TempDir();
        Fill(dir.Path);
        using var kv = KvStore.Open(dir.Path, Options());
        int key = Enumerable.Range(0, Keys).First(i => kv.RefOf(KeyOf(i))!.Value.Segment == 2);
        var at = kv.RefOf(KeyOf(key))!.Value;
        Assert.That(kv.Get(KeyOf(key)), Is.EqualTo(ValueOf(key, Version(key))));
        Assert.That(kv.ReadPool.MappedCount, Is.EqualTo(1), "segment 2 is mapped now");

        // Written through the file, seen through the (shared) mapping.
        FlipByte(Seg(dir.Path, 2), (long)at.Offset + WireFormat.HeaderLength + KeyOf(key).Length + 2, 0x20);
        var e = Assert.Throws<CorruptRecordException>(() => kv.Get(KeyOf(key)))!;
        Assert.That(e.Kind, Is.EqualTo(CorruptionKind.CrcMismatch));
        Assert.That(e.Message, Is.EqualTo($"datawal: CRC mismatch at segment 00000002 offset {at.Offset} (size {at.Length})"));

        using var pread = new ReadHandlePool(dir.Path, mapSealed: false);
        var viaPread = Assert.Throws<CorruptRecordException>(() => ValueReader.Read(pread, KeyOf(key), at, kv.SealedBelow))!;
        Assert.That(viaPread.Message, Is.EqualTo(e.Message));
    }

    [Test]
    public void Compaction_deleting_and_replacing_mapped_segments_while_gets_run_never_faults()
    {
        AssumeMapping();
        const int Readers = 2;
        const int Rounds = 6;
        using var dir = new TempDir();
        Fill(dir.Path);
        using var kv = KvStore.Open(dir.Path, Options(capacity: 4));
        var errors = new ConcurrentQueue<string>();
        int stop = 0;
        long reads = 0;
        int maxMapped = 0;
        var threads = Enumerable.Range(0, Readers).Select(r => new Thread(() =>
        {
            var rng = new Random(r);
            while (Volatile.Read(ref stop) == 0 && errors.IsEmpty)
            {
                int i = rng.Next(Keys);
                try
                {
                    var value = kv.Get(KeyOf(i));
                    string text = S(value);
                    if (value is null || !text.StartsWith($"value {i} v", StringComparison.Ordinal))
                    {
                        errors.Enqueue($"key {i}: {text}");
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue($"reader {r}, key {i}: {e}");
                }

                Interlocked.Increment(ref reads);
                int mapped = kv.ReadPool.MappedCount;
                if (mapped > Volatile.Read(ref maxMapped))
                {
                    Volatile.Write(ref maxMapped, mapped);
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());

        var deleted = 0;
        for (int round = 0; round < Rounds && errors.IsEmpty; round++)
        {
            for (int i = round % 3; i < Keys; i += 3)
            {
                kv.Put(KeyOf(i), ValueOf(i, round + 3));
            }

            long before = Interlocked.Read(ref reads);
            SpinWait.SpinUntil(() => Interlocked.Read(ref reads) > before + 200 || !errors.IsEmpty, TimeSpan.FromSeconds(30));
            deleted += kv.Compact().SegmentsDeleted;
        }

        Volatile.Write(ref stop, 1);
        threads.ForEach(t => t.Join());

        Assert.That(errors, Is.Empty);
        Assert.That(deleted, Is.Positive, "compactions deleted mapped segments");
        Assert.That(maxMapped, Is.Positive, "the readers went through mappings");
        Assert.That(Mappings(dir.Path), Has.None.Contains("(deleted)"), "no mapping of a deleted segment outlives its reads");
        for (int i = 0; i < Keys; i++)
        {
            Assert.That(kv.Get(KeyOf(i)), Is.Not.Null, $"key {i} after the compactions");
        }
    }

    [Test]
    public void A_segment_read_between_the_switch_and_its_deletion_does_not_stay_mapped()
    {
        AssumeMapping();
        using var dir = new TempDir();
        Fill(dir.Path);
        using var kv = KvStore.Open(dir.Path, Options());
        var readBeforeUnlink = new List<uint>();
        int deleted;
        using (var faults = FaultInjector.Install())
        {
            // A get that found its location before the switch reads the segment after the pool dropped it and before
            // the compaction unlinks it: the pool maps it again. That mapping must not outlive the file.
            faults.Before(
                Call.Unlink,
                path =>
                {
                    Assert.That(SegmentFiles.TryParseFileName(Path.GetFileName(path), out uint segment), Is.True, path);
                    Span<byte> header = stackalloc byte[WireFormat.HeaderLength];
                    Assert.That(kv.ReadPool.ReadAt(segment, 0, header, kv.SealedBelow), Is.EqualTo(header.Length));
                    readBeforeUnlink.Add(segment);
                },
                path: p => p is not null && p.EndsWith(".dwal", StringComparison.Ordinal));
            deleted = kv.Compact().SegmentsDeleted;
        }

        Assert.That(deleted, Is.Positive, "the compaction deleted segments");
        Assert.That(readBeforeUnlink, Has.Count.EqualTo(1), "the read ran just before the first unlink");
        Assert.That(Mappings(dir.Path), Has.None.Contains("(deleted)"), "no mapping of a deleted segment is kept");
        for (int i = 0; i < Keys; i++)
        {
            Assert.That(S(kv.Get(KeyOf(i))), Is.EqualTo(S(ValueOf(i, Version(i)))), $"key {i} after the compaction");
        }
    }

    [Test]
    public void Invalidation_and_eviction_racing_reads_never_unmap_under_a_read()
    {
        AssumeMapping();
        using var dir = new TempDir();
        Fill(dir.Path);
        var locations = new List<(byte[] Key, RecordRef At, byte[] Value)>();
        uint sealedBelow;
        using (var kv = KvStore.Open(dir.Path, Options()))
        {
            sealedBelow = kv.SealedBelow;
            for (int i = 0; i < Keys; i++)
            {
                locations.Add((KeyOf(i), kv.RefOf(KeyOf(i))!.Value, ValueOf(i, Version(i))));
            }
        }

        // Capacity 2 over many segments: nearly every read evicts a mapping another thread may be reading through,
        // and a third thread drops them all again and again.
        using var pool = new ReadHandlePool(dir.Path, capacity: 2);
        var errors = new ConcurrentQueue<string>();
        int running = 2;
        var readers = Enumerable.Range(0, 2).Select(r => new Thread(() =>
        {
            var rng = new Random(r);
            for (int n = 0; n < 20_000 && errors.IsEmpty; n++)
            {
                var (key, at, value) = locations[rng.Next(locations.Count)];
                try
                {
                    if (!ValueReader.Read(pool, key, at, sealedBelow).AsSpan().SequenceEqual(value))
                    {
                        errors.Enqueue($"wrong value for {S(key)}");
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue(e.ToString());
                }
            }

            Interlocked.Decrement(ref running);
        })).ToList();
        readers.ForEach(t => t.Start());
        int invalidations = 0;
        while (Volatile.Read(ref running) > 0)
        {
            pool.Invalidate(0, uint.MaxValue);
            invalidations++;
            Thread.Yield();
        }

        readers.ForEach(t => t.Join());
        Assert.That(errors, Is.Empty);
        Assert.That(invalidations, Is.Positive);
        Assert.That(pool.Count, Is.LessThanOrEqualTo(2));
        Assert.That(Mappings(dir.Path), Has.Count.EqualTo(pool.MappedCount), "every mapping the pool dropped is gone");
    }

    [Test]
    public void Dispose_unmaps_every_segment()
    {
        AssumeMapping();
        using var dir = new TempDir();
        Fill(dir.Path);
        var kv = KvStore.Open(dir.Path, Options());
        for (int i = 0; i < Keys; i++)
        {
            Assert.That(kv.Get(KeyOf(i)), Is.Not.Null);
        }

        Assert.That(Mappings(dir.Path), Is.Not.Empty);
        kv.Dispose();
        Assert.That(Mappings(dir.Path), Is.Empty);
        Assert.Throws<ObjectDisposedException>(() => kv.Get(KeyOf(0)));
    }

    [Test]
    public void A_read_only_store_maps_all_but_its_last_segment()
    {
        AssumeMapping();
        using var dir = new TempDir();
        Fill(dir.Path);
        using var writer = KvStore.Open(dir.Path, Options());
        using var reader = KvStore.OpenReadOnly(dir.Path);
        uint last = reader.Log.ActiveSegment;
        for (int i = 0; i < Keys; i++)
        {
            Assert.That(reader.Get(KeyOf(i)), Is.EqualTo(ValueOf(i, Version(i))));
        }

        Assert.That(reader.SealedBelow, Is.EqualTo(last));
        Assert.That(Mappings(dir.Path), Has.None.Contains(Path.GetFileName(Seg(dir.Path, last))), "the live writer may still append to the last segment");
        Assert.That(reader.ReadPool.MappedCount, Is.Positive);
    }
    [Test]
    public void Export_copy_items_and_compaction_read_sealed_values_through_mappings_and_match_pread()
    {
        AssumeMapping();
        using var dir = new TempDir();
        Fill(dir.Path);
        (string Export, string[] Copy, int Items) Run(bool map, string tag)
        {
            using var kv = KvStore.Open(dir.Path, Options(map));
            string export = Path.Combine(dir.Path, "..", Path.GetFileName(dir.Path) + "-" + tag + ".jsonl");
            kv.ExportJsonl(export, overwrite: true);
            string copy = dir.Path + "-" + tag + "-copy";
            kv.CompactTo(copy);
            int items = kv.Items().Count(pair => Enumerable.Range(0, Keys).Any(i => pair.Key.AsSpan().SequenceEqual(KeyOf(i)) && pair.Value.AsSpan().SequenceEqual(ValueOf(i, Version(i)))));
            Assert.That(kv.ReadPool.MappedCount, map ? Is.GreaterThan(1) : Is.Zero, tag + ": sealed values came from mappings, or none with mapping off");
            string text = File.ReadAllText(export);
            File.Delete(export);
            using var copied = KvStore.Open(copy);
            var copyValues = Enumerable.Range(0, Keys).Select(i => Convert.ToHexString(copied.Get(KeyOf(i))!)).ToArray();
            copied.Dispose();
            Directory.Delete(copy, recursive: true);
            return (text, copyValues, items);
        }

        var mapped = Run(map: true, "mapped");
        var preads = Run(map: false, "pread");
        Assert.That(mapped.Export, Is.EqualTo(preads.Export));
        Assert.That(mapped.Copy, Is.EqualTo(preads.Copy));
        Assert.That(mapped.Items, Is.EqualTo(Keys));
        Assert.That(preads.Items, Is.EqualTo(Keys));

        // Online compaction reads the sealed segments it rewrites through mappings too (and unmaps them as it
        // replaces them); every value survives it.
        using (var kv = KvStore.Open(dir.Path, Options()))
        {
            kv.Compact();
            for (int i = 0; i < Keys; i++)
            {
                Assert.That(kv.Get(KeyOf(i)), Is.EqualTo(ValueOf(i, Version(i))), $"key {i} after the compaction");
            }
        }
    }
}
