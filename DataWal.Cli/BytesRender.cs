using System.Text;

namespace DataWal.Cli;

/// <summary>How keys, payloads and values are shown in human output (<c>--bytes</c>).</summary>
internal enum BytesMode
{
    /// <summary>Printable ASCII as text (quoted when needed), anything else as <c>b64:…</c> (the default).</summary>
    Auto,

    /// <summary>The same as <see cref="Auto"/>: control bytes are never written raw to a terminal.</summary>
    Raw,

    /// <summary>Always <c>b64:…</c> (standard alphabet, padded).</summary>
    Base64,

    /// <summary>Always <c>hex:…</c> (lowercase).</summary>
    Hex,
}

/// <summary>What <c>get</c> shows for a value in human mode: a line of text, or a hint on stderr for binary bytes.</summary>
/// <param name="Text">The line to print on stdout, or null when <see cref="Hint"/> is set.</param>
/// <param name="Hint">The hint to print on stderr for a binary value in auto/raw mode, or null.</param>
internal readonly record struct GetValueRendering(string? Text, string? Hint)
{
    /// <summary>True when the value is binary and only a hint is shown.</summary>
    public bool IsBinaryHint => Hint is not null;
}

/// <summary>
/// Byte rendering for human output, exactly as upstream's <c>bytes_render.rs</c>: printable ASCII stays
/// readable, everything else is encoded, and long values are cut at <see cref="DefaultTruncateBytes"/>
/// source bytes with <c>...</c> appended. JSON output never uses this (it is always full base64).
/// </summary>
internal static class BytesRender
{
    /// <summary>How many source bytes are rendered unless <c>--no-truncate</c> is given.</summary>
    public const int DefaultTruncateBytes = 64;

    /// <summary>The <c>--bytes</c> values, as listed in help.</summary>
    public static readonly IReadOnlyList<string> ModeNames = ["auto", "raw", "base64", "hex"];

    /// <summary>
    /// True when every byte is printable ASCII (0x20–0x7E) or a tab; an empty span counts as printable.
    /// </summary>
    /// <param name="bytes">The bytes.</param>
    /// <returns>Whether they can be shown as text.</returns>
    public static bool IsPrintable(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            if (b != 0x09 && (b < 0x20 || b > 0x7E))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Parses a <c>--bytes</c> value: <c>auto</c>, <c>raw</c>, <c>base64</c> (or <c>b64</c>), <c>hex</c>.</summary>
    /// <param name="text">The value.</param>
    /// <param name="mode">The mode when recognised.</param>
    /// <returns>False for anything else.</returns>
    public static bool TryParseMode(string? text, out BytesMode mode)
    {
        switch (text)
        {
            case "auto":
                mode = BytesMode.Auto;
                return true;
            case "raw":
                mode = BytesMode.Raw;
                return true;
            case "base64":
            case "b64":
                mode = BytesMode.Base64;
                return true;
            case "hex":
                mode = BytesMode.Hex;
                return true;
            default:
                mode = default;
                return false;
        }
    }

    /// <summary>
    /// Renders bytes for a <c>key=</c>/<c>payload=</c> field. Auto/raw: printable bytes as text, in double
    /// quotes (with <c>\"</c>, <c>\\</c>, <c>\t</c> escapes) when empty or containing a space, tab, quote or
    /// backslash; other bytes as <c>b64:…</c>. Base64: <c>b64:…</c>. Hex: <c>hex:…</c>.
    /// </summary>
    /// <param name="bytes">The bytes.</param>
    /// <param name="mode">The mode.</param>
    /// <param name="truncate">Render only this many source bytes and append <c>...</c>; null renders all.</param>
    /// <returns>The field text.</returns>
    public static string Render(ReadOnlySpan<byte> bytes, BytesMode mode, int? truncate = DefaultTruncateBytes)
    {
        var slice = Cut(bytes, truncate, out bool truncated);
        string text = mode switch
        {
            BytesMode.Base64 => "b64:" + Convert.ToBase64String(slice),
            BytesMode.Hex => "hex:" + Convert.ToHexStringLower(slice),
            _ => IsPrintable(slice) ? Literal(slice) : "b64:" + Convert.ToBase64String(slice),
        };
        return truncated ? text + "..." : text;
    }

    /// <summary>
    /// Renders a <c>get</c> value. Auto/raw: a printable value as bare text (no quotes, no prefix); a binary
    /// value as a hint for stderr (<c>&lt;binary value, N bytes; use --bytes base64 or --bytes hex&gt;</c>).
    /// Base64 and hex: the bare encoding, without the <c>b64:</c>/<c>hex:</c> prefix.
    /// </summary>
    /// <param name="value">The value.</param>
    /// <param name="mode">The mode.</param>
    /// <param name="truncate">Render only this many source bytes and append <c>...</c>; null renders all.</param>
    /// <returns>The text for stdout, or the hint for stderr.</returns>
    public static GetValueRendering RenderGetValue(ReadOnlySpan<byte> value, BytesMode mode, int? truncate = DefaultTruncateBytes)
    {
        if (mode is BytesMode.Auto or BytesMode.Raw && !IsPrintable(value))
        {
            return new GetValueRendering(null, BinaryHint(value.Length));
        }

        var slice = Cut(value, truncate, out bool truncated);
        string text = mode switch
        {
            BytesMode.Base64 => Convert.ToBase64String(slice),
            BytesMode.Hex => Convert.ToHexStringLower(slice),
            _ => Encoding.ASCII.GetString(slice),
        };
        return new GetValueRendering(truncated ? text + "..." : text, null);
    }

    /// <summary>The stderr hint for a binary <c>get</c> value in auto/raw mode.</summary>
    /// <param name="length">The value's length in bytes.</param>
    /// <returns>The hint.</returns>
    public static string BinaryHint(int length) =>
        $"<binary value, {length} bytes; use --bytes base64 or --bytes hex>";

    private static ReadOnlySpan<byte> Cut(ReadOnlySpan<byte> bytes, int? truncate, out bool truncated)
    {
        truncated = truncate is int n && bytes.Length > n;
        return truncated ? bytes[..truncate!.Value] : bytes;
    }

    private static string Literal(ReadOnlySpan<byte> printable)
    {
        bool quote = printable.IsEmpty || printable.IndexOfAny((byte)' ', (byte)'\t', (byte)'"') >= 0 || printable.Contains((byte)'\\');
        if (!quote)
        {
            return Encoding.ASCII.GetString(printable);
        }

        var text = new StringBuilder(printable.Length + 2);
        text.Append('"');
        foreach (byte b in printable)
        {
            switch (b)
            {
                case (byte)'"':
                    text.Append("\\\"");
                    break;
                case (byte)'\\':
                    text.Append("\\\\");
                    break;
                case (byte)'\t':
                    text.Append("\\t");
                    break;
                default:
                    text.Append((char)b);
                    break;
            }
        }

        text.Append('"');
        return text.ToString();
    }
}
