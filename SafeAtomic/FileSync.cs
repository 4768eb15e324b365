using Microsoft.Win32.SafeHandles;
using SafeAtomic.Internal;

namespace SafeAtomic;

/// <summary>
/// Handle-level durability primitives: the layer DataWal.Core builds on. Every call goes through
/// SafeAtomic's own system-call layer (Mono.Posix on Unix, FlushFileBuffers on Windows), so an fsync
/// error is always reported, never swallowed the way FileStream's flush-to-disk can on Linux.
/// </summary>
/// <remarks>
/// Failures throw <see cref="SystemCallException"/> with the errno. EINTR is retried; short writes are
/// continued until every byte is written. An fsync error must be treated as final for the data written
/// since the previous successful fsync (the kernel may have dropped those pages): never retry it and
/// assume the data is safe.
/// </remarks>
public static class FileSync
{
    private const int MaxInterruptedRetries = 64;

    /// <summary>
    /// Opens or creates a file. On Unix the handle is opened with O_CLOEXEC and takes no implicit
    /// advisory lock (unlike <see cref="File.OpenHandle"/>); <paramref name="createMode"/> sets the
    /// permission bits of a newly created file (ignored on Windows).
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="mode">How to open or create it.</param>
    /// <param name="access">Read, write or both.</param>
    /// <param name="createMode">Permission bits for a created file; <c>null</c> means 0666 less the umask.</param>
    /// <returns>An open handle the caller owns.</returns>
    public static SafeFileHandle Open(string path, FileMode mode, FileAccess access, UnixFileMode? createMode = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return RetryInterrupted((path, mode, access, createMode), static (calls, a) => calls.Open(a.path, a.mode, a.access, FileShare.ReadWrite, a.createMode));
    }

    /// <summary>
    /// Writes every byte of <paramref name="data"/> at <paramref name="offset"/> (positional write,
    /// pwrite), continuing after short writes and retrying EINTR.
    /// </summary>
    /// <param name="handle">An open, writable handle.</param>
    /// <param name="data">The bytes to write.</param>
    /// <param name="offset">The file offset of the first byte.</param>
    public static void Write(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        WriteAll(handle, data, offset);
    }

    /// <summary>
    /// Appends every byte of <paramref name="data"/> to a handle opened for appending (O_APPEND),
    /// continuing after short writes and retrying EINTR.
    /// </summary>
    /// <param name="handle">A handle opened in append mode.</param>
    /// <param name="data">The bytes to append.</param>
    public static void Append(SafeFileHandle handle, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(handle);
        WriteAll(handle, data, -1);
    }

    private static void WriteAll(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset)
    {
        var calls = SystemCalls.Current;
        int interrupted = 0;
        while (!data.IsEmpty)
        {
            int n;
            try
            {
                n = calls.Write(handle, data, offset);
            }
            catch (SystemCallException e) when (e.ErrorNumber == ErrorNumbers.EINTR && ++interrupted < MaxInterruptedRetries)
            {
                continue;
            }

            if (n <= 0)
            {
                // A regular file never accepts zero bytes of a non-empty write; looping would spin forever.
                throw new SystemCallException(offset >= 0 ? "pwrite" : "write", null, ErrorNumbers.EIO, "EIO");
            }

            data = data[n..];
            if (offset >= 0)
            {
                offset += n;
            }
        }
    }

    /// <summary>
    /// Flushes the file's data and metadata to stable storage: fsync(2) on Linux, F_FULLFSYNC on macOS,
    /// FlushFileBuffers on Windows.
    /// </summary>
    /// <param name="handle">An open handle.</param>
    public static void Fsync(SafeFileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        RetryInterrupted(handle, static (calls, h) => calls.Fsync(h));
    }

    /// <summary>
    /// Flushes the file's data and the metadata needed to read it back (fdatasync(2) on Linux; the same
    /// as <see cref="Fsync"/> elsewhere). Enough for a file whose size grew: the size is such metadata.
    /// </summary>
    /// <param name="handle">An open handle.</param>
    public static void FsyncData(SafeFileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        RetryInterrupted(handle, static (calls, h) => calls.FsyncData(h));
    }

