using Microsoft.Win32.SafeHandles;

namespace SafeAtomic.Internal;

/// <summary>
/// The one seam through which every durability-relevant system call of the stack passes
/// (SafeAtomic, DataWal.Core and DataWal.Kv all reach the disk through it).
/// </summary>
/// <remarks>
/// Production code always runs on <see cref="Platform"/>. Tests replace <see cref="Current"/> to inject
/// EIO/ENOSPC/EXDEV/EINTR, short writes, or to record every write and fsync (power-loss simulation).
/// Each method reports failure by throwing <see cref="SystemCallException"/> carrying the errno.
/// </remarks>
internal abstract class SystemCalls
{
    private static SystemCalls? s_current;

    /// <summary>The real implementation for the running platform.</summary>
    public static SystemCalls Platform { get; } =
        OperatingSystem.IsWindows() ? new WindowsSystemCalls() : new UnixSystemCalls();

    /// <summary>The implementation in force (the platform one unless a test replaced it).</summary>
    public static SystemCalls Current => Volatile.Read(ref s_current) ?? Platform;

    /// <summary>Installs <paramref name="calls"/> until the returned scope is disposed (tests only).</summary>
    public static IDisposable Use(SystemCalls calls)
    {
        ArgumentNullException.ThrowIfNull(calls);
        var previous = Interlocked.Exchange(ref s_current, calls);
        return new Restore(previous);
    }

    private sealed class Restore(SystemCalls? previous) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Volatile.Write(ref s_current, previous);
            }
        }
    }

    /// <summary>Opens (or creates) a file; <paramref name="createMode"/> is ignored on Windows.</summary>
    public abstract SafeFileHandle Open(string path, FileMode mode, FileAccess access, FileShare share, UnixFileMode? createMode);

    /// <summary>
    /// Opens <paramref name="path"/> for appending (O_APPEND on Unix), creating it when missing;
    /// <paramref name="created"/> tells whether this call created it.
    /// </summary>
    public abstract SafeFileHandle OpenAppend(string path, out bool created);

    /// <summary>
    /// One write system call: writes a prefix of <paramref name="data"/> at <paramref name="offset"/>
    /// (or at the end of an append handle when <paramref name="offset"/> is negative) and returns how many
    /// bytes the kernel accepted, which may be fewer than asked (a short write).
    /// </summary>
    public abstract int Write(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset);

    /// <summary>fsync(2) (F_FULLFSYNC on macOS, FlushFileBuffers on Windows).</summary>
    public abstract void Fsync(SafeFileHandle handle);

    /// <summary>fdatasync(2) where the platform has it, otherwise the same as <see cref="Fsync"/>.</summary>
    public abstract void FsyncData(SafeFileHandle handle);

    /// <summary>Opens a directory and fsyncs it (a no-op on Windows).</summary>
    public abstract void FsyncDirectory(string path);

    /// <summary>Shrinks or extends a file (ftruncate).</summary>
    public abstract void SetLength(SafeFileHandle handle, long length);

    /// <summary>rename(2): atomically replaces <paramref name="to"/>; never copies across devices.</summary>
    public abstract void Rename(string from, string to);

    /// <summary>
    /// Moves <paramref name="from"/> to <paramref name="to"/> only if <paramref name="to"/> does not exist
    /// (exactly one winner among racers); returns false when it exists.
    /// </summary>
    public abstract bool RenameNoReplace(string from, string to);

    /// <summary>unlink(2).</summary>
    public abstract void Unlink(string path);

    /// <summary>mkdir(2) of one directory level; returns false when it already exists.</summary>
    public abstract bool CreateDirectory(string path);

    // --- modes (h1) ---

    /// <summary>
    /// The permission bits (0777, never set-uid, set-gid or sticky) of the regular file at
    /// <paramref name="path"/> itself (lstat: a symlink there is not followed), or null when the path holds
    /// no regular file, cannot be examined, or the platform has no Unix modes.
    /// </summary>
    public virtual UnixFileMode? RegularFilePermissions(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }

        if (Mono.Unix.Native.Syscall.lstat(path, out var stat) != 0 ||
            (stat.st_mode & Mono.Unix.Native.FilePermissions.S_IFMT) != Mono.Unix.Native.FilePermissions.S_IFREG)
        {
            return null;
        }

        return (UnixFileMode)((uint)stat.st_mode & PermissionBits);
    }

    private const uint PermissionBits = 0x1FF;   // 0777: rwx for user, group and others
}
