using System.Runtime.CompilerServices;

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
/// next writer open cuts (docs/design.md D6) before appending at the same offset. Both end in valid frames here.
/// </remarks>
internal static class LogFollower
{
    private const int RecordsPerYield = 4096;
    private static readonly TimeSpan StructuralRecheckDelay = TimeSpan.FromMilliseconds(20);

    public static async IAsyncEnumerable<Record> RunAsync(string directory, FollowPosition position, FollowOptions options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Registered before the first look at the files: any write after that look moves the signal.
        var signal = LogSignal.Acquire(directory);
        signal.AddFollower(options.WatchFileSystem);
        FollowCursor? cursor = null;
        try
        {
            var (segment, offset, lastTxId) = await LocateAsync(directory, position, options, signal, cancellationToken).ConfigureAwait(false);
            cursor = new FollowCursor(directory, segment, offset, lastTxId, options, signal);
            long version = 0;   // the signal's version when the last tail pass began
            int sinceYield = 0;
            var step = FollowCursor.Step.ReadTail;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                switch (step)
                {
                    case FollowCursor.Step.ReadTail:
                        version = signal.Version;
                        cursor.BeginTailPass();
                        while (cursor.TryReadTail())
                        {
                            yield return cursor.ToRecord();
                            cancellationToken.ThrowIfCancellationRequested();
                            if (++sinceYield == RecordsPerYield)
                            {
                                sinceYield = 0;
                                await Task.Yield();   // a long catch-up must not starve the caller's scheduler
                            }
                        }

                        step = cursor.AfterTailPass();
                        break;

                    case FollowCursor.Step.RecheckDamage:
                        await Task.Delay(StructuralRecheckDelay, cancellationToken).ConfigureAwait(false);
                        step = FollowCursor.Step.ReadTail;
                        break;

                    case FollowCursor.Step.ReadSealed:
                        cursor.BeginSealedPass();
                        bool damaged = false;
                        while (true)
                        {
                            bool more;
                            try
                            {
                                more = cursor.TryReadSealed();
                            }
                            catch (CorruptRecordException) when (options.Mode == ReadMode.Salvage)
                            {
                                more = false;
                                damaged = true;
                            }

                            if (!more)
                            {
                                break;
                            }

                            yield return cursor.ToRecord();
                            cancellationToken.ThrowIfCancellationRequested();
                        }

                        if (damaged)
                        {
                            foreach (var record in cursor.SalvageSealed())
                            {
                                yield return record;
                                cancellationToken.ThrowIfCancellationRequested();
                            }
                        }

                        cursor.MoveToNextSegment();
                        step = FollowCursor.Step.ReadTail;
                        break;

                    case FollowCursor.Step.Resume:
                        cursor.ResumeFromLowest();
                        step = FollowCursor.Step.ReadTail;
                        break;

                    case FollowCursor.Step.Sleep:
                        cursor.ReleaseHandles();
                        await signal.WaitAsync(version, options.PollInterval, cancellationToken).ConfigureAwait(false);
                        step = FollowCursor.Step.ReadTail;
                        break;
                }
            }
        }
        finally
        {
            cursor?.Dispose();
            signal.RemoveFollower(options.WatchFileSystem);
            signal.Release();
        }
    }

    /// <summary>Where to begin: waits while the directory has no segment yet.</summary>
    private static async ValueTask<(uint Segment, long Offset, ulong? LastTxId)> LocateAsync(string directory, FollowPosition position, FollowOptions options, LogSignal signal, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long version = signal.Version;
            if (TryResolve(directory, position, signal, options, out uint segment, out long offset, out ulong? lastTxId))
            {
                return (segment, offset, lastTxId);
            }

            // No segment yet: whatever is written from now on is new, so Now means the very start.
            position = position.Kind == FollowPositionKind.Now ? FollowPosition.Start : position;

            await signal.WaitAsync(version, options.PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Where to begin; false while the directory has no segment yet.</summary>
    private static bool TryResolve(string directory, FollowPosition position, LogSignal signal, FollowOptions options, out uint segment, out long offset, out ulong? lastTxId)
    {
        int bufferSize = options.ReadBufferSize;
        segment = 0;
        offset = 0;
        lastTxId = null;
        switch (position.Kind)
        {
            case FollowPositionKind.After:
            case FollowPositionKind.At:
                var at = position.Record;
                if (RemovedHistory(directory, position, options) is uint oldest)
                {
                    segment = oldest;
                    return true;
                }

                ulong txId = CheckNamesRecord(directory, position, bufferSize);
                segment = at.Segment;
                offset = position.Kind == FollowPositionKind.At ? (long)at.Offset : (long)at.Offset + at.Length;
                lastTxId = position.Kind == FollowPositionKind.After ? txId : txId > 0 ? txId - 1 : null;
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
        using var reader = new FollowReader(directory, segment, 0, bufferSize);
        while (reader.MoveNext())
        {
        }

        offset = reader.End;
        return true;
    }

    /// <summary>
    /// A position in a segment that retention removed or a compaction folded into a lower one: null when the
    /// segment exists (or the log is empty, where the position names nothing); otherwise the oldest segment
    /// to start at with <see cref="FollowOptions.StartAtOldestWhenRemoved"/>, or the typed error.
    /// </summary>
    /// <exception cref="LogHistoryRemovedException">The segment is gone and the option is off.</exception>
    private static uint? RemovedHistory(string directory, FollowPosition position, FollowOptions options)
    {
        uint requested = position.Record.Segment;
        if (SegmentFiles.Exists(directory, requested))
        {
            return null;
        }

        var segments = SegmentFiles.List(directory);
        // Above the newest segment it was never written: that is a position naming no record, not lost history.
        if (segments.Count == 0 || segments.Contains(requested) || requested > segments[^1])
        {
            return null;
        }

        if (!options.StartAtOldestWhenRemoved)
        {
            ThrowHelper.ThrowLogHistoryRemoved(directory, position, requested, segments[0]);
        }

        return segments[0];
    }

    /// <returns>The txid of the record the position names.</returns>
    private static ulong CheckNamesRecord(string directory, FollowPosition position, int bufferSize)
    {
        var at = position.Record;
        bool found;
        ulong txId = 0;
        try
        {
            using var reader = new FollowReader(directory, at.Segment, checked((long)at.Offset), bufferSize);
            found = reader.MoveNext() && reader.Offset == (long)at.Offset && reader.Length == at.Length;
            txId = found ? reader.TxId : 0;
        }
        catch (Exception e) when (e is DataWalException or OverflowException)
        {
            throw NotARecord(directory, position, e);
        }

        if (!found)
        {
            throw NotARecord(directory, position, null);
        }

        return txId;
    }

    private static DataWalException NotARecord(string directory, FollowPosition position, Exception? inner) =>
        new($"datawal: follow position {position} does not name a whole record in {directory}", inner);
}
