using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using DataWal.Core;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Kv;

/// <summary>
/// One segment file as <see cref="ReadHandlePool"/> holds it: a read-only memory mapping of a sealed segment, or an
/// open handle read with pread (the active segment, or any segment where mapping is off). Reference-counted: the
/// pool holds one reference while the segment is cached, each read holds one for its duration, and the mapping is
/// unmapped (or the handle closed) only when the last goes — so an eviction, a compaction's invalidation or a
/// Dispose never pulls the bytes from under a read in progress.
/// </summary>
/// <remarks>
/// Why a mapping is safe here: a sealed segment is never written again (docs/design.md D17), a compaction replaces
/// it by renaming a new file over it and deletes it by unlinking, and on Linux both leave a mapping of the old
/// file intact. The one thing that faults a mapping is the file shrinking under it; the active segment (whose tail
/// recovery may cut) is therefore never mapped. Every read is bounds-checked against the length mapped, so a file
/// that was already short when it was mapped reads as a short read, exactly like pread.
/// </remarks>
internal sealed unsafe partial class MappedSegment
{
    private const int ProtRead = 0x1;
    private const int MapShared = 0x1;

    private readonly SafeFileHandle? _handle;
    private readonly byte* _base;
    private readonly long _length;
    private int _references = 1;   // the creator's; 0 = released, never reused

    private MappedSegment(uint segment, SafeFileHandle? handle, byte* mapped, long length)
    {
        Segment = segment;
        _handle = handle;
        _base = mapped;
        _length = length;
    }

    /// <summary>True where mapping sealed segments is supported: 64-bit Linux (elsewhere every read is a pread).</summary>
    /// <remarks>Not Windows: a mapped file there cannot be renamed over or deleted, which a compaction does.</remarks>
    public static bool Supported { get; } = OperatingSystem.IsLinux() && Environment.Is64BitProcess;

    /// <summary>The segment id.</summary>
    public uint Segment { get; }

    /// <summary>True when reads come from a memory mapping, false when they are preads.</summary>
    public bool IsMapped => _handle is null;

    /// <summary>Set by a hit, cleared by the pool's clock hand: a segment read since the hand last passed is kept.</summary>
    public bool Recent;

    /// <summary>Opens the segment for pread.</summary>
    public static MappedSegment OpenForPread(uint segment, string path) => new(segment, Open(path), null, 0);

    /// <summary>
    /// Maps the whole segment read-only as it is now, closing the descriptor at once (the mapping keeps the file).
    /// Where the system refuses the mapping (address space limits, a file system without mmap), the segment is read
    /// with pread instead: a mapping is only ever a faster way to the same bytes.
    /// </summary>
    public static MappedSegment Map(uint segment, string path)
    {
        var handle = Open(path);
        try
        {
            long length;
            try
            {
                length = FileSync.GetLength(handle);
            }
            catch (SafeAtomicException e)
            {
                throw ThrowHelper.OpenSegmentFailed(path, e);
            }

            if (length == 0)
            {
                handle.Dispose();
                return new MappedSegment(segment, null, null, 0);   // mmap refuses length 0; every read is short
            }

            void* mapped = mmap(null, (nuint)length, ProtRead, MapShared, (int)handle.DangerousGetHandle(), 0);
            if (mapped == (void*)-1)
            {
                return new MappedSegment(segment, handle, null, 0);
            }

            handle.Dispose();
            return new MappedSegment(segment, null, (byte*)mapped, length);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Takes a reference for a read; false when the segment was already released (look it up again).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryAcquire()
    {
        int current = Volatile.Read(ref _references);
        while (current > 0)
        {
            int seen = Interlocked.CompareExchange(ref _references, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    /// <summary>Drops a reference; the last one unmaps the segment or closes its handle.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            if (_handle is not null)
            {
                _handle.Dispose();
            }
            else if (_base is not null)
            {
                _ = munmap(_base, (nuint)_length);
            }
        }
    }

    /// <summary>
    /// Copies the bytes at <paramref name="offset"/> into <paramref name="destination"/>; returns how many there were
    /// (fewer at the end of the file, as pread). The caller holds a reference.
    /// </summary>
    /// <exception cref="DataWalException">The pread failed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int ReadAt(string directory, long offset, Span<byte> destination)
    {
        if (_handle is not null)
        {
            try
            {
                return FileSync.Read(_handle, destination, offset);
            }
            catch (SafeAtomicException e)
            {
                // A failed read is an error naming the segment, never a shorter value or a miss.
                throw ThrowHelper.ReadSegmentFailed(SegmentFiles.PathFor(directory, Segment), offset, e);
            }
        }

        // Checked before any byte is touched: an offset or length past what was mapped reads as the short read it is.
        if ((ulong)offset >= (ulong)_length)
        {
            return 0;
        }

        int count = (int)Math.Min(destination.Length, _length - offset);
        new ReadOnlySpan<byte>(_base + offset, count).CopyTo(destination);
        return count;
    }

    /// <summary>
    /// Asks the CPU to start loading the bytes at <paramref name="offset"/> (no effect on a pread segment or off x86).
    /// Bulk readers that know their next locations (export, CompactTo) hide the cache and TLB misses of random frames
    /// this way. Needs no reference: a prefetch never faults, even if the mapping is gone meanwhile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(long offset, int length)
    {
        if (_base is null || !CpuPrefetch.Supported || (ulong)offset >= (ulong)_length)
        {
            return;
        }

        long end = Math.Min(_length, offset + length);
        for (long at = offset; at < end; at += 64)
        {
            CpuPrefetch.Line(_base + at);
        }
    }

    private static SafeFileHandle Open(string path)
    {
        try
        {
            return FileSync.OpenRegular(path, FileAccess.Read);
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.OpenSegmentFailed(path, e);
        }
    }

    [LibraryImport("libc", EntryPoint = "mmap")]
    private static partial void* mmap(void* address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int munmap(void* address, nuint length);

}
