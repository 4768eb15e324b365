using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace DataWal.Core;

/// <summary>
/// Wire format v1 (frozen, byte-identical to upstream <c>datawal</c>): a 24-byte little-endian header
/// (<c>DWAL</c>, version u16 = 1, record type u8, flags u8 = 0, txid u64, key length u32, payload length u32),
/// the key, the payload, and a CRC-32C (Castagnoli) over every preceding byte of the frame.
/// </summary>
public static class WireFormat
{
    /// <summary>The frame's magic bytes, ASCII <c>DWAL</c>.</summary>
    public static ReadOnlySpan<byte> Magic => "DWAL"u8;

    /// <summary>The only wire version this build reads and writes.</summary>
    public const ushort Version = 1;

    /// <summary>Header length in bytes.</summary>
    public const int HeaderLength = 24;

    /// <summary>CRC trailer length in bytes.</summary>
    public const int CrcLength = 4;

    /// <summary>Largest key, in bytes (inclusive).</summary>
    public const int MaxKeyLength = 65_536;

    /// <summary>Largest payload, in bytes (inclusive).</summary>
    public const int MaxPayloadLength = 67_108_864;

    /// <summary>Largest possible frame, in bytes.</summary>
    public const int MaxFrameLength = HeaderLength + MaxKeyLength + MaxPayloadLength + CrcLength;

    private const int MagicValue = 0x4C415744; // "DWAL" read little-endian

    /// <summary>Total frame size for a key and payload of the given lengths: 24 + key + payload + 4.</summary>
    /// <param name="keyLength">Key length in bytes.</param>
    /// <param name="payloadLength">Payload length in bytes.</param>
    /// <returns>The frame size in bytes.</returns>
    public static long FrameSize(int keyLength, int payloadLength) => HeaderLength + (long)keyLength + payloadLength + CrcLength;

    /// <summary>CRC-32C (Castagnoli, the iSCSI CRC), hardware accelerated where the CPU has it.</summary>
    /// <param name="data">The bytes to checksum.</param>
    /// <returns>The CRC.</returns>
    public static uint Crc32C(ReadOnlySpan<byte> data) => DataWal.Core.Crc32C.Compute(data);

