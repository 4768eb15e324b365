using System.Buffers.Binary;
using NUnit.Framework;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>Wire format v1 (docs/design.md U1, upstream format.rs tests docs/design.md U7.1, docs/design.md D4 and D9).</summary>
public class WireFormatTests
{
    private const int MaxKey = 65_536;
    private const int MaxPayload = 67_108_864;

    private static byte[]? s_big;

    /// <summary>One shared 64 MiB + 1 buffer for the limit tests (allocated once).</summary>
    private static byte[] Big => s_big ??= GC.AllocateUninitializedArray<byte>(MaxPayload + 1);

    private static byte[] Header(ushort version = 1, byte type = 0, byte flags = 0, ulong txId = 1, uint keyLength = 0, uint payloadLength = 0, string magic = "DWAL")
    {
        var header = new byte[24];
        B(magic).CopyTo(header, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), version);
        header[6] = type;
        header[7] = flags;
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), txId);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), keyLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), payloadLength);
        return header;
    }

    private static string DecodeError(byte[] buffer) =>
        Assert.Throws<InvalidFrameException>(() => { WireFormat.Decode(buffer); })!.Message;

    [Test]
    public void Constants_are_upstreams()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(WireFormat.Magic.ToArray(), Is.EqualTo(B("DWAL")));
            Assert.That(WireFormat.Version, Is.EqualTo(1));
            Assert.That(WireFormat.HeaderLength, Is.EqualTo(24));
            Assert.That(WireFormat.CrcLength, Is.EqualTo(4));
            Assert.That(WireFormat.MaxKeyLength, Is.EqualTo(65536));
            Assert.That(WireFormat.MaxPayloadLength, Is.EqualTo(67108864));
            Assert.That(WireFormat.MaxFrameLength, Is.EqualTo(24 + 65536 + 67108864 + 4));
            Assert.That(WireFormat.FrameSize(0, 0), Is.EqualTo(28));
            Assert.That(WireFormat.FrameSize(5, 7), Is.EqualTo(40));
            Assert.That(WireFormat.FrameSize(MaxKey, MaxPayload), Is.EqualTo(24L + MaxKey + MaxPayload + 4));
            Assert.That((byte)RecordType.Raw, Is.EqualTo(0));
            Assert.That((byte)RecordType.Put, Is.EqualTo(1));
            Assert.That((byte)RecordType.Delete, Is.EqualTo(2));
        }
    }

    [Test]
    public void Crc32c_known_vectors()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(WireFormat.Crc32C([]), Is.EqualTo(0x00000000u));
            Assert.That(WireFormat.Crc32C(B("123456789")), Is.EqualTo(0xE3069283u));
            Assert.That(WireFormat.Crc32C(new byte[32]), Is.EqualTo(0x8A9136AAu));
            Assert.That(WireFormat.Crc32C(B("123456789")), Is.Not.EqualTo(0xCBF43926u), "the IEEE CRC-32 is the wrong algorithm");
        }
    }

    [Test]
    public void Crc32c_agrees_with_the_reference_implementation_at_every_length_and_alignment()
    {
        // The hardware path handles 8-, 4- and 1-byte steps; every length 0..300 at every start offset 0..7
        // crosses each of their boundaries. System.IO.Hashing is the independent reference.
        var random = new Random(17);
        var bytes = new byte[320];
        random.NextBytes(bytes);
        for (int start = 0; start < 8; start++)
        {
            for (int length = 0; length <= 300; length++)
            {
                var data = bytes.AsSpan(start, length);
                uint expected = System.IO.Hashing.Crc32.HashToUInt32(System.IO.Hashing.Crc32ParameterSet.Crc32C, data);
                Assert.That(WireFormat.Crc32C(data), Is.EqualTo(expected), $"start {start}, length {length}");
            }
        }

        var large = new byte[(1 << 20) + 13];
        random.NextBytes(large);
        Assert.That(WireFormat.Crc32C(large), Is.EqualTo(System.IO.Hashing.Crc32.HashToUInt32(System.IO.Hashing.Crc32ParameterSet.Crc32C, large)));
    }

    [Test]
    public void Worked_encodings_of_spec_1_9()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Hex(WireFormat.Encode(RecordType.Raw, 7, [], B("hello"))),
                Is.EqualTo("4457414c" + "0100" + "00" + "00" + "0700000000000000" + "00000000" + "05000000" + "68656c6c6f" + "fa7fed3a"));
            Assert.That(Hex(WireFormat.Encode(RecordType.Put, 42, B("alpha"), B("value-1"))),
                Is.EqualTo("4457414c" + "0100" + "01" + "00" + "2a00000000000000" + "05000000" + "07000000" + "616c706861" + "76616c75652d31" + "268d5f6b"));
        }
    }

    [Test]
    public void Header_fields_are_little_endian_and_crc_covers_everything_before_it()
    {
        var frame = WireFormat.Encode(RecordType.Delete, 0x0102030405060708, B("key"), []);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(frame, Has.Length.EqualTo(24 + 3 + 0 + 4));
            Assert.That(Hex(frame.AsSpan(0, 24)), Is.EqualTo("4457414c" + "0100" + "02" + "00" + "0807060504030201" + "03000000" + "00000000"));
            Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(27)), Is.EqualTo(WireFormat.Crc32C(frame.AsSpan(0, 27))));
        }
    }

    [Test]
    public void Roundtrip_raw_empty_key()
    {
        var frame = WireFormat.Encode(RecordType.Raw, 7, [], B("hello"));
        var decoded = WireFormat.Decode(frame);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(decoded.Status, Is.EqualTo(DecodeStatus.Ok));
            Assert.That(decoded.Type, Is.EqualTo(RecordType.Raw));
            Assert.That(decoded.TxId, Is.EqualTo(7UL));
            Assert.That(decoded.Key.Length, Is.Zero);
            Assert.That(decoded.Payload.ToArray(), Is.EqualTo(B("hello")));
            Assert.That(decoded.BytesConsumed, Is.EqualTo(frame.Length));
            Assert.That(frame, Has.Length.EqualTo(33));
        }
    }

    [Test]
    public void Roundtrip_put_with_key()
    {
        var frame = WireFormat.Encode(RecordType.Put, 42, B("alpha"), B("value-1"));
        var decoded = WireFormat.Decode(frame);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(decoded.Status, Is.EqualTo(DecodeStatus.Ok));
            Assert.That(decoded.Type, Is.EqualTo(RecordType.Put));
            Assert.That(decoded.TxId, Is.EqualTo(42UL));
            Assert.That(decoded.Key.ToArray(), Is.EqualTo(B("alpha")));
            Assert.That(decoded.Payload.ToArray(), Is.EqualTo(B("value-1")));
            Assert.That(decoded.BytesConsumed, Is.EqualTo(40));
        }
    }

    [Test]
    public void Roundtrip_delete_empty_payload_and_put_with_empty_key_and_value()
    {
        var delete = WireFormat.Decode(WireFormat.Encode(RecordType.Delete, ulong.MaxValue, B("beta"), []));
        Assert.That((delete.Status, delete.Type, delete.TxId, delete.Key.ToArray(), delete.Payload.Length),
            Is.EqualTo((DecodeStatus.Ok, RecordType.Delete, ulong.MaxValue, B("beta"), 0)));
        var empty = WireFormat.Decode(WireFormat.Encode(RecordType.Put, 0, [], []));
        Assert.That((empty.Status, empty.Type, empty.TxId, empty.Key.Length, empty.Payload.Length, empty.BytesConsumed),
            Is.EqualTo((DecodeStatus.Ok, RecordType.Put, 0UL, 0, 0, 28)));
    }

    [Test]
    public void Decode_stops_at_the_frame_end_when_more_bytes_follow()
    {
        var first = WireFormat.Encode(RecordType.Raw, 1, [], B("one"));
        var second = WireFormat.Encode(RecordType.Put, 2, B("k"), B("two"));
        var buffer = first.Concat(second).ToArray();
        var decoded = WireFormat.Decode(buffer);
        Assert.That((decoded.Status, decoded.BytesConsumed, S(decoded.Payload.ToArray())), Is.EqualTo((DecodeStatus.Ok, first.Length, "one")));
        var next = WireFormat.Decode(buffer.AsSpan(first.Length));
        Assert.That((next.Status, next.TxId, S(next.Payload.ToArray())), Is.EqualTo((DecodeStatus.Ok, 2UL, "two")));
    }

    [Test]
    public void Truncated_header_reports_needed()
    {
        var frame = WireFormat.Encode(RecordType.Raw, 7, [], B("hello"));
        var decoded = WireFormat.Decode(frame.AsSpan(0, 10));
        Assert.That((decoded.Status, decoded.Available, decoded.Needed), Is.EqualTo((DecodeStatus.Truncated, 10L, 24L)));
        var nothing = WireFormat.Decode([]);
        Assert.That((nothing.Status, nothing.Available, nothing.Needed), Is.EqualTo((DecodeStatus.Truncated, 0L, 24L)));
    }

    [Test]
    public void Truncated_body_reports_total()
    {
        var frame = WireFormat.Encode(RecordType.Raw, 7, [], B("hello"));
        var decoded = WireFormat.Decode(frame.AsSpan(0, 26));
        Assert.That((decoded.Status, decoded.Available, decoded.Needed), Is.EqualTo((DecodeStatus.Truncated, 26L, (long)frame.Length)));
    }

    [Test]
    public void Every_proper_prefix_of_a_frame_is_truncated_never_an_error()
    {
        var frame = WireFormat.Encode(RecordType.Put, 9, B("key"), B("some payload"));
        for (int length = 0; length < frame.Length; length++)
        {
            var decoded = WireFormat.Decode(frame.AsSpan(0, length));
            Assert.That((decoded.Status, decoded.Available, decoded.Needed),
                Is.EqualTo((DecodeStatus.Truncated, (long)length, length < 24 ? 24L : frame.Length)), $"prefix of {length} bytes");
        }
    }

    [Test]
    public void Crc_mismatch_detected()
    {
        var frame = WireFormat.Encode(RecordType.Raw, 7, [], B("hello"));
        foreach (int index in new[] { 8, 24, 28, 29, 32 })
        {
            var copy = (byte[])frame.Clone();
            copy[index] ^= 0x01;
            var decoded = WireFormat.Decode(copy);
            Assert.That((decoded.Status, decoded.BytesConsumed), Is.EqualTo((DecodeStatus.CrcMismatch, frame.Length)), $"flipped byte {index}");
        }
    }

    [Test]
    public void Bad_magic_is_hard_error()
    {
        var frame = WireFormat.Encode(RecordType.Raw, 7, [], B("hello"));
        frame[0] = (byte)'X';
        Assert.That(DecodeError(frame), Is.EqualTo("datawal: bad magic, expected DWAL, got [88, 87, 65, 76]"));
    }

    [Test]
    public void Unknown_version_is_hard_error()
    {
        var frame = WireFormat.Encode(RecordType.Raw, 7, [], B("hello"));
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(4), 99);
        Assert.That(DecodeError(frame), Is.EqualTo("datawal: unknown wire version 99 (this build supports 1)"));
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(4), 0);
        Assert.That(DecodeError(frame), Is.EqualTo("datawal: unknown wire version 0 (this build supports 1)"));
    }

    [TestCase((byte)3)]
    [TestCase((byte)200)]
    [TestCase((byte)255)]
    public void Unknown_record_type_is_hard_error(byte type)
    {
        var frame = WireFormat.Encode(RecordType.Raw, 7, [], B("hello"));
        frame[6] = type;
        Assert.That(DecodeError(frame), Is.EqualTo($"datawal: unknown record_type byte {type}"));
    }

    [TestCase((byte)1)]
    [TestCase((byte)0x80)]
    public void Reserved_flags_must_be_zero(byte flags)
    {
        var frame = WireFormat.Encode(RecordType.Raw, 7, [], B("hello"));
        frame[7] = flags;
        Assert.That(DecodeError(frame), Is.EqualTo($"datawal: reserved flags byte must be 0, got {flags}"));
    }

    [Test]
    public void Structural_checks_run_in_upstreams_order()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(DecodeError(Header(magic: "XXXX", version: 9, type: 9, flags: 9, keyLength: uint.MaxValue, payloadLength: uint.MaxValue)), Does.Contain("bad magic"));
            Assert.That(DecodeError(Header(version: 9, type: 9, flags: 9, keyLength: uint.MaxValue, payloadLength: uint.MaxValue)), Does.Contain("unknown wire version 9"));
            Assert.That(DecodeError(Header(type: 9, flags: 9, keyLength: uint.MaxValue, payloadLength: uint.MaxValue)), Does.Contain("unknown record_type byte 9"));
            Assert.That(DecodeError(Header(flags: 9, keyLength: uint.MaxValue, payloadLength: uint.MaxValue)), Does.Contain("reserved flags byte must be 0, got 9"));
            Assert.That(DecodeError(Header(keyLength: uint.MaxValue, payloadLength: uint.MaxValue)), Does.Contain("key_len"));
            Assert.That(DecodeError(Header(payloadLength: uint.MaxValue)), Does.Contain("payload_len"));
        }
    }

    [Test]
    public void A_short_buffer_is_truncated_before_any_structural_check()
    {
        var garbage = Header(magic: "XXXX").AsSpan(0, 23).ToArray();
        var decoded = WireFormat.Decode(garbage);
        Assert.That((decoded.Status, decoded.Needed), Is.EqualTo((DecodeStatus.Truncated, 24L)));
    }

    [Test]
    public void Structural_errors_are_detected_from_the_header_alone()
    {
        // A bad header in a buffer shorter than the frame it claims is an error, not a torn frame.
        Assert.That(DecodeError(Header(version: 2, payloadLength: 100)), Does.Contain("unknown wire version 2"));
    }

    [Test]
    public void Encode_rejects_oversize_key()
    {
        var e = Assert.Throws<RecordTooLargeException>(() => WireFormat.Encode(RecordType.Put, 1, new byte[MaxKey + 1], []));
        Assert.That(e!.Message, Is.EqualTo("datawal: key_len 65537 exceeds MAX_KEY_LEN 65536 (WireFormat.MaxKeyLength)"));
    }

    [Test]
    public void Encode_rejects_oversize_payload()
    {
        var e = Assert.Throws<RecordTooLargeException>(() => WireFormat.Encode(RecordType.Raw, 1, [], Big.AsSpan(0, MaxPayload + 1)));
        Assert.That(e!.Message, Is.EqualTo("datawal: payload_len 67108865 exceeds MAX_PAYLOAD_LEN 67108864 (WireFormat.MaxPayloadLength)"));
    }

    [Test]
    public void Encode_checks_the_key_first()
    {
        var e = Assert.Throws<RecordTooLargeException>(() => WireFormat.Encode(RecordType.Put, 1, new byte[MaxKey + 1], Big.AsSpan(0, MaxPayload + 1)));
        Assert.That(e!.Message, Does.Contain("MAX_KEY_LEN"));
        var span = new byte[64];
        var e2 = Assert.Throws<RecordTooLargeException>(() => WireFormat.Encode(RecordType.Put, 1, new byte[MaxKey + 1], [], span));
        Assert.That(e2!.Message, Does.Contain("MAX_KEY_LEN"));
    }

    [Test]
    public void Limits_are_inclusive_for_key_and_payload()
    {
        var key = Pattern(MaxKey, 3);
        var keyFrame = WireFormat.Encode(RecordType.Put, 5, key, B("v"));
        var decodedKey = WireFormat.Decode(keyFrame);
        Assert.That((decodedKey.Status, decodedKey.Key.Length, decodedKey.BytesConsumed), Is.EqualTo((DecodeStatus.Ok, MaxKey, 24 + MaxKey + 1 + 4)));
        Assert.That(decodedKey.Key.SequenceEqual(key), Is.True);

        var payload = Big.AsSpan(0, MaxPayload);
        payload.Fill(0x5A);
        var frame = GC.AllocateUninitializedArray<byte>((int)WireFormat.FrameSize(MaxKey, MaxPayload));
        int written = WireFormat.Encode(RecordType.Put, 6, key, payload, frame);
        Assert.That(written, Is.EqualTo(frame.Length));
        var decoded = WireFormat.Decode(frame);
        Assert.That((decoded.Status, decoded.Key.Length, decoded.Payload.Length, decoded.BytesConsumed),
            Is.EqualTo((DecodeStatus.Ok, MaxKey, MaxPayload, frame.Length)));
        Assert.That(decoded.Payload.ContainsAnyExcept((byte)0x5A), Is.False);
    }

    [Test]
    public void Decode_rejects_lengths_one_over_the_limits_and_accepts_the_limits()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(DecodeError(Header(keyLength: MaxKey + 1)), Is.EqualTo("datawal: key_len 65537 exceeds MAX_KEY_LEN 65536 (WireFormat.MaxKeyLength)"));
            Assert.That(DecodeError(Header(payloadLength: MaxPayload + 1)), Is.EqualTo("datawal: payload_len 67108865 exceeds MAX_PAYLOAD_LEN 67108864 (WireFormat.MaxPayloadLength)"));
            Assert.That(DecodeError(Header(keyLength: uint.MaxValue)), Is.EqualTo("datawal: key_len 4294967295 exceeds MAX_KEY_LEN 65536 (WireFormat.MaxKeyLength)"));
            Assert.That(DecodeError(Header(payloadLength: uint.MaxValue)), Is.EqualTo("datawal: payload_len 4294967295 exceeds MAX_PAYLOAD_LEN 67108864 (WireFormat.MaxPayloadLength)"));
            var atLimit = WireFormat.Decode(Header(keyLength: MaxKey, payloadLength: MaxPayload));
            Assert.That((atLimit.Status, atLimit.Needed), Is.EqualTo((DecodeStatus.Truncated, 24L + MaxKey + MaxPayload + 4)));
        }
    }

    [Test]
    public void Hostile_header_claiming_64_MiB_in_100_bytes_is_truncated_without_allocating()
    {
        var buffer = new byte[100];
        Header(type: 1, keyLength: MaxKey, payloadLength: MaxPayload).CopyTo(buffer, 0);
        WireFormat.Decode(buffer);   // warm up (JIT)

        long before = GC.GetAllocatedBytesForCurrentThread();
        var decoded = WireFormat.Decode(buffer);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That((decoded.Status, decoded.Available, decoded.Needed), Is.EqualTo((DecodeStatus.Truncated, 100L, WireFormat.FrameSize(MaxKey, MaxPayload))));
        Assert.That(allocated, Is.LessThan(64 * 1024));
    }

    [Test]
    public void Encode_into_a_span_writes_exactly_the_frame_and_rejects_a_short_destination()
    {
        var destination = Enumerable.Repeat((byte)0xEE, 64).ToArray();
        int written = WireFormat.Encode(RecordType.Raw, 7, [], B("hello"), destination);
        Assert.That(written, Is.EqualTo(33));
        Assert.That(destination.AsSpan(0, 33).ToArray(), Is.EqualTo(WireFormat.Encode(RecordType.Raw, 7, [], B("hello"))));
        Assert.That(destination.AsSpan(33).ToArray(), Is.All.EqualTo((byte)0xEE));

        Assert.Throws<ArgumentException>(() => WireFormat.Encode(RecordType.Raw, 7, [], B("hello"), new byte[32]));
    }

    [Test]
    public void Encode_does_not_allocate_into_a_span()
    {
        var destination = new byte[128];
        var payload = B("payload");
        WireFormat.Encode(RecordType.Put, 1, payload, payload, destination);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            WireFormat.Encode(RecordType.Put, (ulong)i, payload, payload, destination);
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }
}
