namespace SafeAtomic;

/// <summary>
/// Error numbers found in <see cref="SystemCallException.ErrorNumber"/> (Linux numbering, used on every
/// Unix platform through Mono.Posix's conversion).
/// </summary>
/// <remarks>
/// Not called <c>Errno</c> (its earlier name), so that code using both it and
/// Mono.Posix's <c>Mono.Unix.Native.Errno</c> enum needs no fully qualified names.
/// </remarks>
public static class ErrorNumbers
{
    /// <summary>Operation not permitted.</summary>
    public const int EPERM = 1;
    /// <summary>No such file or directory.</summary>
    public const int ENOENT = 2;
    /// <summary>Interrupted system call.</summary>
    public const int EINTR = 4;
    /// <summary>No such device or address (opening a FIFO for writing that has no reader, without blocking).</summary>
    public const int ENXIO = 6;
    /// <summary>I/O error.</summary>
    public const int EIO = 5;
    /// <summary>Permission denied.</summary>
    public const int EACCES = 13;
    /// <summary>File exists.</summary>
    public const int EEXIST = 17;
    /// <summary>Cross-device link.</summary>
    public const int EXDEV = 18;
    /// <summary>Not a directory.</summary>
    public const int ENOTDIR = 20;
    /// <summary>Is a directory.</summary>
    public const int EISDIR = 21;
    /// <summary>Invalid argument.</summary>
    public const int EINVAL = 22;
    /// <summary>No space left on device.</summary>
    public const int ENOSPC = 28;
    /// <summary>Read-only file system.</summary>
    public const int EROFS = 30;
    /// <summary>Too many links.</summary>
    public const int EMLINK = 31;
    /// <summary>Too many levels of symbolic links (an open with no-follow met a link).</summary>
    public const int ELOOP = 40;
    /// <summary>Function not implemented.</summary>
    public const int ENOSYS = 38;
    /// <summary>Operation not supported.</summary>
    public const int EOPNOTSUPP = 95;
    /// <summary>Disk quota exceeded.</summary>
    public const int EDQUOT = 122;

    /// <summary>Returns the symbolic name of a (Linux-numbered) error, or <c>E&lt;n&gt;</c>.</summary>
    public static string Name(int errorNumber) => errorNumber switch
    {
        EPERM => nameof(EPERM),
        ENOENT => nameof(ENOENT),
        EINTR => nameof(EINTR),
        ENXIO => nameof(ENXIO),
        EIO => nameof(EIO),
        EACCES => nameof(EACCES),
        EEXIST => nameof(EEXIST),
        EXDEV => nameof(EXDEV),
        ENOTDIR => nameof(ENOTDIR),
        EISDIR => nameof(EISDIR),
        EINVAL => nameof(EINVAL),
        ENOSPC => nameof(ENOSPC),
        EROFS => nameof(EROFS),
        EMLINK => nameof(EMLINK),
        ELOOP => nameof(ELOOP),
        ENOSYS => nameof(ENOSYS),
        EOPNOTSUPP => nameof(EOPNOTSUPP),
        EDQUOT => nameof(EDQUOT),
        _ => "E" + errorNumber.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
