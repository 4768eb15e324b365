using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// The keydir maps keys to frame locations and reads values from disk on demand (upstream
/// <c>tests/keydir_by_offset.rs</c>, 8 tests), plus the bounded read-handle pool behind it.
/// </summary>
public class KeydirByOffsetTests
{
    [Test]
    public void Get_reads_payload_lazily_after_drop_and_reopen()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put("alpha"u8, "one"u8);
            kv.Put("beta"u8, "two"u8);
            kv.Fsync();
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(S(reopened.Get("alpha"u8)), Is.EqualTo("one"));
        Assert.That(S(reopened.Get("beta"u8)), Is.EqualTo("two"));
        Assert.That(reopened.Get("gamma"u8), Is.Null);
    }

    [Test]
    public void Get_reads_the_value_from_disk_every_time()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "AAAA"u8);
        Assert.That(S(kv.Get("k"u8)), Is.EqualTo("AAAA"));

        // A same-length rewrite with a valid CRC is what the next Get returns: nothing is cached in memory.
        RewriteFrameWithValidCrc(dir.Path, kv.RefOf("k"u8)!.Value, frame => "BBBB"u8.CopyTo(frame.AsSpan(WireFormat.HeaderLength + 1)));
        Assert.That(S(kv.Get("k"u8)), Is.EqualTo("BBBB"));
    }

    [Test]
    public void Get_revalidates_crc_and_errors_on_corruption()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "payload-bytes"u8);
        kv.Fsync();
        Assert.That(S(kv.Get("k"u8)), Is.EqualTo("payload-bytes"));

        string segment = Seg(dir.Path, 1);
        FlipByte(segment, new FileInfo(segment).Length - 5);   // last payload byte

        var e = Assert.Throws<CorruptRecordException>(() => kv.Get("k"u8));
        Assert.That(e!.Message, Does.Contain("CRC mismatch"));
        Assert.That(e.Kind, Is.EqualTo(CorruptionKind.CrcMismatch));
    }

    [Test]
    public void Ref_of_tracks_live_keys_and_returns_none_after_delete()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        Assert.That(kv.RefOf("k"u8), Is.Null);

        kv.Put("x"u8, "first"u8);
        kv.Put("k"u8, "value"u8);
        var location = kv.RefOf("k"u8);
        Assert.That(location, Is.Not.Null);
        Assert.That(location!.Value.Segment, Is.EqualTo(1u));
        Assert.That(location.Value.Offset, Is.EqualTo((ulong)WireFormat.FrameSize(1, 5)));
        Assert.That(location.Value.Length, Is.EqualTo((uint)WireFormat.FrameSize(1, 5)));
        Assert.That(S(kv.Get("k"u8)), Is.EqualTo("value"));

        kv.Delete("k"u8);
        Assert.That(kv.RefOf("k"u8), Is.Null);
        Assert.That(kv.Get("k"u8), Is.Null);
        Assert.That(kv.RefOf("x"u8), Is.EqualTo(new RecordRef(1, 0, (uint)WireFormat.FrameSize(1, 5))));
    }

    [Test]
    public void Ref_of_advances_to_latest_overwrite()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "v1"u8);
        var first = kv.RefOf("k"u8)!.Value;
        kv.Put("k"u8, "v2-longer"u8);
        var second = kv.RefOf("k"u8)!.Value;

        Assert.That(second.Segment, Is.EqualTo(first.Segment));
        Assert.That(second.Offset, Is.GreaterThan(first.Offset));
        Assert.That(second.Length, Is.EqualTo((uint)WireFormat.FrameSize(1, 9)));
        Assert.That(S(kv.Get("k"u8)), Is.EqualTo("v2-longer"));
    }

    [Test]
    public void Get_works_for_records_in_sealed_segment_after_rotation()
    {
        using var dir = new TempDir();
        string store = dir["store"];
        using (var kv = KvStore.Open(store))
        {
            kv.Put("s1"u8, "in segment 1"u8);
            kv.Rotate();
            kv.Put("s2"u8, "in segment 2"u8);
            kv.Rotate();
            kv.Put("s3"u8, "in segment 3"u8);

            Assert.That(kv.RefOf("s1"u8)!.Value.Segment, Is.EqualTo(1u));
            Assert.That(kv.RefOf("s2"u8)!.Value.Segment, Is.EqualTo(2u));
            Assert.That(kv.RefOf("s3"u8)!.Value, Is.EqualTo(new RecordRef(3, 0, (uint)WireFormat.FrameSize(2, 12))));
            Assert.That(S(kv.Get("s1"u8)), Is.EqualTo("in segment 1"));
            Assert.That(S(kv.Get("s2"u8)), Is.EqualTo("in segment 2"));
            Assert.That(S(kv.Get("s3"u8)), Is.EqualTo("in segment 3"));
            kv.Fsync();
        }

        using var reopened = KvStore.Open(store);
        Assert.That(reopened.RecoveryReport.FilesScanned, Is.EqualTo(3));
        Assert.That(S(reopened.Get("s1"u8)), Is.EqualTo("in segment 1"));
        Assert.That(S(reopened.Get("s2"u8)), Is.EqualTo("in segment 2"));
        Assert.That(S(reopened.Get("s3"u8)), Is.EqualTo("in segment 3"));

        // Upstream's version of this test: compact into an existing empty directory, then use the result.
        string compacted = dir["compacted"];
        Directory.CreateDirectory(compacted);
        reopened.CompactTo(compacted);
        using var target = KvStore.Open(compacted);
        target.Put("added"u8, "after compaction"u8);
        Assert.That(S(target.Get("s1"u8)), Is.EqualTo("in segment 1"));
        Assert.That(S(target.Get("s3"u8)), Is.EqualTo("in segment 3"));
        Assert.That(S(target.Get("added"u8)), Is.EqualTo("after compaction"));
        Assert.That(target.Count, Is.EqualTo(4));
    }

    [Test]
    [Platform("Linux")]
    public void Fd_pool_reuses_fd_across_repeated_gets()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        for (int i = 0; i < 100; i++)
        {
            kv.Put(B($"key-{i:D3}"), B($"value-{i}"));
        }

        kv.Fsync();
        Assert.That(S(kv.Get("key-000"u8)), Is.EqualTo("value-0"));   // the pool opens its handle here

        int before = OpenFileDescriptors();
        for (int round = 0; round < 5; round++)
        {
            for (int i = 0; i < 100; i++)
            {
                Assert.That(S(kv.Get(B($"key-{i:D3}"))), Is.EqualTo($"value-{i}"));
            }
        }

        Assert.That(OpenFileDescriptors() - before, Is.LessThanOrEqualTo(4));
    }

    [Test]
    [Platform("Linux")]
    public void Open_read_handles_are_bounded_by_the_pool_capacity()
    {
        const int segments = 40;
        using var dir = new TempDir();
        using (var writer = KvStore.Open(dir.Path))
        {
            for (int i = 0; i < segments; i++)
            {
                writer.Put(B($"k{i:D2}"), B($"v{i}"));
                if (i < segments - 1)
                {
                    writer.Rotate();
                }
            }

            writer.Fsync();
        }

        foreach (int capacity in new[] { 4, ReadHandlePool.DefaultCapacity })
        {
            using var kv = KvStore.Open(dir.Path, new KvStoreOptions { ReadHandleCapacity = capacity });
            int before = OpenFileDescriptors();
            for (int round = 0; round < 3; round++)
            {
                for (int i = 0; i < segments; i++)
                {
                    Assert.That(S(kv.Get(B($"k{i:D2}"))), Is.EqualTo($"v{i}"));
                }
            }

            Assert.That(OpenFileDescriptors() - before, Is.LessThanOrEqualTo(capacity + 2), $"capacity {capacity}");
        }
    }

    [Test]
    public void Read_handle_pool_is_lru_with_bounded_size()
    {
        using var dir = new TempDir();
        for (uint id = 1; id <= 3; id++)
        {
            File.WriteAllBytes(Seg(dir.Path, id), B($"segment {id} says hello world"));
        }

        using var pool = new ReadHandlePool(dir.Path, capacity: 2);
        var buffer = new byte[5];
        Assert.That(pool.ReadAt(1, 15, buffer, activeSegment: 0), Is.EqualTo(5));
        Assert.That(S(buffer), Is.EqualTo("hello"));
        Assert.That(pool.ReadAt(1, 21, buffer, activeSegment: 0), Is.EqualTo(5));
        Assert.That(S(buffer), Is.EqualTo("world"));
        Assert.That(pool.Count, Is.EqualTo(1), "the second read reuses the cached handle");

        pool.ReadAt(2, 0, buffer, activeSegment: 0);
        pool.ReadAt(3, 0, buffer, activeSegment: 0);
        Assert.That(pool.Count, Is.EqualTo(2), "capacity bounds the cache");
        Assert.That(pool.ReadAt(1, 8, buffer, activeSegment: 0), Is.EqualTo(5), "an evicted segment is reopened");
        Assert.That(S(buffer), Is.EqualTo("1 say"));
        Assert.That(pool.Count, Is.EqualTo(2));
    }

    [Test]
    public void Read_handle_pool_edge_cases()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 1), B("abc"));

        using (var uncached = new ReadHandlePool(dir.Path, capacity: 0))
        {
            var two = new byte[2];
            Assert.That(uncached.ReadAt(1, 1, two, activeSegment: 0), Is.EqualTo(2));
            Assert.That(S(two), Is.EqualTo("bc"));
            Assert.That(uncached.Count, Is.Zero, "capacity 0 caches nothing");
        }

        using var pool = new ReadHandlePool(dir.Path);
        var sixteen = new byte[16];
        Assert.That(pool.ReadAt(1, 0, sixteen, activeSegment: 0), Is.EqualTo(3), "a read past the end returns what the file has");
        Assert.That(pool.ReadAt(1, 100, sixteen, activeSegment: 0), Is.Zero);

        var e = Assert.Throws<DataWalException>(() => pool.ReadAt(7, 0, sixteen, activeSegment: 0));
        Assert.That(e!.Message, Does.Contain("open segment").And.Contain("00000007.dwal"));

        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.ReadAt(1, 0, sixteen, activeSegment: 0));
    }

    [Test]
    public void Items_returns_all_live_pairs_and_revalidates_crc()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("a"u8, "1"u8);
        kv.Put("b"u8, "2"u8);
        kv.Put("c"u8, "3"u8);
        kv.Delete("b"u8);

        var items = kv.Items().Select(p => (S(p.Key), S(p.Value))).OrderBy(p => p.Item1, StringComparer.Ordinal);
        Assert.That(items, Is.EqualTo(new[] { ("a", "1"), ("c", "3") }));

        FlipByte(Seg(dir.Path, 1), (long)kv.RefOf("c"u8)!.Value.Offset + WireFormat.HeaderLength + 1);
        var e = Assert.Throws<CorruptRecordException>(() => kv.Items());
        Assert.That(e!.Message, Does.Contain("CRC mismatch"));
    }

    [Test]
    public void Compact_to_preserves_live_state_via_offset_keydir()
    {
        using var dir = new TempDir();
        string source = dir["src"];
        string target = dir["out"];
        using (var kv = KvStore.Open(source))
        {
            for (int i = 0; i < 50; i++)
            {
                kv.Put(B($"k{i:D2}"), B($"v{i}"));
            }

            for (int i = 0; i < 25; i++)
            {
                kv.Put(B($"k{i:D2}"), B($"v{i}-new"));
            }

            for (int i = 40; i < 45; i++)
            {
                kv.Delete(B($"k{i:D2}"));
            }

            var stats = kv.CompactTo(target);
            Assert.That(stats.LiveKeys, Is.EqualTo(45));
            Assert.That(stats.RecordsWritten, Is.EqualTo(45));
        }

        using var compacted = KvStore.Open(target);
        Assert.That(compacted.Count, Is.EqualTo(45));
        for (int i = 0; i < 50; i++)
        {
            string? expected = i < 25 ? $"v{i}-new" : i is >= 40 and < 45 ? null : $"v{i}";
            Assert.That(compacted.Get(B($"k{i:D2}")) is { } v ? S(v) : null, Is.EqualTo(expected), $"k{i:D2}");
        }
    }
}
