using System.Buffers;
using System.Runtime.CompilerServices;
using DataWal.Core;

namespace DataWal.Kv;

/// <summary>
/// Reads the Put frame a keydir entry points at and re-verifies it on every read: length, structure,
/// CRC-32C, record type, and (beyond upstream) that the frame's key is the key asked for. Failures throw
/// <see cref="CorruptRecordException"/> with upstream's messages.
/// </summary>
internal static class ValueReader
{
    private const int StackLimit = 1024;

    /// <summary>
    /// Reads and verifies the frame at <paramref name="location"/>; returns a copy of its value. Segments below
    /// <paramref name="activeSegment"/> are sealed (the pool may map them); 0 reads with pread. Required, not defaulted:
    /// a caller that forgot it would silently read every value with pread.
    /// </summary>
    // Optimized from the first call: a fresh process (a CLI command, a short job) would otherwise run its gets in
    // unoptimized code until tiering catches up.
    // Not zeroed: the read fills the frame, and only the bytes it read are looked at.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    public static byte[] Read(ReadHandlePool pool, ReadOnlySpan<byte> key, RecordRef location, uint activeSegment)
    {
        byte[]? rented = null;
        Span<byte> frame = location.Length <= StackLimit
            ? stackalloc byte[StackLimit]
            : (rented = ArrayPool<byte>.Shared.Rent((int)location.Length));
        try
        {
            var value = Verify(pool, key, location, frame[..(int)location.Length], activeSegment);
            return value.ToArray();
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Reads the frame at <paramref name="location"/> and returns a copy of its value when the frame verifies in every
    /// respect <see cref="Verify"/> checks and holds <paramref name="key"/>; null otherwise (nothing thrown: the
    /// caller then takes the checked path, which says what is wrong). Frames over 1 KiB always return null.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    public static byte[]? TryRead(ReadHandlePool pool, ReadOnlySpan<byte> key, RecordRef location, uint activeSegment)
    {
        if (location.Length > StackLimit)
        {
            return null;
        }

        Span<byte> frame = stackalloc byte[StackLimit];
        frame = frame[..(int)location.Length];
        try
        {
            if (pool.ReadAt(location.Segment, (long)location.Offset, frame, activeSegment) != frame.Length)
            {
                return null;
            }
        }
        catch (DataWalException)
        {
            return null;
        }

        return ValueIfIntact(frame, key);
    }

    /// <summary>A copy of the value when <paramref name="frame"/> (all of it) is one intact Put of <paramref name="key"/>, else null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static byte[]? ValueIfIntact(ReadOnlySpan<byte> frame, ReadOnlySpan<byte> key)
    {
        DecodedFrame decoded;
        try
        {
            decoded = WireFormat.Decode(frame);
        }
        catch (InvalidFrameException)
        {
            return null;
        }

        return decoded.Status == DecodeStatus.Ok
            && decoded.BytesConsumed == frame.Length
            && decoded.Type == RecordType.Put
            && decoded.Key.SequenceEqual(key)
            ? decoded.Payload.ToArray()
            : null;
    }

    /// <summary>
    /// Reads and verifies the frame into <paramref name="frame"/> (exactly <c>location.Length</c> bytes)
    /// and returns the value as a slice of it: no allocation. Segments below <paramref name="activeSegment"/> are sealed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ReadOnlySpan<byte> Verify(ReadHandlePool pool, ReadOnlySpan<byte> key, RecordRef location, Span<byte> frame, uint activeSegment)
    {
        uint segment = location.Segment;
        ulong offset = location.Offset;
        int got = pool.ReadAt(segment, (long)offset, frame, activeSegment);
        if (got < WireFormat.HeaderLength)
        {
            throw Corrupt($"datawal: short read for segment {segment:D8} offset {offset} (got {got}, need at least {WireFormat.HeaderLength})", location, CorruptionKind.Truncated);
        }

        DecodedFrame decoded;
        try
        {
            decoded = WireFormat.Decode(frame[..got]);
        }
        catch (InvalidFrameException e)
        {
            throw Corrupt($"datawal: structural decode error at segment {segment:D8} offset {offset}: {e.Message}", location, CorruptionKind.Structural, e);
        }

        switch (decoded.Status)
        {
            case DecodeStatus.Truncated:
                throw Corrupt($"datawal: truncated frame at segment {segment:D8} offset {offset} (available {decoded.Available}, needed {decoded.Needed})", location, CorruptionKind.Truncated);
            case DecodeStatus.CrcMismatch:
                throw Corrupt($"datawal: CRC mismatch at segment {segment:D8} offset {offset} (size {decoded.BytesConsumed})", location, CorruptionKind.CrcMismatch);
        }

        if (decoded.BytesConsumed != location.Length)
        {
            throw Corrupt($"datawal: frame length mismatch at segment {segment:D8} offset {offset} (decoded {decoded.BytesConsumed} vs ref {location.Length})", location, CorruptionKind.Structural);
        }

        if (decoded.Type != RecordType.Put)
        {
            throw Corrupt($"datawal: record at segment {segment:D8} offset {offset} is not a Put (found {decoded.Type})", location, CorruptionKind.Structural);
        }

        if (!decoded.Key.SequenceEqual(key))
        {
            throw Corrupt($"datawal: key mismatch at segment {segment:D8} offset {offset}: the frame holds another key", location, CorruptionKind.Structural);
        }

        return decoded.Payload;
    }

    private static CorruptRecordException Corrupt(string message, RecordRef location, CorruptionKind kind, Exception? inner = null) =>
        new(message, location.Segment, location.Offset, kind, inner);
}
