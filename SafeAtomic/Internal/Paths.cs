namespace SafeAtomic.Internal;

internal static class Paths
{
    /// <summary>
    /// Splits a target path into its absolute form, its directory and its file name. A bare file name
    /// ("a.txt") lives in the current directory — upstream failed on it after renaming.
    /// </summary>
    public static (string Full, string Directory, string Name) Split(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string name = Path.GetFileName(full);
        if (name.Length == 0)
        {
            throw new ArgumentException($"'{path}' names a directory, not a file.", nameof(path));
        }

        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no parent directory.", nameof(path));
        return (full, directory, name);
    }
}
