using System.Buffers;
using System.Buffers.Binary;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// Every read re-verifies the frame the keydir points at (docs/design.md U5.1 <c>get</c>): CRC, length, record
/// type, structure and (beyond upstream) the key, each with upstream's message; and the allocation-free
/// <see cref="KvStore.TryGet"/>.
/// </summary>
public class VerifyOnGetTests
{
    private static CorruptRecordException GetFails(KvStore kv, ReadOnlySpan<byte> key)
    {
        byte[] k = key.ToArray();
        var viaGet = Assert.Throws<CorruptRecordException>(() => kv.Get(k))!;
        var viaTryGet = Assert.Throws<CorruptRecordException>(() => kv.TryGet(k, new ArrayBufferWriter<byte>()))!;
        Assert.That(viaTryGet.Message, Is.EqualTo(viaGet.Message), "Get and TryGet verify alike");
        var location = kv.RefOf(k)!.Value;
        Assert.That(viaGet.Segment, Is.EqualTo(location.Segment));
        Assert.That(viaGet.Offset, Is.EqualTo(location.Offset));
        return viaGet;
    }

    [Test]
    public void Flipped_value_byte_is_a_crc_mismatch_for_that_key_only()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("before"u8, "untouched"u8);
        kv.Put("k"u8, "some value bytes"u8);
        kv.Put("after"u8, "untouched too"u8);
        var at = kv.RefOf("k"u8)!.Value;

        FlipByte(Seg(dir.Path, 1), (long)at.Offset + WireFormat.HeaderLength + 1 + 4, 0x01);

