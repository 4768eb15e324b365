using Microsoft.Win32.SafeHandles;
using SafeAtomic.Internal;

namespace TestSupport;

/// <summary>A seam layer that passes every call to the platform: derive from it and override only the calls a test bends.</summary>
internal class PassThroughCalls : SystemCalls
{
    public override SafeFileHandle Open(string path, FileMode mode, FileAccess access, FileShare share, UnixFileMode? createMode) => Platform.Open(path, mode, access, share, createMode);

    public override SafeFileHandle OpenAppend(string path, out bool created) => Platform.OpenAppend(path, out created);

    public override int Write(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset) => Platform.Write(handle, data, offset);

    public override void Fsync(SafeFileHandle handle) => Platform.Fsync(handle);

    public override void FsyncData(SafeFileHandle handle) => Platform.FsyncData(handle);

    public override void FsyncDirectory(string path) => Platform.FsyncDirectory(path);

    public override void SetLength(SafeFileHandle handle, long length) => Platform.SetLength(handle, length);

    public override void Rename(string from, string to) => Platform.Rename(from, to);

    public override bool RenameNoReplace(string from, string to) => Platform.RenameNoReplace(from, to);

    public override void Unlink(string path) => Platform.Unlink(path);

    public override bool CreateDirectory(string path) => Platform.CreateDirectory(path);
}
