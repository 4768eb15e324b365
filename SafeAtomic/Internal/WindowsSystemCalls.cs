using System.ComponentModel;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SafeAtomic.Internal;

/// <summary>
/// Windows: FlushFileBuffers for fsync, MoveFileEx with write-through for renames (never with
/// MOVEFILE_COPY_ALLOWED, so a cross-volume move fails instead of copying). Directory fsync is a
/// documented no-op: Windows has no supported way to flush a directory; NTFS journals metadata.
/// </summary>
internal sealed partial class WindowsSystemCalls : SystemCalls
{
    private const uint MovefileReplaceExisting = 0x1;
    private const uint MovefileWriteThrough = 0x8;
    private const int ErrorFileExists = 80;
    private const int ErrorAlreadyExists = 183;
    private const int ErrorNotSameDevice = 17;

    public override SafeFileHandle Open(string path, FileMode mode, FileAccess access, FileShare share, UnixFileMode? createMode)
    {
        try
        {
            return File.OpenHandle(path, mode, access, share | FileShare.Delete);
        }
        catch (IOException e)
        {
            throw Translate("CreateFile", path, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw Translate("CreateFile", path, e);
        }
    }

    public override SafeFileHandle OpenAppend(string path, out bool created)
    {
        try
        {
            var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            created = true;
            return handle;
        }
        catch (IOException) when (File.Exists(path))
        {
            created = false;
            return Open(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, null);
        }
    }

    public override int Write(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset)
    {
        try
        {
            long at = offset >= 0 ? offset : RandomAccess.GetLength(handle);
            RandomAccess.Write(handle, data, at);
            return data.Length;
        }
        catch (IOException e)
        {
            throw Translate("WriteFile", null, e);
        }
    }

    public override void Fsync(SafeFileHandle handle)
    {
        if (!FlushFileBuffers(handle))
        {
            int error = Marshal.GetLastPInvokeError();
            throw new SystemCallException("FlushFileBuffers", null, error, new Win32Exception(error).Message);
        }
    }

    public override void FsyncData(SafeFileHandle handle) => Fsync(handle);

    public override void FsyncDirectory(string path)
    {
        if (!Directory.Exists(path))
        {
            throw new SystemCallException("FsyncDirectory", path, 3, "ERROR_PATH_NOT_FOUND");
        }
    }

    public override void SetLength(SafeFileHandle handle, long length)
    {
        try
        {
            RandomAccess.SetLength(handle, length);
        }
        catch (IOException e)
        {
            throw Translate("SetEndOfFile", null, e);
        }
    }

    public override void Rename(string from, string to)
    {
        if (!MoveFileExW(from, to, MovefileReplaceExisting | MovefileWriteThrough))
        {
            int error = Marshal.GetLastPInvokeError();
            throw MoveError(from, to, error);
        }
    }

    public override bool RenameNoReplace(string from, string to)
    {
        if (MoveFileExW(from, to, MovefileWriteThrough))
        {
            return true;
        }

        int error = Marshal.GetLastPInvokeError();
        if (error is ErrorFileExists or ErrorAlreadyExists)
        {
            return false;
        }

        throw MoveError(from, to, error);
    }

    public override void Unlink(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException e)
        {
            throw Translate("DeleteFile", path, e);
        }
    }

    public override bool CreateDirectory(string path)
    {
        if (Directory.Exists(path))
        {
            return false;
        }

        try
        {
            Directory.CreateDirectory(path);
            return true;
        }
        catch (IOException e)
        {
            throw Translate("CreateDirectory", path, e);
        }
    }

    private static SystemCallException MoveError(string from, string to, int error) =>
        error == ErrorNotSameDevice
            ? new SystemCallException("MoveFileEx", from + " -> " + to, ErrorNumbers.EXDEV, "EXDEV")
            : new SystemCallException("MoveFileEx", from + " -> " + to, error, new Win32Exception(error).Message);

    public override SafeFileHandle OpenRegular(string path, FileAccess access, bool create, UnixFileMode? createMode)
    {
        var kind = GetFileKind(path);
        if (kind is not (FileKind.Regular or FileKind.Missing))
        {
            throw new NotRegularFileException(path, kind);
        }

        return Open(path, create ? FileMode.OpenOrCreate : FileMode.Open, access, FileShare.ReadWrite, createMode);
    }

    public override int Read(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        try
        {
            return RandomAccess.Read(handle, buffer, offset);
        }
        catch (IOException e)
        {
            throw Translate("ReadFile", null, e);
        }
    }

    public override long GetLength(SafeFileHandle handle)
    {
        try
        {
            return RandomAccess.GetLength(handle);
        }
        catch (IOException e)
        {
            throw Translate("GetFileInformationByHandle", null, e);
        }
    }

    public override FileKind GetFileKind(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists && !System.IO.Directory.Exists(path))
        {
            return info.LinkTarget is null ? FileKind.Missing : FileKind.SymbolicLink;
        }

        return KindOf(info.Attributes);
    }

    // No inode numbers without an extra open per path (which would follow reparse points): FileIdentity
    // documents Unknown as "cannot tell", which disables the replaced-file check instead of faking one.
    public override FileIdentity GetIdentity(SafeFileHandle handle) => FileIdentity.Unknown;

    public override FileIdentity? GetIdentity(string path) =>
        GetFileKind(path) == FileKind.Missing ? null : FileIdentity.Unknown;

    public override UnixFileMode? RegularFilePermissions(string path) => null;   // no Unix modes to keep

    private static FileKind KindOf(FileAttributes attributes) =>
        (attributes & FileAttributes.ReparsePoint) != 0 ? FileKind.SymbolicLink
        : (attributes & FileAttributes.Directory) != 0 ? FileKind.Directory
        : (attributes & FileAttributes.Device) != 0 ? FileKind.CharacterDevice
        : FileKind.Regular;

    public override IReadOnlyList<DirectoryEntry> ReadDirectory(string path)
    {
        try
        {
            var entries = new List<DirectoryEntry>();
            foreach (var info in new DirectoryInfo(path).EnumerateFileSystemInfos())
            {
                entries.Add(new DirectoryEntry(info.Name, KindOf(info.Attributes)));
            }

            return entries;
        }
        catch (IOException e)
        {
            throw Translate("FindFirstFile", path, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw Translate("FindFirstFile", path, e);
        }
    }

    private static SystemCallException Translate(string call, string? path, Exception e) =>
        new(call, path, e.HResult & 0xFFFF, e.Message);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool FlushFileBuffers(SafeFileHandle handle);

    [LibraryImport("kernel32.dll", EntryPoint = "MoveFileExW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool MoveFileExW(string existingFileName, string newFileName, uint flags);
}