        var e = GetFails(kv, "k"u8);
        Assert.That(e.Message, Is.EqualTo($"datawal: CRC mismatch at segment 00000001 offset {at.Offset} (size {at.Length})"));
        Assert.That(e.Kind, Is.EqualTo(CorruptionKind.CrcMismatch));
        Assert.That(S(kv.Get("before"u8)), Is.EqualTo("untouched"));
        Assert.That(S(kv.Get("after"u8)), Is.EqualTo("untouched too"));
        Assert.That(kv.ContainsKey("k"u8), Is.True, "verification failures do not change the keydir");
    }

    [Test]
    public void Flipped_crc_byte_is_a_crc_mismatch()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "v"u8);
        var at = kv.RefOf("k"u8)!.Value;
        FlipByte(Seg(dir.Path, 1), (long)at.Offset + at.Length - 1);

        Assert.That(GetFails(kv, "k"u8).Message, Does.Contain("CRC mismatch"));
    }

    [Test]
    public void Flipped_value_byte_in_a_sealed_segment_is_caught_on_get()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("old"u8, "sealed value"u8);
        kv.Rotate();
        kv.Put("new"u8, "active value"u8);
        var at = kv.RefOf("old"u8)!.Value;
        FlipByte(Seg(dir.Path, 1), (long)at.Offset + WireFormat.HeaderLength + 3 + 2);

        var e = GetFails(kv, "old"u8);
        Assert.That(e.Message, Does.StartWith("datawal: CRC mismatch at segment 00000001 offset 0"));
        Assert.That(S(kv.Get("new"u8)), Is.EqualTo("active value"));
    }

    [Test]
    public void Frame_retyped_to_delete_is_not_a_put()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "value"u8);
        var at = kv.RefOf("k"u8)!.Value;
        RewriteFrameWithValidCrc(dir.Path, at, frame => frame[6] = (byte)RecordType.Delete);

        var e = GetFails(kv, "k"u8);
        Assert.That(e.Message, Is.EqualTo($"datawal: record at segment 00000001 offset {at.Offset} is not a Put (found Delete)"));
        Assert.That(e.Kind, Is.EqualTo(CorruptionKind.Structural));
    }

    [Test]
    public void Frame_shorter_than_the_ref_is_a_length_mismatch()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "hello"u8);
        kv.Put("next"u8, "frame"u8);
        var at = kv.RefOf("k"u8)!.Value;
        // payload_len 5 -> 4: a valid 32-byte frame where the keydir expects 33 bytes.
        RewriteFrameWithValidCrc(dir.Path, at, frame => BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(20), 4));

        var e = GetFails(kv, "k"u8);
        Assert.That(e.Message, Is.EqualTo($"datawal: frame length mismatch at segment 00000001 offset {at.Offset} (decoded {at.Length - 1} vs ref {at.Length})"));
        Assert.That(S(kv.Get("next"u8)), Is.EqualTo("frame"));
    }

    [Test]
    public void Frame_holding_another_key_is_a_key_mismatch()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k1"u8, "value"u8);
        var at = kv.RefOf("k1"u8)!.Value;
        RewriteFrameWithValidCrc(dir.Path, at, frame => frame[WireFormat.HeaderLength + 1] = (byte)'2');

        var e = GetFails(kv, "k1"u8);
        Assert.That(e.Message, Does.StartWith($"datawal: key mismatch at segment 00000001 offset {at.Offset}"));
        Assert.That(e.Kind, Is.EqualTo(CorruptionKind.Structural));
    }

    [Test]
    public void Bad_magic_is_a_structural_decode_error()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "v"u8);
        kv.Put("k2"u8, "v2"u8);
        var at = kv.RefOf("k2"u8)!.Value;
        WriteAt(Seg(dir.Path, 1), (long)at.Offset, "XWAL"u8);

        var e = GetFails(kv, "k2"u8);
        Assert.That(e.Message, Does.StartWith($"datawal: structural decode error at segment 00000001 offset {at.Offset}"));
        Assert.That(e.Kind, Is.EqualTo(CorruptionKind.Structural));
        Assert.That(S(kv.Get("k"u8)), Is.EqualTo("v"));
    }

    [Test]
    public void Segment_cut_inside_the_frame_is_a_truncated_frame_or_a_short_read()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "v"u8);
        kv.Put("last"u8, "a value of some length"u8);
        var at = kv.RefOf("last"u8)!.Value;
        string segment = Seg(dir.Path, 1);

        Truncate(segment, (long)at.Offset + 30);
        var truncated = GetFails(kv, "last"u8);
        Assert.That(truncated.Message, Is.EqualTo($"datawal: truncated frame at segment 00000001 offset {at.Offset} (available 30, needed {at.Length})"));
        Assert.That(truncated.Kind, Is.EqualTo(CorruptionKind.Truncated));

        Truncate(segment, (long)at.Offset + 10);
        var shortRead = GetFails(kv, "last"u8);
        Assert.That(shortRead.Message, Is.EqualTo($"datawal: short read for segment 00000001 offset {at.Offset} (got 10, need at least 24)"));

        Assert.That(S(kv.Get("k"u8)), Is.EqualTo("v"));
    }

    [Test]
    public void Refs_that_do_not_point_at_the_key_s_put_are_rejected()
    {
        using var dir = new TempDir();
        RecordRef put, tombstone, raw, other;
        using (var log = RecordLog.Open(dir.Path))
        {
            put = log.AppendRecord(RecordType.Put, "k"u8, "value"u8);
            tombstone = log.AppendRecord(RecordType.Delete, "k"u8, default);
            raw = log.Append("raw!"u8);
            other = log.AppendRecord(RecordType.Put, "other"u8, "x"u8);
        }

        using var pool = new ReadHandlePool(dir.Path);
        Assert.That(S(ValueReader.Read(pool, "k"u8, put, activeSegment: 0)), Is.EqualTo("value"));

        string Fails(ReadOnlySpan<byte> key, RecordRef at)
        {
            byte[] k = key.ToArray();
            return Assert.Throws<CorruptRecordException>(() => ValueReader.Read(pool, k, at, activeSegment: 0))!.Message;
        }

        Assert.That(Fails("k"u8, tombstone), Is.EqualTo($"datawal: record at segment 00000001 offset {tombstone.Offset} is not a Put (found Delete)"));
        Assert.That(Fails(""u8, raw), Is.EqualTo($"datawal: record at segment 00000001 offset {raw.Offset} is not a Put (found Raw)"));
        Assert.That(Fails("k"u8, other), Does.StartWith($"datawal: key mismatch at segment 00000001 offset {other.Offset}"));
        Assert.That(Fails("k"u8, put with { Length = put.Length + 4 }),
            Is.EqualTo($"datawal: frame length mismatch at segment 00000001 offset 0 (decoded {put.Length} vs ref {put.Length + 4})"));
        Assert.That(Fails("k"u8, put with { Length = put.Length - 1 }),
            Is.EqualTo($"datawal: truncated frame at segment 00000001 offset 0 (available {put.Length - 1}, needed {put.Length})"));
        Assert.That(Fails("k"u8, put with { Offset = other.Offset + other.Length }),
            Is.EqualTo($"datawal: short read for segment 00000001 offset {other.Offset + other.Length} (got 0, need at least 24)"));
        Assert.That(Fails("k"u8, put with { Offset = 1 }), Does.StartWith("datawal: structural decode error at segment 00000001 offset 1"));
        Assert.Throws<DataWalException>(() => ValueReader.Read(pool, "k"u8.ToArray(), put with { Segment = 9 }, activeSegment: 0));
    }

    // ---- TryGet ----

    [Test]
    public void Try_get_writes_the_same_bytes_as_get()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        var big = new byte[200_000];
        new Random(1).NextBytes(big);
        kv.Put("small"u8, "small value"u8);
        kv.Put("empty"u8, ""u8);
        kv.Put("big"u8, big);

        foreach (var key in new[] { B("small"), B("empty"), B("big") })
        {
            var writer = new ArrayBufferWriter<byte>(16);
            writer.Write("prefix"u8);
            Assert.That(kv.TryGet(key, writer), Is.True);
            Assert.That(writer.WrittenSpan[6..].ToArray(), Is.EqualTo(kv.Get(key)), S(key));
            Assert.That(writer.WrittenSpan[..6].ToArray(), Is.EqualTo(B("prefix")), "TryGet appends to what the writer holds");
        }

        var untouched = new ArrayBufferWriter<byte>();
        Assert.That(kv.TryGet("missing"u8, untouched), Is.False);
        Assert.That(untouched.WrittenCount, Is.Zero);
        Assert.Throws<ArgumentNullException>(() => kv.TryGet("small"u8, null!));
    }

    [Test]
    public void Try_get_allocates_nothing_for_a_small_value()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        for (int i = 0; i < 16; i++)
        {
            kv.Put(B($"key-{i:D2}"), B($"a small value number {i}"));
        }

        var writer = new ArrayBufferWriter<byte>(256);
        var key = B("key-07");
        for (int i = 0; i < 100; i++)   // warm-up: JIT, pool handle, ArrayPool buckets
        {
            writer.ResetWrittenCount();
            kv.TryGet(key, writer);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            writer.ResetWrittenCount();
            kv.TryGet(key, writer);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.LessThan(1024), $"{allocated} bytes allocated by 1000 TryGet calls");
        Assert.That(S(writer.WrittenSpan.ToArray()), Is.EqualTo("a small value number 7"));
    }
}