    /// <summary>
    /// Encodes one frame into <paramref name="destination"/> and returns its length. Allocates nothing.
    /// </summary>
    /// <param name="type">The record type.</param>
    /// <param name="txId">The transaction id.</param>
    /// <param name="key">The key (at most <see cref="MaxKeyLength"/> bytes).</param>
    /// <param name="payload">The payload (at most <see cref="MaxPayloadLength"/> bytes).</param>
    /// <param name="destination">Where to write; must hold <see cref="FrameSize"/> bytes.</param>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="RecordTooLargeException">The key or payload exceeds the limits (checked key first).</exception>
    public static int Encode(RecordType type, ulong txId, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        int size = CheckedFrameSize(key.Length, payload.Length);
        if (destination.Length < size)
        {
            ThrowHelper.ThrowDestinationTooSmall(size, destination.Length);
        }

        WriteHeader(destination, type, txId, key.Length, payload.Length);
        key.CopyTo(destination[HeaderLength..]);
        payload.CopyTo(destination[(HeaderLength + key.Length)..]);
        int body = size - CrcLength;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[body..], Crc32C(destination[..body]));
        return size;
    }

    /// <summary>Encodes one frame into a new array.</summary>
    /// <param name="type">The record type.</param>
    /// <param name="txId">The transaction id.</param>
    /// <param name="key">The key.</param>
    /// <param name="payload">The payload.</param>
    /// <returns>The frame bytes.</returns>
    /// <exception cref="RecordTooLargeException">The key or payload exceeds the limits.</exception>
    public static byte[] Encode(RecordType type, ulong txId, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[CheckedFrameSize(key.Length, payload.Length)];
        Encode(type, txId, key, payload, frame);
        return frame;
    }

    /// <summary>
    /// Decodes the frame at the start of <paramref name="buffer"/>. Torn and CRC-bad frames are outcomes
    /// (<see cref="DecodeStatus"/>); a header no writer produces throws <see cref="InvalidFrameException"/>.
    /// Lengths are validated before anything is sized from them.
    /// </summary>
    /// <param name="buffer">Bytes starting at a frame boundary.</param>
    /// <returns>The outcome, with spans into <paramref name="buffer"/> when it is <see cref="DecodeStatus.Ok"/>.</returns>
    /// <exception cref="InvalidFrameException">Bad magic, unknown version or type, reserved flags set, or an oversize length.</exception>
    public static DecodedFrame Decode(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < HeaderLength)
        {
            return DecodedFrame.Truncated(buffer.Length, HeaderLength);
        }

        var header = ReadHeader(buffer);
        if (buffer.Length < header.FrameLength)
        {
            return DecodedFrame.Truncated(buffer.Length, header.FrameLength);
        }

        return DecodeBody(buffer, header);
    }

    /// <summary>True when the last four bytes of <paramref name="frame"/> are the CRC-32C of the bytes before them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool HasValidCrc(ReadOnlySpan<byte> frame)
    {
        int body = frame.Length - CrcLength;
        return BinaryPrimitives.ReadUInt32LittleEndian(frame[body..]) == Crc32C(frame[..body]);
    }

    /// <summary>Checks a frame whose header was validated and whose bytes are all present.</summary>
    internal static DecodedFrame DecodeBody(ReadOnlySpan<byte> buffer, FrameHeader header)
    {
        if (!HasValidCrc(buffer[..header.FrameLength]))
        {
            return DecodedFrame.Mismatch(header.FrameLength);
        }

        return new DecodedFrame(
            DecodeStatus.Ok,
            header.Type,
            header.TxId,
            buffer.Slice(HeaderLength, header.KeyLength),
            buffer.Slice(HeaderLength + header.KeyLength, header.PayloadLength),
            header.FrameLength,
            buffer.Length,
            header.FrameLength);
    }

    /// <summary>
    /// Validates a 24-byte header in upstream's order (magic, version, type, flags, key length, payload
    /// length) and returns its fields.
    /// </summary>
    internal static FrameHeader ReadHeader(ReadOnlySpan<byte> header)
    {
        if (BinaryPrimitives.ReadInt32LittleEndian(header) != MagicValue)
        {
            ThrowHelper.ThrowBadMagic(header);
        }

        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
        if (version != Version)
        {
            ThrowHelper.ThrowInvalidFrame($"datawal: unknown wire version {version} (this build supports 1)");
        }

        byte type = header[6];
        if (type > (byte)RecordType.Delete)
        {
            ThrowHelper.ThrowInvalidFrame($"datawal: unknown record_type byte {type}");
        }

        byte flags = header[7];
        if (flags != 0)
        {
            ThrowHelper.ThrowInvalidFrame($"datawal: reserved flags byte must be 0, got {flags}");
        }

        uint keyLength = BinaryPrimitives.ReadUInt32LittleEndian(header[16..]);
        if (keyLength > MaxKeyLength)
        {
            ThrowHelper.ThrowInvalidFrame(KeyTooLargeMessage(keyLength));
        }

        uint payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(header[20..]);
        if (payloadLength > MaxPayloadLength)
        {
            ThrowHelper.ThrowInvalidFrame(PayloadTooLargeMessage(payloadLength));
        }

        return new FrameHeader(
            (RecordType)type,
            BinaryPrimitives.ReadUInt64LittleEndian(header[8..]),
            (int)keyLength,
            (int)payloadLength);
    }

    /// <summary>
    /// The same checks as <see cref="ReadHeader"/>, without an exception: true and the fields when the 24 bytes
    /// are a header a writer could have produced. Salvage's resynchronisation tries it at every candidate offset,
    /// where an exception per candidate would make hostile input slow.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryReadHeader(ReadOnlySpan<byte> header, out FrameHeader result)
    {
        result = default;
        if (header.Length < HeaderLength
            || BinaryPrimitives.ReadInt32LittleEndian(header) != MagicValue
            || BinaryPrimitives.ReadUInt16LittleEndian(header[4..]) != Version
            || header[6] > (byte)RecordType.Delete
            || header[7] != 0)
        {
            return false;
        }

        uint keyLength = BinaryPrimitives.ReadUInt32LittleEndian(header[16..]);
        uint payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(header[20..]);
        if (keyLength > MaxKeyLength || payloadLength > MaxPayloadLength)
        {
            return false;
        }

        result = new FrameHeader((RecordType)header[6], BinaryPrimitives.ReadUInt64LittleEndian(header[8..]), (int)keyLength, (int)payloadLength);
        return true;
    }

    /// <summary>
    /// docs/design.md D13: true when <paramref name="prefix"/> (at most a header long; empty included) can be the
    /// start of a structurally valid header, i.e. a power loss may have kept these bytes of a frame and lost
    /// the rest. Every present byte must agree with magic, version 1, a known type and flags 0; txid bytes may
    /// be anything; a present low part of a length must not already exceed its limit.
    /// </summary>
    internal static bool IsTornHeaderPrefix(ReadOnlySpan<byte> prefix)
    {
        if (prefix.Length > HeaderLength)
        {
            return false;
        }

        // Complete the prefix with the bytes of the smallest valid header (type Raw, txid and lengths 0):
        // they are the only valid magic and version bytes, a valid type and flags, and zero high bytes give
        // the smallest length a torn one could have had. Some valid completion exists iff this one is valid,
        // and ReadHeader stays the one definition of "valid".
        Span<byte> header = stackalloc byte[HeaderLength];
        WriteHeader(header, RecordType.Raw, 0, 0, 0);
        prefix.CopyTo(header);
        try
        {
            ReadHeader(header);
            return true;
        }
        catch (InvalidFrameException)
        {
            return false;   // only on a damaged tail, never on the hot path
        }
    }

    internal static string KeyTooLargeMessage(long length) => $"datawal: key_len {length} exceeds MAX_KEY_LEN {MaxKeyLength} (WireFormat.MaxKeyLength)";

    internal static string PayloadTooLargeMessage(long length) => $"datawal: payload_len {length} exceeds MAX_PAYLOAD_LEN {MaxPayloadLength} (WireFormat.MaxPayloadLength)";

    /// <summary>Validates the limits (key first, as upstream) and returns the frame size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int CheckedFrameSize(int keyLength, int payloadLength)
    {
        if ((uint)keyLength > MaxKeyLength)
        {
            ThrowHelper.ThrowKeyTooLarge(keyLength);
        }

        if ((uint)payloadLength > MaxPayloadLength)
        {
            ThrowHelper.ThrowPayloadTooLarge(payloadLength);
        }

        return HeaderLength + keyLength + payloadLength + CrcLength;
    }

    private static void WriteHeader(Span<byte> destination, RecordType type, ulong txId, int keyLength, int payloadLength)
    {
        BinaryPrimitives.WriteInt32LittleEndian(destination, MagicValue);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], Version);
        destination[6] = (byte)type;
        destination[7] = 0;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], txId);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], (uint)keyLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[20..], (uint)payloadLength);
    }
}

