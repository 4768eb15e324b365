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

    private SafeFileHandle? _handle;

    private DirectoryLock(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
    }

    /// <summary>The lock file's path.</summary>
    public string Path { get; }

    /// <summary>
    /// Takes the lock of <paramref name="directory"/> (which must exist) or fails at once.
    /// Writes this process id into the file, for diagnostics only.
    /// </summary>
    /// <param name="directory">The log directory.</param>
    /// <returns>The held lock; dispose to release it.</returns>
    /// <exception cref="StoreLockedException">Another handle holds it (message contains "already locked").</exception>
    public static DirectoryLock Acquire(string directory)
    {
        string path = System.IO.Path.Combine(directory, FileName);
        if (OperatingSystem.IsWindows())
        {
            return AcquireWindows(path);
        }

        SafeFileHandle handle;
        try
        {
            handle = FileSync.Open(path, FileMode.OpenOrCreate, FileAccess.ReadWrite);
        }
        catch (SafeAtomicException e)
        {
            throw new DataWalException($"datawal: open lock file {path}: {e.Message}", e);
        }

        int errno = 0;
        bool locked = false;
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            int fd = (int)handle.DangerousGetHandle();
            while (true)
            {
                if (flock(fd, LockExclusive | LockNonBlocking) == 0)
                {
                    locked = true;
                    break;
                }

                errno = Marshal.GetLastPInvokeError();
                if (errno != 4)
                {
                    break;   // anything but EINTR
                }
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
            handle.Dispose();
            throw Locked(path, $"{Marshal.GetPInvokeErrorMessage(errno)} (os error {errno})");
        }

        var held = new DirectoryLock(path, handle);
        held.WritePid();
        return held;
    }

    /// <summary>
    /// Tells whether a writer currently holds the lock of <paramref name="directory"/>, without taking it
    /// and without creating or changing anything (a probe for diagnostics; the answer may be stale at once).
    /// </summary>
    /// <param name="directory">The log directory.</param>
    /// <returns>True when another handle holds the writer lock; false when it is free or there is no <c>.lock</c>.</returns>
    public static bool IsHeld(string directory)
    {
        string path = System.IO.Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return false;
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

        using var handle = FileSync.Open(path, FileMode.Open, FileAccess.Read);
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

    private static DirectoryLock AcquireWindows(string path)
    {
        try
        {
            var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            var held = new DirectoryLock(path, handle);
            held.WritePid();
            return held;
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw Locked(path, e.Message);
        }
    }

    private static StoreLockedException Locked(string path, string osError) =>
        new($"datawal: log directory is already locked: {path} ({osError}). Another process is using this datawal directory.", path);

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
