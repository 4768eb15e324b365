using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// The writer lock of a log directory (upstream <c>lock.rs</c>): an exclusive, non-blocking
/// <c>flock</c> on <c>&lt;dir&gt;/.lock</c>, held by an open handle for the life of the writer. The file is
/// never deleted and its existence means nothing; the kernel releases the lock when the holder closes it or
/// dies, so a stale file never blocks. The same protocol as the Rust crate (fs2), so a .NET writer and a
/// Rust writer exclude each other. A second acquisition in the same process also fails, because each
/// acquisition opens its own file description.
/// </summary>
public sealed partial class DirectoryLock : IDisposable
{
    /// <summary>The lock file's name.</summary>
    public const string FileName = ".lock";

    private const int LockShared = 1;
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int LockUnlock = 8;
    private const int TransientRetries = 10;

    /// <summary>The full paths of the lock files held by this process, to tell "this process" from another.</summary>
    private static readonly HashSet<string> HeldHere = new(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);

    private SafeFileHandle? _handle;
    private readonly string _key;

    private DirectoryLock(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
        _key = Key(path);
        lock (HeldHere)
        {
            HeldHere.Add(_key);
        }
    }

    private static string Key(string path)
    {
        try
        {
            return System.IO.Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return path;
        }
    }

    private static bool IsHeldHere(string path)
    {
        lock (HeldHere)
        {
            return HeldHere.Contains(Key(path));
        }
    }

    /// <summary>The lock file's path.</summary>
    public string Path { get; }

    /// <summary>
    /// Takes the lock of <paramref name="directory"/> (which must exist) or fails at once.
    /// Writes this process id into the file, for diagnostics only.
    /// </summary>
    /// <param name="directory">The log directory.</param>
    /// <returns>The held lock; dispose to release it.</returns>
    /// <exception cref="StoreLockedException">Another handle holds it (message contains "already locked"); reported within about 10 ms.</exception>
    /// <exception cref="DataWalException"><c>.lock</c> is a symbolic link, FIFO, directory or other non-regular file (never followed or opened), or cannot be opened.</exception>
    public static DirectoryLock Acquire(string directory)
    {
        string path = System.IO.Path.Combine(directory, FileName);
        if (OperatingSystem.IsWindows())
        {
            return AcquireWindows(path);
        }

        var handle = OpenLockFile(path);

        int errno = 0;
        bool locked = false;
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            int fd = (int)handle.DangerousGetHandle();
            for (int attempt = 0; ; attempt++)
            {
                if (flock(fd, LockExclusive | LockNonBlocking) == 0)
                {
                    locked = true;
                    break;
                }

                errno = Marshal.GetLastPInvokeError();
                if (errno == 4)
                {
                    continue;   // EINTR
                }

                // A writer holds its lock for as long as it runs; a shared lock taken by something merely
                // reading .lock (any .NET File.Read* on Unix takes one) lasts microseconds. Retry briefly so
                // such a reader never makes an open fail, then report contention.
                if (attempt >= TransientRetries)
                {
                    break;
                }

                Thread.Sleep(1);
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }

        if (!locked)
        {
            int? pid = ReadPid(handle);
            handle.Dispose();
            throw Locked(path, $"{Marshal.GetPInvokeErrorMessage(errno)} (os error {errno})", pid);
        }

        var held = new DirectoryLock(path, handle);
        held.WritePid();
        return held;
    }

    /// <summary>
    /// Opens (creating when missing) the lock file without following a link or blocking on a FIFO: a planted
    /// <c>.lock</c> must never make a writer truncate or write a file outside the store.
    /// </summary>
    private static SafeFileHandle OpenLockFile(string path)
    {
        try
        {
            return FileSync.OpenRegular(path, FileAccess.ReadWrite, createIfMissing: true);
        }
        catch (NotRegularFileException e)
        {
            throw NotRegularLock(path, e.Kind, e);
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.OpenLockFileFailed(path, e);
        }
    }

