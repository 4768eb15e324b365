using System.Runtime.CompilerServices;

namespace DataWal.Core;

/// <summary>One decoded frame with its own copies of key and payload, and where it was found.</summary>
public sealed class Record
{
    /// <summary>Creates a record.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Record(RecordType type, ulong txId, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> payload, uint segment, ulong offset, uint length)
    {
        Type = type;
        TxId = txId;
        Key = key;
        Payload = payload;
        Segment = segment;
        Offset = offset;
        Length = length;
    }

    /// <summary>
    /// A record holding its own copy of <paramref name="key"/> and <paramref name="payload"/>, both in one array: a scan
    /// makes one of these per frame, and one allocation instead of two is most of what a record costs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Record Copy(RecordType type, ulong txId, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload, uint segment, ulong offset, uint length)
    {
        var bytes = new byte[key.Length + payload.Length];
        key.CopyTo(bytes);
        payload.CopyTo(bytes.AsSpan(key.Length));
        return new Record(type, txId, bytes.AsMemory(0, key.Length), bytes.AsMemory(key.Length), segment, offset, length);
    }

    /// <summary>The record type.</summary>
    public RecordType Type { get; }

    /// <summary>The transaction id the writer assigned (1, 2, 3, … across segments).</summary>
    public ulong TxId { get; }

    /// <summary>The key (empty for records written by <see cref="RecordLog.Append"/>).</summary>
    public ReadOnlyMemory<byte> Key { get; }

    /// <summary>The payload (the value of a Put; empty for a Delete).</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>The segment id the frame is in.</summary>
    public uint Segment { get; }

    /// <summary>The frame's byte offset within its segment.</summary>
    public ulong Offset { get; }

    /// <summary>The total frame length in bytes.</summary>
    public uint Length { get; }

    /// <summary>The frame's location.</summary>
    public RecordRef Ref => new(Segment, Offset, Length);

    /// <inheritdoc/>
    public override string ToString() => $"{Type} txid={TxId} seg={Segment} off={Offset} len={Length} key={Key.Length}B payload={Payload.Length}B";
}