/// <summary>How decoding one frame ended.</summary>
public enum DecodeStatus
{
    /// <summary>A whole frame with a matching CRC.</summary>
    Ok,

    /// <summary>The buffer ends before the frame does (a torn write, or a short header).</summary>
    Truncated,

    /// <summary>A structurally valid, complete frame whose CRC does not match.</summary>
    CrcMismatch,
}

/// <summary>The result of <see cref="WireFormat.Decode"/>: spans point into the decoded buffer.</summary>
public readonly ref struct DecodedFrame
{
    internal DecodedFrame(DecodeStatus status, RecordType type, ulong txId, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload, int bytesConsumed, long available, long needed)
    {
        Status = status;
        Type = type;
        TxId = txId;
        Key = key;
        Payload = payload;
        BytesConsumed = bytesConsumed;
        Available = available;
        Needed = needed;
    }

    /// <summary>The outcome.</summary>
    public DecodeStatus Status { get; }

    /// <summary>The record type (when <see cref="DecodeStatus.Ok"/>).</summary>
    public RecordType Type { get; }

    /// <summary>The txid (when <see cref="DecodeStatus.Ok"/>).</summary>
    public ulong TxId { get; }

    /// <summary>The key (when <see cref="DecodeStatus.Ok"/>).</summary>
    public ReadOnlySpan<byte> Key { get; }

    /// <summary>The payload (when <see cref="DecodeStatus.Ok"/>).</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>The frame length (for <see cref="DecodeStatus.Ok"/> and <see cref="DecodeStatus.CrcMismatch"/>).</summary>
    public int BytesConsumed { get; }

    /// <summary>Bytes that were available (for <see cref="DecodeStatus.Truncated"/>).</summary>
    public long Available { get; }

    /// <summary>Bytes a whole header or frame needs (for <see cref="DecodeStatus.Truncated"/>).</summary>
    public long Needed { get; }

    internal static DecodedFrame Truncated(long available, long needed) =>
        new(DecodeStatus.Truncated, default, 0, default, default, 0, available, needed);

    internal static DecodedFrame Mismatch(int frameLength) =>
        new(DecodeStatus.CrcMismatch, default, 0, default, default, frameLength, frameLength, frameLength);
}

/// <summary>A validated header.</summary>
internal readonly record struct FrameHeader(RecordType Type, ulong TxId, int KeyLength, int PayloadLength)
{
    public int FrameLength => WireFormat.HeaderLength + KeyLength + PayloadLength + WireFormat.CrcLength;
}
