namespace SafeAtomic;

/// <summary>What a directory entry is, as <c>lstat</c> sees it (a symbolic link is never followed).</summary>
public enum FileKind
{
    /// <summary>Nothing is at the path.</summary>
    Missing,

    /// <summary>A regular file: the only kind a store may read or write.</summary>
    Regular,

    /// <summary>A directory.</summary>
    Directory,

    /// <summary>A symbolic link (not followed).</summary>
    SymbolicLink,

    /// <summary>A named pipe: opening it for reading would block until a writer appears.</summary>
    Fifo,

    /// <summary>A Unix domain socket.</summary>
    Socket,

    /// <summary>A character device.</summary>
    CharacterDevice,

    /// <summary>A block device.</summary>
    BlockDevice,

    /// <summary>Something the platform reported that none of the above names.</summary>
    Other,
}
