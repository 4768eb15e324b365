using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// The live-follow engine behind <see cref="RecordLogReader.FollowAsync"/>: reads one segment at a time
/// from a frame boundary, yields each whole valid frame, and when the data runs out either moves to the
/// next segment (once one exists, the current one is sealed and is re-read strictly) or sleeps on the
/// directory's <see cref="LogSignal"/>.
/// </summary>
/// <remarks>
/// A damaged remainder of the segment being written is never yielded and never reported: it is either a
/// frame still being written, which a later pass reads whole, or a crashed writer's torn tail, which the
/// next writer open cuts (decision 6) before appending at the same offset. Both end in valid frames here.
/// </remarks>
internal static class LogFollower
{
    private const int RecordsPerYield = 4096;
    private static readonly TimeSpan StructuralRecheckDelay = TimeSpan.FromMilliseconds(20);

    /// <summary>MoveNext, returning corruption instead of throwing it (an iterator cannot yield inside a catch).</summary>
    private static bool TryMoveNext(FollowReader scanner, out CorruptRecordException? damage)
    {
        damage = null;
        try
        {
            return scanner.MoveNext();
        }
        catch (CorruptRecordException e) when (e.Kind == CorruptionKind.Structural)
        {
            damage = e;
            return false;
        }
    }

    public static async IAsyncEnumerable<Record> RunAsync(string directory, FollowPosition position, FollowOptions options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Registered before the first look at the files: any write after that look moves the signal.
        var signal = LogSignal.Acquire(directory);
        signal.AddFollower(options.WatchFileSystem);
        FollowReader? scanner = null;
        SafeFileHandle? syncHandle = null;
        try
        {
            uint segment;
            long offset;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                long version = signal.Version;
                if (TryResolve(directory, position, signal, options.ReadBufferSize, out segment, out offset))
                {
                    break;
                }

                // No segment yet: whatever is written from now on is new, so Now means the very start.
                position = position.Kind == FollowPositionKind.Now ? FollowPosition.Start : position;

                await signal.WaitAsync(version, options.PollInterval, cancellationToken).ConfigureAwait(false);   // no segment yet
            }

            scanner = new FollowReader(directory, segment, offset, options.ReadBufferSize);
            int sinceYield = 0;
            long suspect = -1;   // offset of structural damage seen once, awaiting a second look
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                long version = signal.Version;
                long bound = options.DurableOnly ? DurableBound(directory, signal, segment, offset, sealedSegment: false, ref syncHandle) : -1;
                scanner.Resume(offset, bound, sealedSegment: false);
                bool any = false;
                bool recheck = false;
                while (true)
                {
                    if (!TryMoveNext(scanner, out var damage))
                    {
                        if (damage is null)
                        {
                            break;
                        }

                        // Structural damage where a writer may be cutting a torn tail and appending at the same
                        // offset could, in theory, be a read racing both; it is damage only if it is still there.
                        if (suspect != (long)damage.Offset)
                        {
                            suspect = (long)damage.Offset;
                            recheck = true;
                            break;
                        }

                        ExceptionDispatchInfo.Throw(damage);
                    }

                    any = true;
                    suspect = -1;
                    offset = scanner.Offset + scanner.Length;
                    yield return scanner.ToRecord();
                    cancellationToken.ThrowIfCancellationRequested();
                    if (++sinceYield == RecordsPerYield)
                    {
                        sinceYield = 0;
                        await Task.Yield();   // a long catch-up must not starve the caller's scheduler
                    }
                }

                if (recheck)
                {
                    await Task.Delay(StructuralRecheckDelay, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                offset = scanner.End;
                if (any)
                {
                    continue;   // more may have arrived meanwhile: look again before sleeping
                }

                if (NextSegment(directory, segment, signal) is uint next)
                {
                    // Writers never append to a segment once a newer one exists: this one is sealed, so what
                    // is left in it must be whole frames (recovery's rule for non-tail segments).
                    long sealedBound = options.DurableOnly ? DurableBound(directory, signal, segment, offset, sealedSegment: true, ref syncHandle) : -1;
                    if (sealedBound < 0)
                    {
                        scanner.Resume(offset, -1, sealedSegment: true);
                        while (scanner.MoveNext())
                        {
                            offset = scanner.Offset + scanner.Length;
                            yield return scanner.ToRecord();
                            cancellationToken.ThrowIfCancellationRequested();
                        }

                        scanner.Dispose();
                        scanner = null;
                        syncHandle?.Dispose();
                        syncHandle = null;
                        segment = next;
                        offset = 0;
                        scanner = new FollowReader(directory, segment, 0, options.ReadBufferSize);
                        continue;
                    }
                }

                // Reopen by path after the sleep: the file could be replaced meanwhile (a restore), and a kept
                // handle would go on reading the old one.
                scanner.CloseHandle();
                syncHandle?.Dispose();
                syncHandle = null;
                await signal.WaitAsync(version, options.PollInterval, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            scanner?.Dispose();
            syncHandle?.Dispose();
            signal.RemoveFollower(options.WatchFileSystem);
            signal.Release();
        }
    }

    /// <summary>Where to begin; false while the directory has no segment yet.</summary>
    private static bool TryResolve(string directory, FollowPosition position, LogSignal signal, int bufferSize, out uint segment, out long offset)
    {
        segment = 0;
        offset = 0;
        switch (position.Kind)
        {
            case FollowPositionKind.After:
            case FollowPositionKind.At:
                var at = position.Record;
                CheckNamesRecord(directory, position, bufferSize);
                segment = at.Segment;
                offset = position.Kind == FollowPositionKind.At ? (long)at.Offset : (long)at.Offset + at.Length;
                return true;
            case FollowPositionKind.Now when signal.Writer is { } writer && writer.TryGetFollowState(out var written, out _):
                (segment, offset) = written;
                return true;
        }

        var segments = SegmentFiles.List(directory);
        if (segments.Count == 0)
        {
            return false;   // anything written from now on goes to the first segment, from its start
        }

        if (position.Kind == FollowPositionKind.Start)
        {
            segment = segments[0];
            return true;
        }

        // Now, with no writer in this process: the end of the last valid frame of the last segment. A frame
        // being written there is not complete yet, so it counts as new.
        segment = segments[^1];
        using var scanner = new FollowReader(directory, segment, 0, bufferSize);
        while (scanner.MoveNext())
        {
        }

        offset = scanner.End;
        return true;
    }

    private static void CheckNamesRecord(string directory, FollowPosition position, int bufferSize)
    {
        var at = position.Record;
        bool found;
        try
        {
            using var scanner = new FollowReader(directory, at.Segment, checked((long)at.Offset), bufferSize);
            found = scanner.MoveNext() && scanner.Offset == (long)at.Offset && scanner.Length == at.Length;
        }
        catch (Exception e) when (e is DataWalException or OverflowException)
        {
            throw NotARecord(directory, position, e);
        }

        if (!found)
        {
            throw NotARecord(directory, position, null);
        }
    }

    private static DataWalException NotARecord(string directory, FollowPosition position, Exception? inner) =>
        new($"datawal: follow position {position} does not name a whole record in {directory}", inner);

    /// <summary>The id of the segment after <paramref name="segment"/>, if one exists now.</summary>
    private static uint? NextSegment(string directory, uint segment, LogSignal signal)
    {
        if (signal.Writer is { } writer && writer.TryGetFollowState(out var written, out _) && written.Segment == segment)
        {
            return null;   // the only writer is still appending to this segment
        }

        if (segment < SegmentFiles.MaxId && SegmentFiles.Exists(directory, segment + 1))
        {
            return segment + 1;
        }

        // Not the next id: the full discovery (a single listing could miss a segment created during it and
        // show a later one, and jumping there would skip a whole segment for good).
        foreach (uint id in SegmentFiles.List(directory))
        {
            if (id > segment)
            {
                return id;
            }
        }

        return null;
    }

    /// <summary>
    /// For <see cref="FollowOptions.DurableOnly"/>: how far <paramref name="segment"/> may be read, -1 when all
    /// of it is durable. A writer in this process says what its fsyncs covered. Otherwise nobody can tell,
    /// so the follower fsyncs the segment itself (a read-only handle suffices) before reading what it covers.
    /// </summary>
    private static long DurableBound(string directory, LogSignal signal, uint segment, long offset, bool sealedSegment, ref SafeFileHandle? syncHandle)
    {
        if (signal.Writer is { } writer && writer.TryGetFollowState(out _, out var durable))
        {
            if (segment < durable.Segment)
            {
                return -1;
            }

            return segment == durable.Segment ? durable.End : 0;
        }

        string path = SegmentFiles.PathFor(directory, segment);
        try
        {
            syncHandle ??= FileSync.OpenRegular(path, FileAccess.Read);
            long length = FileSync.GetLength(syncHandle);
            if (length > offset)
            {
                FileSync.FsyncData(syncHandle);
            }

            return sealedSegment ? -1 : length;
        }
        catch (SafeAtomicException e)
        {
            throw new DataWalException($"datawal: follow: fsync segment {path}: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataWalException($"datawal: follow: open segment {path}: {e.Message}", e);
        }
    }
}
