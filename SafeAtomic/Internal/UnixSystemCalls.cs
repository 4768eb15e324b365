using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace SafeAtomic.Internal;

/// <summary>
/// Unix system calls through Mono.Posix (docs/design.md D3) plus the few calls it lacks (renameat2,
/// renamex_np, fcntl(F_FULLFSYNC)) as our own imports. Every failure surfaces its errno; nothing is
/// retried or swallowed here (callers decide, e.g. EINTR is retried by <see cref="FileSync"/>).
/// This file holds the write side (open, write, fsync, rename, unlink, mkdir);
/// <c>UnixSystemCalls.Inspection.cs</c> the no-follow opens, reads, lstat and readdir.
/// </summary>
internal sealed partial class UnixSystemCalls : SystemCalls
{
    private const int AtFdCwd = -100;
    private const uint RenameNoReplaceFlag = 1;   // Linux RENAME_NOREPLACE
    private const uint RenameExclFlag = 4;        // macOS RENAME_EXCL
    private const int FFullFsync = 51;            // macOS F_FULLFSYNC

    private static volatile bool s_renameat2Unsupported;

    public override SafeFileHandle Open(string path, FileMode mode, FileAccess access, FileShare share, UnixFileMode? createMode)
    {
        OpenFlags flags = access switch
        {
            FileAccess.Read => OpenFlags.O_RDONLY,
            FileAccess.Write => OpenFlags.O_WRONLY,
            _ => OpenFlags.O_RDWR,
        };
        flags |= OpenFlags.O_CLOEXEC;
        flags |= mode switch
        {
            FileMode.CreateNew => OpenFlags.O_CREAT | OpenFlags.O_EXCL,
            FileMode.Create => OpenFlags.O_CREAT | OpenFlags.O_TRUNC,
            FileMode.OpenOrCreate => OpenFlags.O_CREAT,
            FileMode.Truncate => OpenFlags.O_TRUNC,
            FileMode.Append => OpenFlags.O_CREAT | OpenFlags.O_APPEND,
            _ => 0,
        };

        var perms = (FilePermissions)(uint)(createMode ?? DefaultCreateMode);
        int fd = OpenPath(path, flags, perms);
        if (fd < 0)
        {
            throw LastError("open", path);
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private const UnixFileMode DefaultCreateMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    public override SafeFileHandle OpenAppend(string path, out bool created)
    {
        const OpenFlags Flags = OpenFlags.O_WRONLY | OpenFlags.O_APPEND | OpenFlags.O_CLOEXEC;
        var perms = (FilePermissions)(uint)DefaultCreateMode;
        while (true)
        {
            int fd = OpenPath(path, Flags | OpenFlags.O_CREAT | OpenFlags.O_EXCL, perms);
            if (fd >= 0)
            {
                created = true;
                return new SafeFileHandle(fd, ownsHandle: true);
            }

            var errno = Stdlib.GetLastError();
            if (errno == Errno.EINTR)
            {
                continue;
            }

            if (errno != Errno.EEXIST)
            {
                throw Error("open", path, errno);
            }

            fd = OpenPath(path, Flags);
            if (fd >= 0)
            {
                created = false;
                return new SafeFileHandle(fd, ownsHandle: true);
            }

            errno = Stdlib.GetLastError();
            if (errno == Errno.ENOENT && PathMode(path, out _) == 0)
            {
                // Something is at the path that open() cannot follow: a dangling symlink. O_CREAT|O_EXCL keeps
                // answering EEXIST for it, so going round again would spin forever.
                throw Error("open", path, errno);
            }

            if (errno is not (Errno.ENOENT or Errno.EINTR))
            {
                throw Error("open", path, errno);
            }

            // Removed between the two opens: try creating it again.
        }
    }

    public override unsafe int Write(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset)
    {
        using var lease = new FdLease(handle);
        int fd = lease.Value;
        long n;
        fixed (byte* p = data)
        {
            n = offset >= 0
                ? Syscall.pwrite(fd, p, (ulong)data.Length, offset)
                : Syscall.write(fd, p, (ulong)data.Length);
        }

        if (n < 0)
        {
            throw LastError(offset >= 0 ? "pwrite" : "write", null);
        }

        return (int)n;
    }

    public override void Fsync(SafeFileHandle handle)
    {
        using var lease = new FdLease(handle);
        int fd = lease.Value;
        if (OperatingSystem.IsMacOS() || OperatingSystem.IsIOS())
        {
            // Plain fsync on Apple platforms leaves data in the drive's cache; F_FULLFSYNC flushes it.
            // Some file systems (SMB, FAT) reject it: fall back to fsync, as the runtime does.
            if (FcntlNoArg(fd, FFullFsync) == 0)
            {
                return;
            }
        }

        if (Syscall.fsync(fd) != 0)
        {
            throw LastError("fsync", null);
        }
    }

    public override void FsyncData(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            Fsync(handle);
            return;
        }

        using var lease = new FdLease(handle);
        if (Syscall.fdatasync(lease.Value) != 0)
        {
            throw LastError("fdatasync", null);
        }
    }

    public override void FsyncDirectory(string path)
    {
        int fd = OpenPath(path, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC);
        if (fd < 0)
        {
            throw LastError("open", path);
        }

        try
        {
            if (Syscall.fsync(fd) != 0)
            {
                throw LastError("fsync", path);
            }
        }
        finally
        {
            // A read-only descriptor: the fsync result above is what counts, close cannot lose data.
            _ = Syscall.close(fd);
        }
    }

    public override void SetLength(SafeFileHandle handle, long length)
    {
        using var lease = new FdLease(handle);
        if (Syscall.ftruncate(lease.Value, length) != 0)
        {
            throw LastError("ftruncate", null);
        }
    }

    public override void Rename(string from, string to)
    {
        if (RenamePath(from, to) != 0)
        {
            throw LastError("rename", from + " -> " + to);
        }
    }

    public override bool RenameNoReplace(string from, string to)
    {
        if (OperatingSystem.IsLinux() && !s_renameat2Unsupported)
        {
            int rc;
            try
            {
                rc = renameat2(AtFdCwd, from, AtFdCwd, to, RenameNoReplaceFlag);
            }
            catch (EntryPointNotFoundException)
            {
                // A libc older than glibc 2.28 or a musl without the wrapper.
                s_renameat2Unsupported = true;
                return LinkThenUnlink(from, to);
            }

            if (rc == 0)
            {
                return true;
            }

            int errno = FromRaw(Marshal.GetLastPInvokeError());
            if (errno == ErrorNumbers.EEXIST)
            {
                return false;
            }

            // File systems without RENAME_NOREPLACE support answer EINVAL; old kernels ENOSYS.
            if (errno is not (ErrorNumbers.EINVAL or ErrorNumbers.ENOSYS or ErrorNumbers.EOPNOTSUPP))
            {
                throw new SystemCallException("renameat2", from + " -> " + to, errno, ErrorNumbers.Name(errno));
            }
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsIOS())
        {
            if (renamex_np(from, to, RenameExclFlag) == 0)
            {
                return true;
            }

            int errno = FromRaw(Marshal.GetLastPInvokeError());
            if (errno == ErrorNumbers.EEXIST)
            {
                return false;
            }

            if (errno is not (ErrorNumbers.EINVAL or ErrorNumbers.ENOSYS or ErrorNumbers.EOPNOTSUPP))
            {
                throw new SystemCallException("renamex_np", from + " -> " + to, errno, ErrorNumbers.Name(errno));
            }
        }

        return LinkThenUnlink(from, to);
    }

    private static bool LinkThenUnlink(string from, string to)
    {
        // link(2) fails with EEXIST when the name is taken: exactly one racer wins, and the name only
        // ever points at the complete, fsynced temp file.
        if (LinkPath(from, to) != 0)
        {
            var errno = Stdlib.GetLastError();
            if (errno == Errno.EEXIST)
            {
                return false;
            }

            throw Error("link", from + " -> " + to, errno);
        }

        // The target is complete and in place; failing to drop the temp name only leaves a second link
        // to the same inode, which must not turn a successful create into a reported failure.
        _ = UnlinkPath(from);
        return true;
    }

    public override void Unlink(string path)
    {
        if (UnlinkPath(path) != 0)
        {
            throw LastError("unlink", path);
        }
    }

    public override bool CreateDirectory(string path)
    {
        if (MakeDirectory(path, FilePermissions.ACCESSPERMS) == 0)
        {
            return true;
        }

        var errno = Stdlib.GetLastError();
        if (errno == Errno.EEXIST && Directory.Exists(path))
        {
            return false;
        }

        throw Error("mkdir", path, errno);
    }

    private static SystemCallException LastError(string call, string? path) => Error(call, path, Stdlib.GetLastError());

    private static SystemCallException Error(string call, string? path, Errno errno) =>
        new(call, path, (int)errno, errno.ToString());

    private static int FromRaw(int raw)
    {
        if (OperatingSystem.IsLinux())
        {
            return raw;
        }

        try
        {
            return (int)NativeConvert.ToErrno(raw);
        }
        catch (DllNotFoundException)
        {
            return raw;
        }
    }

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport("libc", EntryPoint = "renamex_np", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renamex_np(string from, string to, uint flags);

    // F_FULLFSYNC takes no argument, so the two-argument form is safe even under arm64's variadic ABI.
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int FcntlNoArg(int fd, int cmd);
}
