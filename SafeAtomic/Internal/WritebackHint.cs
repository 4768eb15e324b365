using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SafeAtomic.Internal;

/// <summary>
/// Starts the kernel writing a range of a file back to disk without waiting for it (Linux <c>sync_file_range</c>
/// with <c>SYNC_FILE_RANGE_WRITE</c>). Not a durability call: the fsync that follows is what makes the bytes durable
/// and what reports an error, so a failure here is ignored. It only lets the disk work while the writer produces the
/// rest of a large file, so that the final fsync finds little left to write (an export of 190 MB otherwise waited
/// ~0.1 s in its fsync for all of it). Elsewhere it does nothing.
/// </summary>
internal static partial class WritebackHint
{
    /// <summary>How much a writer accumulates before it starts the writeback of what it wrote.</summary>
    public const long Bytes = 8L << 20;

    private const uint SyncFileRangeWrite = 2;

    private static readonly bool s_supported = OperatingSystem.IsLinux() && Environment.Is64BitProcess;
    private static long s_started;

    /// <summary>Writebacks started so far in this process (for tests: the hint cannot be seen from outside).</summary>
    public static long Started => Interlocked.Read(ref s_started);

    /// <summary>Starts writing back <paramref name="length"/> bytes at <paramref name="offset"/>; returns at once.</summary>
    public static void Start(SafeFileHandle handle, long offset, long length)
    {
        if (!s_supported || length <= 0 || handle.IsInvalid || handle.IsClosed)
        {
            return;
        }

        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (sync_file_range((int)handle.DangerousGetHandle(), offset, length, SyncFileRangeWrite) == 0)
            {
                Interlocked.Increment(ref s_started);
            }
        }
        catch (ObjectDisposedException)
        {
            // Closed meanwhile: nothing to hint.
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "sync_file_range")]
    private static partial int sync_file_range(int fd, long offset, long length, uint flags);
}