    /// <summary>
    /// Makes the directory's entries durable (files created, renamed or removed in it): opens the
    /// directory (O_DIRECTORY) and fsyncs it. A documented no-op on Windows, which has no supported way
    /// to flush a directory (NTFS journals its metadata). <see cref="AtomicFile.FsyncDir"/> is the same
    /// operation under upstream's name (<c>fsync_dir</c>).
    /// </summary>
    /// <param name="directory">The directory.</param>
    public static void FsyncDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        RetryInterrupted(directory, static (calls, d) => calls.FsyncDirectory(d));
    }

    /// <summary>
    /// Removes the directory entry <paramref name="path"/> (unlink(2); a symbolic link itself, never its target),
    /// through SafeAtomic's system-call layer. Not durable until the directory is fsynced
    /// (<see cref="FsyncDirectory"/>); handles already open on the file keep reading it.
    /// </summary>
    /// <param name="path">The file to remove.</param>
    /// <returns>False when nothing was there (ENOENT); true when the entry was removed.</returns>
    /// <exception cref="SystemCallException">The entry exists but could not be removed.</exception>
    public static bool Delete(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try
        {
            RetryInterrupted(path, static (calls, p) => calls.Unlink(p));
            return true;
        }
        catch (SystemCallException e) when (e.ErrorNumber == ErrorNumbers.ENOENT)
        {
            return false;
        }
    }

    /// <summary>Sets the file's length (ftruncate); used to cut a damaged tail.</summary>
    /// <param name="handle">A writable handle.</param>
    /// <param name="length">The new length in bytes.</param>
    public static void SetLength(SafeFileHandle handle, long length)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        RetryInterrupted((handle, length), static (calls, s) => calls.SetLength(s.handle, s.length));
    }

    /// <summary>
    /// Opens a file that must be a regular file, the way a store opens its own files: a symbolic link at
    /// <paramref name="path"/> is never followed, a FIFO is never waited on, and a directory, socket or device is
    /// refused. The handle is checked after the open too, so an entry swapped in between is refused as well.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="access">Read, write or both.</param>
    /// <param name="createIfMissing">Create the file when nothing is at <paramref name="path"/>.</param>
    /// <param name="createMode">Permission bits for a created file; <c>null</c> means 0666 less the umask.</param>
    /// <returns>An open handle to a regular file; the caller owns it.</returns>
    /// <exception cref="NotRegularFileException">Something other than a regular file is at <paramref name="path"/>.</exception>
    /// <exception cref="SystemCallException">The open failed (e.g. ENOENT without <paramref name="createIfMissing"/>).</exception>
    public static SafeFileHandle OpenRegular(string path, FileAccess access, bool createIfMissing = false, UnixFileMode? createMode = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return RetryInterrupted((path, access, createIfMissing, createMode), static (calls, a) => calls.OpenRegular(a.path, a.access, a.createIfMissing, a.createMode));
    }

    /// <summary>
    /// Reads at <paramref name="offset"/> (positional read, pread) through SafeAtomic's system-call layer,
    /// retrying EINTR. Returns fewer bytes than asked only at the end of the file.
    /// </summary>
    /// <param name="handle">An open, readable handle.</param>
    /// <param name="buffer">Where to put the bytes.</param>
    /// <param name="offset">The file offset of the first byte.</param>
    /// <returns>The number of bytes read; 0 at or past the end of the file.</returns>
    public static int Read(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var calls = SystemCalls.Current;
        int total = 0;
        int interrupted = 0;
        while (total < buffer.Length)
        {
            int n;
            try
            {
                n = calls.Read(handle, buffer[total..], offset + total);
            }
            catch (SystemCallException e) when (e.ErrorNumber == ErrorNumbers.EINTR && ++interrupted < MaxInterruptedRetries)
            {
                continue;
            }

            if (n <= 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    /// <summary>The file's current length (fstat), through SafeAtomic's system-call layer.</summary>
    /// <param name="handle">An open handle.</param>
    /// <returns>The length in bytes.</returns>
    public static long GetLength(SafeFileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        return RetryInterrupted(handle, static (calls, h) => calls.GetLength(h));
    }

    /// <summary>What is at <paramref name="path"/>, without following a symbolic link (lstat).</summary>
    /// <param name="path">The path.</param>
    /// <returns>The kind; <see cref="FileKind.Missing"/> when nothing is there.</returns>
    public static FileKind GetFileKind(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return RetryInterrupted(path, static (calls, p) => calls.GetFileKind(p));
    }

    /// <summary>
    /// The identity (device and inode, fstat) of the file <paramref name="handle"/> is open on: it stays the
    /// same while the file is renamed or unlinked, so comparing it with <see cref="GetIdentity(string)"/> tells
    /// whether a path still names the file the handle reads.
    /// </summary>
    /// <param name="handle">An open handle.</param>
    /// <returns>The identity; <see cref="FileIdentity.Unknown"/> where the platform has none (Windows).</returns>
    /// <exception cref="SystemCallException">The fstat failed.</exception>
    public static FileIdentity GetIdentity(SafeFileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        return RetryInterrupted(handle, static (calls, h) => calls.GetIdentity(h));
    }

    /// <summary>The identity of what is at <paramref name="path"/> itself (lstat: a symbolic link is not followed).</summary>
    /// <param name="path">The path.</param>
    /// <returns>The identity; null when nothing is at <paramref name="path"/>; <see cref="FileIdentity.Unknown"/> where the platform has none (Windows).</returns>
    /// <exception cref="SystemCallException">The lstat failed for another reason than a missing entry.</exception>
    public static FileIdentity? GetIdentity(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return RetryInterrupted(path, static (calls, p) => calls.GetIdentity(p));
    }

    /// <summary>
    /// Lists a directory (readdir) with each entry's kind, links not followed. A listing is not a snapshot:
    /// an entry created or removed while it runs may or may not appear.
    /// </summary>
    /// <param name="directory">The directory.</param>
    /// <returns>Every entry except <c>.</c> and <c>..</c>, in no particular order.</returns>
    public static IReadOnlyList<DirectoryEntry> ListDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        return RetryInterrupted(directory, static (calls, d) => calls.ReadDirectory(d));
    }

    /// <summary>Runs one system call, repeating it while it reports EINTR (bounded).</summary>
    internal static void RetryInterrupted<T>(T state, Action<SystemCalls, T> call) =>
        RetryInterrupted((state, call), static (calls, s) =>
        {
            s.call(calls, s.state);
            return true;
        });

    /// <summary>Runs one system call returning a result, repeating it while it reports EINTR (bounded).</summary>
    internal static TResult RetryInterrupted<TState, TResult>(TState state, Func<SystemCalls, TState, TResult> call)
    {
        var calls = SystemCalls.Current;
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return call(calls, state);
            }
            catch (SystemCallException e) when (e.ErrorNumber == ErrorNumbers.EINTR && attempt < MaxInterruptedRetries)
            {
            }
        }
    }
}