    /// <summary>
    /// Tells whether a writer currently holds the lock of <paramref name="directory"/>, without taking it
    /// and without creating or changing anything (a probe for diagnostics; the answer may be stale at once).
    /// </summary>
    /// <remarks>
    /// On Linux a held lock is found in <c>/proc/locks</c> without touching it. Otherwise the probe briefly
    /// takes and drops a shared lock; <see cref="Acquire"/> retries for a few milliseconds, so a writer
    /// opening at that instant is not turned away by the probe.
    /// </remarks>
    /// <param name="directory">The log directory.</param>
    /// <returns>True when some handle holds the writer lock; false when it is free or there is no <c>.lock</c>.</returns>
    public static bool IsHeld(string directory)
    {
        string path = System.IO.Path.Combine(directory, FileName);
        // No writer can hold a .lock that is not a regular file (Acquire refuses one), and looking inside a FIFO
        // or through a link could block or name another file.
        FileKind kind;
        try
        {
            kind = FileSync.GetFileKind(path);
        }
        catch (SafeAtomicException)
        {
            return false;
        }

        if (kind != FileKind.Regular)
        {
            return false;
        }

        // A match in the kernel's lock table settles it without touching the lock. No match is not proof
        // (on overlayfs the table may name the upper file system's inode), so then probe: a writer opening
        // at that instant retries past the probe's brief shared lock.
        if (OperatingSystem.IsLinux() && KernelLockTableShowsWriteLock(path))
        {
            return true;
        }

        if (OperatingSystem.IsWindows())
        {
            try
            {
                using var probe = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                return false;
            }
            catch (IOException)
            {
                return true;
            }
        }

        using var handle = FileSync.OpenRegular(path, FileAccess.Read);
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            int fd = (int)handle.DangerousGetHandle();
            if (flock(fd, LockShared | LockNonBlocking) == 0)
            {
                flock(fd, LockUnlock);
                return false;
            }

            return true;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Looks for a write lock on the lock file's inode in <c>/proc/locks</c> (lines like
    /// <c>1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF</c>, device as hex major:minor).
    /// </summary>
    private static bool KernelLockTableShowsWriteLock(string path)
    {
        if (Mono.Unix.Native.Syscall.lstat(path, out var stat) != 0 || !File.Exists("/proc/locks"))
        {
            return false;
        }

        ulong dev = stat.st_dev;
        ulong major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffUL);
        ulong minor = (dev & 0xff) | ((dev >> 12) & ~0xffUL);
        string id = string.Create(CultureInfo.InvariantCulture, $"{major:x2}:{minor:x2}:{stat.st_ino}");
        try
        {
            foreach (string line in File.ReadLines("/proc/locks"))
            {
                if (line.Contains("->", StringComparison.Ordinal))
                {
                    continue;   // a waiter, not a holder
                }

                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (Array.IndexOf(fields, "WRITE") >= 0 && Array.IndexOf(fields, id) >= 0)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
        }

        return false;
    }

    private static DirectoryLock AcquireWindows(string path)
    {
        try
        {
            if (FileSync.GetFileKind(path) is not (FileKind.Regular or FileKind.Missing) and var kind)
            {
                throw NotRegularLock(path, kind, null);
            }

            var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            var held = new DirectoryLock(path, handle);
            held.WritePid();
            return held;
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw Locked(path, e.Message, null);
        }
    }

    private static DataWalException NotRegularLock(string path, FileKind kind, Exception? inner) =>
        new($"datawal: lock file {path} is {NotRegularFileException.Describe(kind)}, not a regular file; refusing to follow or replace it (remove it to let a writer open the store)", inner);

    /// <summary>
    /// Upstream's message (pinned), then who holds the lock: this process (another handle in it still has the
    /// store open) or the pid the holder wrote into <c>.lock</c>.
    /// </summary>
    private static StoreLockedException Locked(string path, string osError, int? pid)
    {
        bool here = IsHeldHere(path) || pid == Environment.ProcessId;
        string holder = here
            ? " It is held by this process: another handle in it has the store open; dispose that handle first."
            : pid is int p
                ? string.Create(CultureInfo.InvariantCulture, $" It is held by pid {p} (as recorded in .lock).")
                : string.Empty;
        return new($"datawal: log directory is already locked: {path} ({osError}). Another process is using this datawal directory.{holder}", path)
        {
            HolderProcessId = here ? Environment.ProcessId : pid,
            HeldByThisProcess = here,
        };
    }

    /// <summary>
    /// The process id the current holder of <paramref name="directory"/>'s lock wrote into <c>.lock</c>, read
    /// without taking any lock and without following a link or opening a non-regular file; null when there is
    /// no such file or it holds no pid (diagnostic only: a writer that does not record its pid leaves a stale one).
    /// </summary>
    /// <param name="directory">The log directory.</param>
    /// <returns>The recorded pid, or null.</returns>
    public static int? ReadHolderProcessId(string directory)
    {
        string path = System.IO.Path.Combine(directory, FileName);
        try
        {
            if (FileSync.GetFileKind(path) != FileKind.Regular)
            {
                return null;
            }

            using var handle = FileSync.OpenRegular(path, FileAccess.Read);
            return ReadPid(handle);
        }
        catch (Exception e) when (e is SafeAtomicException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Whether a <see cref="DirectoryLock"/> of <paramref name="directory"/> is held by this process.</summary>
    /// <param name="directory">The log directory.</param>
    /// <returns>True when a handle in this process holds the writer lock.</returns>
    public static bool IsHeldByThisProcess(string directory) => IsHeldHere(System.IO.Path.Combine(directory, FileName));

    private static int? ReadPid(SafeFileHandle handle)
    {
        try
        {
            Span<byte> buffer = stackalloc byte[32];
            int n = FileSync.Read(handle, buffer, 0);
            string text = Encoding.ASCII.GetString(buffer[..n]).Trim();
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 0 ? pid : null;
        }
        catch (Exception e) when (e is SafeAtomicException or IOException)
        {
            return null;
        }
    }

    /// <summary>Best effort: the pid is diagnostic, so failing to record it never fails the open.</summary>
    private void WritePid()
    {
        try
        {
            var pid = Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
            FileSync.SetLength(_handle!, 0);
            FileSync.Write(_handle!, pid, 0);
        }
        catch (SafeAtomicException)
        {
        }
    }

    /// <summary>Releases the lock (the file stays).</summary>
    public void Dispose()
    {
        var handle = Interlocked.Exchange(ref _handle, null);
        if (handle is null)
        {
            return;
        }

        lock (HeldHere)
        {
            HeldHere.Remove(_key);
        }

        if (!OperatingSystem.IsWindows() && !handle.IsInvalid)
        {
            bool added = false;
            handle.DangerousAddRef(ref added);
            try
            {
                flock((int)handle.DangerousGetHandle(), LockUnlock);
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }
            }
        }

        handle.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int flock(int fd, int operation);
}
