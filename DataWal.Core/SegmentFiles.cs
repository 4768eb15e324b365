using System.Globalization;

namespace DataWal.Core;

/// <summary>
/// Segment file naming and discovery (upstream <c>segment.rs</c>): <c>NNNNNNNN.dwal</c>, an 8-digit
/// zero-padded decimal id. The directory listing is the source of truth; there is no manifest.
/// </summary>
public static class SegmentFiles
{
    /// <summary>The segment file extension, without the dot.</summary>
    public const string Extension = "dwal";

    /// <summary>Digits in a segment file name.</summary>
    public const int IdWidth = 8;

    /// <summary>
    /// The largest id whose name still has 8 digits. Upstream would write a 9-digit name that its own
    /// discovery then ignores; we refuse to create it instead.
    /// </summary>
    public const uint MaxId = 99_999_999;

    /// <summary>The path of segment <paramref name="id"/> in <paramref name="directory"/>.</summary>
    /// <param name="directory">The log directory.</param>
    /// <param name="id">The segment id.</param>
    /// <returns><c>&lt;directory&gt;/NNNNNNNN.dwal</c>.</returns>
    public static string PathFor(string directory, uint id) =>
        Path.Combine(directory, id.ToString("D8", CultureInfo.InvariantCulture) + "." + Extension);

    /// <summary>Parses a segment file name: exactly 8 ASCII digits followed by <c>.dwal</c>.</summary>
    /// <param name="fileName">A file name (no directory).</param>
    /// <param name="id">The id when the name matches.</param>
    /// <returns>True when the name is a segment name.</returns>
    public static bool TryParseFileName(ReadOnlySpan<char> fileName, out uint id)
    {
        id = 0;
        if (fileName.Length != IdWidth + 1 + Extension.Length || !fileName.EndsWith("." + Extension, StringComparison.Ordinal))
        {
            return false;
        }

        uint value = 0;
        foreach (char c in fileName[..IdWidth])
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            value = (value * 10) + (uint)(c - '0');
        }

        id = value;
        return true;
    }

    /// <summary>
    /// The ids of the segment files in <paramref name="directory"/>, ascending. Only regular files whose
    /// name matches are counted: symlinks, directories, <c>.lock</c> and other names are ignored.
    /// </summary>
    /// <param name="directory">The log directory.</param>
    /// <returns>The sorted ids (gaps allowed).</returns>
    public static IReadOnlyList<uint> List(string directory)
    {
        var ids = new List<uint>();
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles("*." + Extension))
        {
            if ((file.Attributes & FileAttributes.ReparsePoint) == 0 && TryParseFileName(file.Name, out uint id))
            {
                ids.Add(id);
            }
        }

        ids.Sort();
        return ids;
    }

    /// <summary>The id a rotation creates next: one more than the largest, or 1 for none.</summary>
    /// <param name="ids">Existing ids.</param>
    /// <returns>The next id.</returns>
    /// <exception cref="DataWalException">The next id would not fit in 8 digits.</exception>
    public static uint NextId(IReadOnlyList<uint> ids)
    {
        uint max = 0;
        foreach (uint id in ids)
        {
            max = Math.Max(max, id);
        }

        if (max >= MaxId)
        {
            throw new DataWalException($"datawal: segment id overflow: {max} is the last id an 8-digit segment name can hold");
        }

        return max + 1;
    }
}
