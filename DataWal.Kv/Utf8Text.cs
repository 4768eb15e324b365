using System.Buffers;
using System.Text;

namespace DataWal.Kv;

/// <summary>
/// The UTF-8 of the store's <see cref="string"/> overloads: strict (a lone surrogate or an invalid byte throws instead of
/// becoming U+FFFD, so two different strings never name the same key), no byte-order mark, encoded into a pooled buffer.
/// </summary>
internal static class Utf8Text
{
    public static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Encodes <paramref name="text"/>; dispose the result to return its buffer.</summary>
    /// <exception cref="EncoderFallbackException">The string is not valid UTF-16 (a lone surrogate).</exception>
    public static Encoded Encode(string text)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Strict.GetMaxByteCount(text.Length));
        try
        {
            return new Encoded(buffer, Strict.GetBytes(text, buffer));
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    /// <summary>A string's UTF-8 bytes in a rented buffer.</summary>
    public readonly struct Encoded(byte[] buffer, int length) : IDisposable
    {
        public ReadOnlySpan<byte> Span => buffer.AsSpan(0, length);

        public void Dispose() => ArrayPool<byte>.Shared.Return(buffer);
    }
}
