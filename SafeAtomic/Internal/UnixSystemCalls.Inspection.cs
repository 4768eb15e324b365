using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace SafeAtomic.Internal;

/// <summary>
/// The inspecting half of the Unix seam: regular-file opens that never follow a link or block on a FIFO,
/// positional reads, lengths, lstat-based file kinds and modes, and directory listings. No state of its own.
/// </summary>
internal sealed partial class UnixSystemCalls
{
    public override SafeFileHandle OpenRegular(string path, FileAccess access, bool create, UnixFileMode? createMode)
    {
        // Look before opening, so that a device or FIFO is never opened at all (opening some devices has
        // side effects); the handle is checked again after the open, since the entry may be swapped between.
        var before = GetFileKind(path);
        if (before is not (FileKind.Regular or FileKind.Missing))
        {
            throw new NotRegularFileException(path, before);
        }

        OpenFlags flags = access switch
        {
            FileAccess.Read => OpenFlags.O_RDONLY,
            FileAccess.Write => OpenFlags.O_WRONLY,
            _ => OpenFlags.O_RDWR,
        };
        flags |= OpenFlags.O_CLOEXEC | OpenFlags.O_NOFOLLOW | OpenFlags.O_NONBLOCK;
        if (create)
        {
            flags |= OpenFlags.O_CREAT;
        }

        var perms = (FilePermissions)(uint)(createMode ?? DefaultCreateMode);
        int fd = OpenPath(path, flags, perms);
        if (fd < 0)
        {
            var errno = Stdlib.GetLastError();
            // ELOOP (Linux, macOS) or EMLINK (FreeBSD): a link at the last component; ENXIO: a FIFO without a
            // reader; EISDIR: a directory opened for writing. Each means the entry changed kind since the look.
            if (errno is Errno.ELOOP or Errno.EMLINK or Errno.ENXIO or Errno.EISDIR)
            {
                var kind = GetFileKind(path);
                if (kind is not (FileKind.Regular or FileKind.Missing))
                {
                    throw new NotRegularFileException(path, kind);
                }
            }

            throw Error("open", path, errno);
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Syscall.fstat(fd, out var stat) != 0)
        {
            var error = LastError("fstat", path);
            handle.Dispose();
            throw error;
        }

        var opened = KindOf(stat.st_mode);
        if (opened != FileKind.Regular)
        {
            handle.Dispose();
            throw new NotRegularFileException(path, opened);
        }

        return handle;
    }

    public override unsafe int Read(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        using var lease = new FdLease(handle);
        long n;
        fixed (byte* p = buffer)
        {
            n = Syscall.pread(lease.Value, p, (ulong)buffer.Length, offset);
        }

        if (n < 0)
        {
            throw LastError("pread", null);
        }

        return (int)n;
    }

    public override long GetLength(SafeFileHandle handle)
    {
        using var lease = new FdLease(handle);
        if (Syscall.fstat(lease.Value, out var stat) != 0)
        {
            throw LastError("fstat", null);
        }

        return stat.st_size;
    }

    public override FileKind GetFileKind(string path)
    {
        if (PathMode(path, out var mode) == 0)
        {
            return KindOf(mode);
        }

        var errno = Stdlib.GetLastError();
        if (errno is Errno.ENOENT or Errno.ENOTDIR)
        {
            return FileKind.Missing;
        }

        throw Error("lstat", path, errno);
    }

    public override FileIdentity GetIdentity(SafeFileHandle handle)
    {
        using var lease = new FdLease(handle);
        if (Syscall.fstat(lease.Value, out var stat) != 0)
        {
            throw LastError("fstat", null);
        }

        return new FileIdentity(stat.st_dev, stat.st_ino);
    }

    public override FileIdentity? GetIdentity(string path)
    {
        if (Syscall.lstat(path, out var stat) == 0)
        {
            return new FileIdentity(stat.st_dev, stat.st_ino);
        }

        var errno = Stdlib.GetLastError();
        if (errno is Errno.ENOENT or Errno.ENOTDIR)
        {
            return null;
        }

        throw Error("lstat", path, errno);
    }

    public override UnixFileMode? RegularFilePermissions(string path)
    {
        if (PathMode(path, out var mode) != 0 || KindOf(mode) != FileKind.Regular)
        {
            return null;
        }

        return (UnixFileMode)((uint)mode & PermissionBits);
    }

    private const uint PermissionBits = 0x1FF;   // 0777: never set-uid, set-gid or sticky

    public override IReadOnlyList<DirectoryEntry> ReadDirectory(string path)
    {
        IntPtr dir = OpenDirectoryStream(path);
        if (dir == IntPtr.Zero)
        {
            throw LastError("opendir", path);
        }

        try
        {
            var entries = new List<DirectoryEntry>();
            while (true)
            {
                // readdir returns null both at the end and on an error; only errno tells them apart (errno is
                // cleared before the call, and the marshaller captures it right after).
                if (!NextDirectoryEntry(dir, out string name, out byte type))
                {
                    var errno = Stdlib.GetLastError();
                    if (errno != 0)
                    {
                        throw Error("readdir", path, errno);
                    }

                    return entries;
                }

                if (name is "." or "..")
                {
                    continue;
                }

                var kind = type switch
                {
                    DtRegular => FileKind.Regular,
                    DtDirectory => FileKind.Directory,
                    DtLink => FileKind.SymbolicLink,
                    DtFifo => FileKind.Fifo,
                    DtSocket => FileKind.Socket,
                    DtCharacter => FileKind.CharacterDevice,
                    DtBlock => FileKind.BlockDevice,
                    _ => GetFileKind(System.IO.Path.Combine(path, name)),   // DT_UNKNOWN: some file systems do not fill d_type
                };
                entries.Add(new DirectoryEntry(name, kind));
            }
        }
        finally
        {
            // A directory stream is read-only: a failing closedir loses nothing.
            _ = CloseDirectoryStream(dir);
        }
    }

    private const byte DtFifo = 1;
    private const byte DtCharacter = 2;
    private const byte DtDirectory = 4;
    private const byte DtBlock = 6;
    private const byte DtRegular = 8;
    private const byte DtLink = 10;
    private const byte DtSocket = 12;

    private static FileKind KindOf(FilePermissions mode) => (mode & FilePermissions.S_IFMT) switch
    {
        FilePermissions.S_IFREG => FileKind.Regular,
        FilePermissions.S_IFDIR => FileKind.Directory,
        FilePermissions.S_IFLNK => FileKind.SymbolicLink,
        FilePermissions.S_IFIFO => FileKind.Fifo,
        FilePermissions.S_IFSOCK => FileKind.Socket,
        FilePermissions.S_IFCHR => FileKind.CharacterDevice,
        FilePermissions.S_IFBLK => FileKind.BlockDevice,
        _ => FileKind.Other,
    };

    /// <summary>
    /// Holds a reference on a handle for the length of one system call, so a concurrent Dispose (a rotation
    /// closing the segment) cannot close, and the kernel reuse, the descriptor while the call runs.
    /// </summary>
    private readonly ref struct FdLease
    {
        private readonly SafeFileHandle _handle;
        private readonly bool _added;

        public FdLease(SafeFileHandle handle)
        {
            _handle = handle;
            handle.DangerousAddRef(ref _added);
            Value = (int)handle.DangerousGetHandle();
        }

        public int Value { get; }

        public void Dispose()
        {
            if (_added)
            {
                _handle.DangerousRelease();
            }
        }
    }
}
