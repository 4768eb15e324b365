using System.Security.Cryptography;
using System.Text;

namespace SafeAtomic.Internal;

/// <summary>
/// Names of the temporary files SafeAtomic writes before a rename: hidden, in the target's directory,
/// carrying the target's name (so a leftover says what it belongs to) and 64 random bits from a CSPRNG.
/// Pattern: <c>.&lt;target name&gt;.&lt;16 hex digits&gt;.tmp</c>.
/// </summary>
internal static class TempName
{
    private const int MaxNameBytes = 255;   // NAME_MAX on Linux, macOS and NTFS
    private const string Suffix = ".tmp";
    private const int RandomHexDigits = 16;

    public static string For(string targetFileName)
    {
        // Leave room for ".", ".", 16 hex digits and ".tmp" within one path component.
        int budget = MaxNameBytes - (2 + RandomHexDigits + Suffix.Length);
        string stem = Truncate(targetFileName, budget);
        Span<byte> random = stackalloc byte[RandomHexDigits / 2];
        RandomNumberGenerator.Fill(random);
        return "." + stem + "." + Convert.ToHexStringLower(random) + Suffix;
    }

    /// <summary>True when <paramref name="fileName"/> has the shape of a SafeAtomic temp file.</summary>
    public static bool IsTempName(string fileName)
    {
        if (!fileName.StartsWith('.') || !fileName.EndsWith(Suffix, StringComparison.Ordinal))
        {
            return false;
        }

        int end = fileName.Length - Suffix.Length;
        int start = end - RandomHexDigits;
        if (start < 2 || fileName[start - 1] != '.')
        {
            return false;
        }

        for (int i = start; i < end; i++)
        {
            if (!char.IsAsciiHexDigitLower(fileName[i]) && !char.IsAsciiDigit(fileName[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static string Truncate(string name, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(name) <= maxBytes)
        {
            return name;
        }

        int length = name.Length;
        while (length > 0 && Encoding.UTF8.GetByteCount(name.AsSpan(0, length)) > maxBytes)
        {
            length--;
        }

        if (length > 0 && char.IsHighSurrogate(name[length - 1]))
        {
            length--;
        }

        return name[..length];
    }
}
