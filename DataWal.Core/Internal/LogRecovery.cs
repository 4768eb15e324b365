using System.Diagnostics;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// A writer open, up to the point where appends may start: the directory (created durably), the writer lock,
/// the first segment of a new log, one streaming recovery pass that also feeds a projection, and the cut of a
/// damaged tail. What it returns belongs to the caller, which must dispose the lock and the handle.
/// </summary>
internal static class LogRecovery
{
    /// <summary>What a writer open recovered: the held lock, the active segment (read-write) and where it ends.</summary>
    internal readonly record struct Recovered(DirectoryLock Lock, SafeFileHandle Active, uint ActiveId, long ActiveEnd, RecoveryReport Report);

    /// <summary>Recovers the log in <paramref name="directory"/> (a full path) as its writer.</summary>
    /// <exception cref="StoreLockedException">Another writer holds the directory.</exception>
    /// <exception cref="CorruptRecordException">Damage recovery does not tolerate (a sealed segment, or structural).</exception>
    /// <exception cref="DataWalException">A file-system step failed.</exception>
    public static Recovered Run(string directory, RecordLogOptions options, IFrameVisitor? visitor)
    {
        try
        {
            AtomicFile.CreateDirectories(directory);
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.CreateLogDirectoryFailed(directory, e);
        }

        var directoryLock = DirectoryLock.Acquire(directory);
        long started = Stopwatch.GetTimestamp();
        SafeFileHandle? active = null;
        try
        {
            // A compaction image left by a crash before its rename was never part of the log (docs/design.md D15).
            FileSync.Delete(Path.Combine(directory, SegmentCompaction.TempFileName));
            var segments = SegmentFiles.List(directory);
            if (segments.Count == 0)
            {
                // Normally 1; past any planted non-regular entry with a segment name, which is never opened.
                uint first = SegmentFiles.NextId(SegmentFiles.ListNames(directory));
                active = SegmentFiles.Create(directory, first);
                FileSync.FsyncDirectory(directory);
                segments = [first];
            }

            RecoveryReport report;
            long logicalEnd;
            using (var scanner = new LogScanner(directory, segments, -1, options.ReadBufferSize))
            {
                while (scanner.MoveNext())
                {
                    visitor?.Visit(scanner.Frame);
                }

                report = scanner.Report;
                logicalEnd = scanner.LastSegmentEnd;
            }

            uint activeId = segments[^1];
            active ??= FileSync.OpenRegular(SegmentFiles.PathFor(directory, activeId), FileAccess.ReadWrite);
            if (report.TailTruncated > 0)
            {
                // No silent loss after a damaged tail (docs/design.md D6): cut it so new frames follow the last
                // valid one, and make the cut durable before anything is appended after it.
                FileSync.SetLength(active, logicalEnd);
                FileSync.Fsync(active);
                report = report with { TailCut = true };
            }

            LogTelemetry.Recovered(directory, report, Stopwatch.GetElapsedTime(started), report.TailCut ? report.TailBytesDiscarded : 0);
            return new Recovered(directoryLock, active, activeId, logicalEnd, report);
        }
        catch (SafeAtomicException e)
        {
            active?.Dispose();
            directoryLock.Dispose();
            throw ThrowHelper.OpenRecordLogFailed(directory, e);
        }
        catch
        {
            active?.Dispose();
            directoryLock.Dispose();
            throw;
        }
    }
}
