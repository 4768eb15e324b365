using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace SafeAtomic.Internal;

/// <summary>
/// The calls of the Unix seam that take a path. On 64-bit Linux they are our own source-generated imports of libc
/// (UTF-8 paths); elsewhere they go through Mono.Posix like the rest of the seam.
/// </summary>
/// <remarks>
/// Why: Mono.Posix marshals every path through a custom marshaler whose first use costs 20–40 ms, paid by every
/// fresh process that opens a store (a CLI command, a short job) before its first byte is read. Calls on
/// descriptors (read, write, fsync, fdatasync, fstat) never marshal a path and stay with Mono.Posix
/// (docs/design.md D3). Errors keep one path: each import sets the thread's last P/Invoke error, which
/// <see cref="Stdlib.GetLastError"/> reads, exactly as after a Mono.Posix call. 64-bit Linux only, because there
/// <c>open</c>'s variadic mode argument is passed like a fixed one, <c>struct dirent</c> has one layout
/// (glibc and musl: d_ino, d_off, d_reclen, d_type, d_name), and <c>statx</c> has one layout everywhere.
/// </remarks>
internal sealed partial class UnixSystemCalls
{
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const uint StatxMode = 0x2;
    private const int StatxModeOffset = 28;
    private const int StatxSize = 256;
    private const int DirentTypeOffset = 18;
    private const int DirentNameOffset = 19;

    private static readonly bool s_ownPathCalls = OperatingSystem.IsLinux() && Environment.Is64BitProcess;
    private static volatile bool s_statxUnsupported;

    private static int OpenPath(string path, OpenFlags flags, FilePermissions mode) =>
        s_ownPathCalls
            ? open(path, NativeConvert.FromOpenFlags(flags), NativeConvert.FromFilePermissions(mode))
            : Syscall.open(path, flags, mode);

    private static int OpenPath(string path, OpenFlags flags) =>
        s_ownPathCalls ? open(path, NativeConvert.FromOpenFlags(flags), 0) : Syscall.open(path, flags);

    private static IntPtr OpenDirectoryStream(string path) => s_ownPathCalls ? opendir(path) : Syscall.opendir(path);

    /// <summary>The next entry of a directory stream: false at the end (or on an error: errno tells, as for readdir).</summary>
    private static unsafe bool NextDirectoryEntry(IntPtr dir, out string name, out byte type)
    {
        if (!s_ownPathCalls)
        {
            var entry = Syscall.readdir(dir);
            name = entry?.d_name ?? string.Empty;
            type = entry?.d_type ?? 0;
            return entry is not null;
        }

        // readdir reports an error only through errno, so clear it first (Mono's wrapper does the same).
        Marshal.SetLastPInvokeError(0);
        byte* entryPointer = readdir(dir);
        if (entryPointer is null)
        {
            name = string.Empty;
            type = 0;
            return false;
        }

        type = entryPointer[DirentTypeOffset];
        name = Marshal.PtrToStringUTF8((IntPtr)(entryPointer + DirentNameOffset)) ?? string.Empty;
        return true;
    }

    private static int CloseDirectoryStream(IntPtr dir) => s_ownPathCalls ? closedir(dir) : Syscall.closedir(dir);

    /// <summary>lstat's st_mode (type and permission bits) of what is at <paramref name="path"/>: 0 on success, else -1 with errno set.</summary>
    private static unsafe int PathMode(string path, out FilePermissions mode)
    {
        if (s_ownPathCalls && !s_statxUnsupported)
        {
            byte* buffer = stackalloc byte[StatxSize];
            int rc;
            try
            {
                rc = statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType | StatxMode, buffer);
            }
            catch (EntryPointNotFoundException)
            {
                s_statxUnsupported = true;   // glibc before 2.28
                return PathMode(path, out mode);
            }

            if (rc != 0 && Marshal.GetLastPInvokeError() == ErrorNumbers.ENOSYS)
            {
                s_statxUnsupported = true;   // a kernel before 4.11
                return PathMode(path, out mode);
            }

            mode = rc == 0 ? NativeConvert.ToFilePermissions(*(ushort*)(buffer + StatxModeOffset)) : 0;
            return rc;
        }

        int result = Syscall.lstat(path, out var stat);
        mode = result == 0 ? stat.st_mode : 0;
        return result;
    }

    private static int MakeDirectory(string path, FilePermissions mode) =>
        s_ownPathCalls ? mkdir(path, NativeConvert.FromFilePermissions(mode)) : Syscall.mkdir(path, mode);

    private static int RenamePath(string from, string to) => s_ownPathCalls ? rename(from, to) : Syscall.rename(from, to);

    private static int LinkPath(string from, string to) => s_ownPathCalls ? link(from, to) : Syscall.link(from, to);

    private static int UnlinkPath(string path) => s_ownPathCalls ? unlink(path) : Syscall.unlink(path);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "opendir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr opendir(string path);

    [LibraryImport("libc", EntryPoint = "readdir", SetLastError = true)]
    private static unsafe partial byte* readdir(IntPtr dir);

    [LibraryImport("libc", EntryPoint = "closedir", SetLastError = true)]
    private static partial int closedir(IntPtr dir);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkdir(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rename(string from, string to);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string from, string to);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlink(string path);
}
