using System.Diagnostics.CodeAnalysis;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// Throw helpers keep the hot encode/append/decode paths small and inlinable, and hold the stable messages
/// in one place. <c>Throw*</c> methods throw; the others build the exception for a <c>throw</c> at the call
/// site (in a catch block, where the compiler must see that the block ends). Tests and snapshots pin the
/// messages: change none.
/// </summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowKeyTooLarge(long length) => throw new RecordTooLargeException(WireFormat.KeyTooLargeMessage(length));

    [DoesNotReturn]
    public static void ThrowPayloadTooLarge(long length) => throw new RecordTooLargeException(WireFormat.PayloadTooLargeMessage(length));

    [DoesNotReturn]
    public static void ThrowDestinationTooSmall(int needed, int available) =>
        throw new ArgumentException($"The destination holds {available} bytes; the frame needs {needed}.");

    [DoesNotReturn]
    public static void ThrowInvalidFrame(string message) => throw new InvalidFrameException(message);

    [DoesNotReturn]
    public static void ThrowBadMagic(ReadOnlySpan<byte> header) =>
        throw new InvalidFrameException($"datawal: bad magic, expected DWAL, got [{header[0]}, {header[1]}, {header[2]}, {header[3]}]");

    [DoesNotReturn]
    public static void ThrowPoisoned(string reason) => throw new WriterPoisonedException(reason);

    // ---- the log directory

    public static DataWalException CreateLogDirectoryFailed(string directory, SafeAtomicException inner) =>
        FileInTheWay(directory) is string file
            ? new($"datawal: create log directory {directory}: {(file == directory ? "the path" : file)} is a file, not a directory", inner)
            : new($"datawal: create log directory {directory}: {inner.Message}", inner);

    /// <summary>The path itself or its nearest existing ancestor when that is a file (so no directory can be made there).</summary>
    private static string? FileInTheWay(string directory)
    {
        for (string? path = directory; !string.IsNullOrEmpty(path); path = Path.GetDirectoryName(path))
        {
            if (System.IO.Directory.Exists(path))
            {
                return null;
            }

            if (File.Exists(path))
            {
                return path;
            }
        }

        return null;
    }

    public static DataWalException OpenRecordLogFailed(string directory, SafeAtomicException inner) =>
        new($"datawal: open record log {directory}: {inner.Message}", inner);

    public static DataWalException ListLogDirectoryFailed(string directory, SafeAtomicException inner) =>
        new($"datawal: list log directory {directory}: {inner.Message}", inner);

    public static DataWalException FsyncLogDirectoryFailed(string directory, SafeAtomicException inner) =>
        new($"datawal: fsync log directory {directory}: {inner.Message}", inner);

    public static DataWalException OpenLockFileFailed(string path, SafeAtomicException inner) =>
        new($"datawal: open lock file {path}: {inner.Message}", inner);

    [DoesNotReturn]
    public static void ThrowReaderDirectoryIsNotADirectory(string directory) =>
        throw new DataWalException($"datawal: reader dir {directory} is not a directory");

    [DoesNotReturn]
    public static void ThrowReaderDirectoryMissing(string directory) =>
        throw new StoreNotFoundException($"datawal: stat reader dir {directory}: No such file or directory (os error 2); no store there: the directory does not exist (a reader never creates it)", directory);

    // ---- segments

    [DoesNotReturn]
    public static void ThrowSegmentIdOverflow(uint max) =>
        throw new DataWalException($"datawal: segment id overflow: {max} is the last id an 8-digit segment name can hold");

    public static DataWalException CreateSegmentFailed(string path, SafeAtomicException inner) =>
        new($"datawal: create segment {path}: {inner.Message}", inner);

    public static DataWalException DeleteSegmentFailed(string path, int deletedBefore, SafeAtomicException inner) =>
        new($"datawal: delete segment {path} (after deleting {deletedBefore} before it): {inner.Message}", inner);

    public static DataWalException CompactionFailed(string directory, string step, Exception inner) =>
        new($"datawal: compaction of {directory}: {step}: {inner.Message}", inner);

    [DoesNotReturn]
    public static void ThrowCompactionFrameOutOfOrder(ulong txId, ulong previous, ulong lastTxId) =>
        throw new ArgumentException($"datawal: a compaction image takes frames in ascending txid order up to {lastTxId}; got txid {txId} after {previous}");

    [DoesNotReturn]
    public static void ThrowCompactionFrameInvalid(string reason) =>
        throw new ArgumentException($"datawal: a compaction image takes whole valid frames: {reason}");

    [DoesNotReturn]
    public static void ThrowCompactionFinished() =>
        throw new InvalidOperationException("datawal: this compaction was already committed or abandoned");

    public static DataWalException OpenSegmentFailed(string path, SafeAtomicException inner) =>
        new($"datawal: open segment {path}: {inner.Message}", inner);

    public static DataWalException StatSegmentFailed(string path, SafeAtomicException inner) =>
        new($"datawal: stat segment {path}: {inner.Message}", inner);

    public static DataWalException ReadSegmentFailed(string path, long offset, SafeAtomicException inner) =>
        new($"datawal: read segment {path} at offset {offset}: {inner.Message}", inner);

    /// <summary>The append's frames did not all reach the segment (upstream's <c>write_all</c>).</summary>
    public static DataWalException WriteSegmentFailed(string path, SafeAtomicException inner) =>
        new($"datawal: write_all to segment {path}: {inner.Message}", inner);

    public static DataWalException FsyncSegmentFailed(string path, SafeAtomicException inner) =>
        new($"datawal: fsync segment {path}: {inner.Message}", inner);

    /// <summary>A segment is shorter than what a scan or follower already read from it.</summary>
    [DoesNotReturn]
    public static void ThrowSegmentShrank(string path, long length, long offset) =>
        throw new DataWalException($"datawal: segment {path} is {length} bytes, shorter than offset {offset} already read; the log was truncated or replaced");

    /// <summary>A reader re-listed the directory <paramref name="times"/> times in one pass and segments were still vanishing under it.</summary>
    [DoesNotReturn]
    public static void ThrowSegmentsKeepVanishing(string directory, int times) =>
        throw new DataWalException($"datawal: segments of {directory} keep vanishing under the reader (re-listed {times} times in one pass); retention or compaction is outrunning it");

    // ---- following

    [DoesNotReturn]
    public static void ThrowLogHistoryRemoved(string directory, FollowPosition position, uint requested, uint oldest) =>
        throw new LogHistoryRemovedException(
            $"datawal: follow position {position} is in segment {requested}, whose history was removed from {directory} (the oldest segment is now {oldest}); follow from FollowPosition.Start, or set FollowOptions.StartAtOldestWhenRemoved, to begin at the oldest record",
            directory,
            requested,
            oldest);

    public static DataWalException FollowFsyncSegmentFailed(string path, SafeAtomicException inner) =>
        new($"datawal: follow: fsync segment {path}: {inner.Message}", inner);

    /// <param name="path">The segment.</param>
    /// <param name="inner">The <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/> of the open.</param>
    public static DataWalException FollowOpenSegmentFailed(string path, Exception inner) =>
        new($"datawal: follow: open segment {path}: {inner.Message}", inner);
}
