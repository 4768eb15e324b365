using System.Globalization;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// Segment file naming and discovery (upstream <c>segment.rs</c>): <c>NNNNNNNN.dwal</c>, an 8-digit
/// zero-padded decimal id. The directory is the source of truth; there is no manifest.
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
    /// The ids of the segments in <paramref name="directory"/>, ascending: the one discovery function every
    /// path (writer, reader, follower, KV, CLI) uses. A segment is a <em>regular file</em> whose name matches;
    /// symlinks, directories, FIFOs, sockets and devices with such a name are ignored, and so are other names.
    /// </summary>
    /// <remarks>
    /// A single directory listing is not a snapshot: one taken while a writer rotates can miss a segment
    /// that was created before one it does show (ext4 returns names in hash order). So the directory is
    /// listed again until a listing shows nothing new: a segment that existed when any listed segment was
    /// created existed before that final listing began, so it is in the result. Listing errors are typed
    /// (<see cref="DataWalException"/> naming the directory).
    /// </remarks>
    /// <param name="directory">The log directory.</param>
    /// <returns>The sorted ids (gaps allowed).</returns>
    public static IReadOnlyList<uint> List(string directory)
    {
        var ids = new SortedSet<uint>();
        ListOnce(directory, ids, regularOnly: true);
        for (int listing = 1; listing < MaxListings; listing++)
        {
            int before = ids.Count;
            ListOnce(directory, ids, regularOnly: true);
            if (ids.Count == before)
            {
                break;
            }
        }

        return [.. ids];
    }

    /// <summary>
    /// The ids of every entry with a segment name, whatever it is (a planted link or FIFO included): what a
    /// writer must not reuse when it creates a segment. The writer holds the lock, so nobody else adds any.
    /// </summary>
    internal static IReadOnlyList<uint> ListNames(string directory)
    {
        var ids = new SortedSet<uint>();
        ListOnce(directory, ids, regularOnly: false);
        return [.. ids];
    }

    /// <summary>
    /// Creates segment <paramref name="id"/> (it must not exist: a name taken by anything, planted entries included,
    /// is an error, never reused) and returns it opened read-write. The caller fsyncs the directory.
    /// </summary>
    internal static Microsoft.Win32.SafeHandles.SafeFileHandle Create(string directory, uint id) =>
        FileSync.Open(PathFor(directory, id), FileMode.CreateNew, FileAccess.ReadWrite);

    /// <summary>True when segment <paramref name="id"/> exists now as a regular file (a probe by name, links not followed).</summary>
    internal static bool Exists(string directory, uint id)
    {
        string path = PathFor(directory, id);
        try
        {
            return FileSync.GetFileKind(path) == FileKind.Regular;
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.StatSegmentFailed(path, e);
        }
    }

    /// <summary>The current length of segment <paramref name="id"/> (opened no-follow as a regular file, then fstat).</summary>
    /// <exception cref="DataWalException">The segment cannot be opened or stat'ed.</exception>
    internal static long Length(string directory, uint id)
    {
        string path = PathFor(directory, id);
        try
        {
            using var handle = FileSync.OpenRegular(path, FileAccess.Read);
            return FileSync.GetLength(handle);
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.StatSegmentFailed(path, e);
        }
    }

    // Each further listing only happens while the previous one found something new, which needs a writer
    // creating segments faster than the directory can be listed; the bound only stops a pathological spin.
    private const int MaxListings = 64;

    private static void ListOnce(string directory, SortedSet<uint> ids, bool regularOnly)
    {
        IReadOnlyList<DirectoryEntry> entries;
        try
        {
            entries = FileSync.ListDirectory(directory);
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.ListLogDirectoryFailed(directory, e);
        }

        foreach (var entry in entries)
        {
            if ((!regularOnly || entry.Kind == FileKind.Regular) && TryParseFileName(entry.Name, out uint id))
            {
                ids.Add(id);
            }
        }
    }

    /// <summary>The id a rotation creates next: one more than the largest, or 1 for none.</summary>
    /// <param name="ids">Existing ids.</param>
    /// <returns>The next id.</returns>
    /// <exception cref="DataWalException">The next id would not fit in 8 digits.</exception>
    public static uint NextId(IReadOnlyList<uint> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        uint max = 0;
        foreach (uint id in ids)
        {
            max = Math.Max(max, id);
        }

        if (max >= MaxId)
        {
            ThrowHelper.ThrowSegmentIdOverflow(max);
        }

        return max + 1;
    }
}
