using NUnit.Framework;

namespace TestSupport;

/// <summary>
/// The frozen upstream fixtures, copied next to each test assembly under <c>Corpus/</c>. Tests always work
/// on a copy: a writer open creates <c>.lock</c> and may cut a damaged tail.
/// </summary>
public static class Corpus
{
    /// <summary>Every fixture folder.</summary>
    public static readonly string[] Folders = ["valid_log", "truncated_tail", "bad_crc", "unknown_version", "delete_tombstone", "compact_to_output"];

    /// <summary>The fixture's folder in the test output (never open it in place).</summary>
    public static string Source(string name) => Path.Combine(AppContext.BaseDirectory, "Corpus", name);

    /// <summary>Copies fixture <paramref name="name"/>'s segment files into <paramref name="destination"/> (created, files writable).</summary>
    public static string CopyTo(string name, string destination)
    {
        Directory.CreateDirectory(destination);
        var files = Directory.GetFiles(Source(name), "*.dwal");
        Assert.That(files, Is.Not.Empty, $"corpus fixture {name} is missing from the test output");
        foreach (var file in files)
        {
            string target = Path.Combine(destination, Path.GetFileName(file));
            File.Copy(file, target);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }
        }

        return destination;
    }

    /// <summary>Copies fixture <paramref name="name"/> into a folder of that name inside <paramref name="dir"/>.</summary>
    public static string Copy(TempDir dir, string name) => CopyTo(name, dir[name]);
}
