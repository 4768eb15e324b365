using System.Runtime.CompilerServices;

namespace DataWal.Core;

/// <summary>
/// One valid frame of a log as a projection sees it: its type, txid, key, payload and location. The key and
/// payload are views into a buffer of the log (no copy), valid only during the call that receives them.
/// </summary>
public readonly ref struct LogFrame
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal LogFrame(RecordType type, ulong txId, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload, RecordRef location)
    {
        Type = type;
        TxId = txId;
        Key = key;
        Payload = payload;
        Ref = location;
    }

    /// <summary>The record type.</summary>
    public RecordType Type { get; }

    /// <summary>The record's txid.</summary>
    public ulong TxId { get; }

    /// <summary>The key (a view, valid during the call).</summary>
    public ReadOnlySpan<byte> Key { get; }

    /// <summary>The payload (a view, valid during the call).</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>Where the frame is: segment, offset, length.</summary>
    public RecordRef Ref { get; }
}
