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

    // --- store files and reads: opens that never follow a link or block, and the read side of the seam ---
    // Virtual with the platform's behaviour as the default, so a test layer that only cares about writes
    // passes reads through; the platform classes override every one of them.

    /// <summary>
    /// Opens a file that must be a regular file: never follows a symbolic link at the last component, never
    /// blocks (a FIFO is refused, not waited on), and throws <see cref="NotRegularFileException"/> unless the
    /// opened object is a regular file. <paramref name="create"/> creates a missing file with <paramref name="createMode"/>.
    /// </summary>
    public virtual SafeFileHandle OpenRegular(string path, FileAccess access, bool create, UnixFileMode? createMode) => Platform.OpenRegular(path, access, create, createMode);

    /// <summary>One positional read system call (pread); returns the bytes read, 0 at the end of the file.</summary>
    public virtual int Read(SafeFileHandle handle, Span<byte> buffer, long offset) => Platform.Read(handle, buffer, offset);

    /// <summary>The file's current length (fstat).</summary>
    public virtual long GetLength(SafeFileHandle handle) => Platform.GetLength(handle);

    /// <summary>What is at <paramref name="path"/> (lstat: a link is reported, not followed).</summary>
    public virtual FileKind GetFileKind(string path) => Platform.GetFileKind(path);

    /// <summary>Every entry of a directory except <c>.</c> and <c>..</c> (readdir), with its kind (links not followed).</summary>
    public virtual IReadOnlyList<DirectoryEntry> ReadDirectory(string path) => Platform.ReadDirectory(path);

    /// <summary>The identity (device, inode) of the file a handle is open on (fstat).</summary>
    public virtual FileIdentity GetIdentity(SafeFileHandle handle) => Platform.GetIdentity(handle);

    /// <summary>The identity of what is at <paramref name="path"/> (lstat, a link not followed); null when nothing is there.</summary>
    public virtual FileIdentity? GetIdentity(string path) => Platform.GetIdentity(path);

    // --- modes: what a replaced file keeps ---

    /// <summary>
    /// The permission bits (0777, never set-uid, set-gid or sticky) of the regular file at
    /// <paramref name="path"/> itself (lstat: a symlink there is not followed), or null when the path holds
    /// no regular file, cannot be examined, or the platform has no Unix modes.
    /// </summary>
    public virtual UnixFileMode? RegularFilePermissions(string path) => Platform.RegularFilePermissions(path);
}
