using System.Diagnostics.CodeAnalysis;

namespace DataWal.Core;

/// <summary>Throw helpers keep the hot encode/append/decode paths small and inlinable.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowKeyTooLarge(long length) => throw new RecordTooLargeException(WireFormat.KeyTooLargeMessage(length));

    [DoesNotReturn]
    public static void ThrowPayloadTooLarge(long length) => throw new RecordTooLargeException(WireFormat.PayloadTooLargeMessage(length));

    [DoesNotReturn]
    public static void ThrowDestinationTooSmall(int needed, int available) =>
        throw new ArgumentException($"The destination holds {available} bytes; the frame needs {needed}.");

    [DoesNotReturn]
    public static void ThrowInvalidFrame(string message) => throw new InvalidFrameException(message);

    [DoesNotReturn]
    public static void ThrowBadMagic(ReadOnlySpan<byte> header) =>
        throw new InvalidFrameException($"datawal: bad magic, expected DWAL, got [{header[0]}, {header[1]}, {header[2]}, {header[3]}]");

    [DoesNotReturn]
    public static void ThrowPoisoned(string reason) => throw new WriterPoisonedException(reason);
}
