namespace SafeAtomic;

/// <summary>
/// A path that must be a regular file is something else: a symbolic link (never followed), a FIFO (never
/// opened in a way that could block), a directory, a socket or a device. Nothing was read or written through it.
/// </summary>
public sealed class NotRegularFileException : SafeAtomicException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The path that is not a regular file.</param>
    /// <param name="kind">What it is instead.</param>
    public NotRegularFileException(string path, FileKind kind)
        : base($"{path} is {Describe(kind)}, not a regular file; refusing to open it", path)
    {
        Kind = kind;
    }

    /// <summary>What the path is instead of a regular file.</summary>
    public FileKind Kind { get; }

    /// <summary>An English phrase for <paramref name="kind"/>, e.g. "a symbolic link".</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>The phrase.</returns>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Missing => "missing",
        FileKind.Regular => "a regular file",
        FileKind.Directory => "a directory",
        FileKind.SymbolicLink => "a symbolic link",
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.Socket => "a socket",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        _ => "of another kind",
    };
}
