using System.Runtime.CompilerServices;

namespace DataWal.Core;

/// <summary>
/// A read-only view of a log directory (upstream <c>RecordLogReader</c>): takes no lock, creates and
/// changes nothing, and works while a writer — in this or another process — appends. The segment ids are
/// snapshotted at open; the last one tolerates a damaged (possibly still being written) tail, earlier
/// ones are strict. Records appended to snapshotted segments before a pass reaches them are seen.
/// Segments that retention deletes or an online compaction replaces during a pass are survived: a segment
/// being read is finished through its open handle; a snapshotted segment found gone makes the pass re-list and
/// continue from the lowest segment that exists (up to the snapshot's last id), skipping every record whose
/// txid is not above the last one it returned, so no record is returned twice.
/// </summary>
/// <remarks>
/// Thread safety: immutable; any number of threads may enumerate <see cref="ScanIter"/> at once.
/// Opened with <see cref="ReadMode.Salvage"/>, <see cref="ScanIter"/> and <see cref="Replay"/> skip damage instead of
/// throwing and report what they skipped (docs/design.md D16); <see cref="FollowAsync"/> stays strict.
/// </remarks>
public sealed class RecordLogReader
{
    private RecordLogReader(string directory, IReadOnlyList<uint> segments, ReadMode mode)
    {
        Directory = directory;
        Segments = segments;
        Mode = mode;
    }

    /// <summary>The log directory (absolute).</summary>
    public string Directory { get; }

    /// <summary>The segment ids found at open, ascending.</summary>
    public IReadOnlyList<uint> Segments { get; }

    /// <summary>How <see cref="ScanIter"/> and <see cref="Replay"/> treat damage: <see cref="ReadMode.Strict"/> unless opened otherwise.</summary>
    public ReadMode Mode { get; }

    /// <summary>Opens a read-only view in <see cref="ReadMode.Strict"/>; an existing empty directory has zero segments.</summary>
    /// <param name="directory">The log directory, which must exist.</param>
    /// <returns>The reader.</returns>
    /// <exception cref="DataWalException">The path is missing or not a directory.</exception>
    public static RecordLogReader Open(string directory) => Open(directory, ReadMode.Strict);

    /// <summary>
    /// Opens a read-only view; an existing empty directory has zero segments. With <see cref="ReadMode.Salvage"/>, passes
    /// skip damaged ranges, resynchronising at the next intact frame, and report them in
    /// <see cref="RecoveryReport.SkippedRanges"/> (see <see cref="ReadMode.Salvage"/> for what that can and cannot tell).
    /// Nothing is ever written, whatever the mode.
    /// </summary>
    /// <param name="directory">The log directory, which must exist.</param>
    /// <param name="mode">How passes treat damage.</param>
    /// <returns>The reader.</returns>
    /// <exception cref="StoreNotFoundException">The directory does not exist (nothing is created).</exception>
    /// <exception cref="DataWalException">The path is not a directory.</exception>
    public static RecordLogReader Open(string directory, ReadMode mode)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown read mode.");
        }

        string dir = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(dir))
        {
            if (File.Exists(dir))
            {
                ThrowHelper.ThrowReaderDirectoryIsNotADirectory(dir);
            }

            ThrowHelper.ThrowReaderDirectoryMissing(dir);
        }

        return new RecordLogReader(dir, SegmentFiles.List(dir), mode);
    }

    /// <summary>
    /// A fresh lazy pass over the snapshotted segments (repeatable). In <see cref="ReadMode.Salvage"/> it never throws for
    /// damage: its <see cref="RecordIterator.RecoveryReport"/> lists the skipped ranges.
    /// </summary>
    /// <returns>The iterator.</returns>
    public RecordIterator ScanIter() => new(Directory, Segments, -1, LogScanner.DefaultBufferSize, Mode);

    /// <summary>
    /// One pass over the snapshotted segments that hands every valid frame to <paramref name="visitor"/> without
    /// copying it (a projection's way to read a log: the KV key directory is built so), with the same tolerance
    /// as <see cref="ScanIter"/>: a damaged tail of the last segment ends the pass, damage elsewhere throws.
    /// </summary>
    /// <remarks>In <see cref="ReadMode.Salvage"/> every intact frame is visited and damage is reported, never thrown.</remarks>
    /// <param name="visitor">Receives each frame, in log order.</param>
    /// <returns>What the pass found (counts, tail, last txid, and in salvage mode the skipped ranges).</returns>
    /// <exception cref="CorruptRecordException">Strict mode: damage recovery does not tolerate (a sealed segment, or structural).</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // its loop runs once per frame: full speed from the first one
    public RecoveryReport Replay(IFrameVisitor visitor)
    {
        ArgumentNullException.ThrowIfNull(visitor);
        if (Mode == ReadMode.Salvage)
        {
            using var salvage = new SalvageScanner(Directory, Segments);
            while (salvage.MoveNext())
            {
                visitor.Visit(salvage.Frame);
            }

            return salvage.Report;
        }

        using var scanner = new LogScanner(Directory, Segments);
        while (scanner.MoveNext())
        {
            visitor.Visit(scanner.Frame);
        }

        return scanner.Report;
    }

    /// <summary>
    /// Copies every intact record of the snapshotted segments, in log order, into a fresh log in
    /// <paramref name="outDirectory"/> (missing or empty; a non-empty one is refused): a salvage pass whatever
    /// <see cref="Mode"/> is, so damage is skipped and reported, never copied. The new log is strict and opens in
    /// <see cref="RecordLog.Open(string, RecordLogOptions?)"/> and in upstream: whole valid frames, segments
    /// <c>00000001.dwal</c>, … of at most <see cref="RecordLogOptions.DefaultMaxSegmentBytes"/>, fsynced, lock released.
    /// Each record keeps its type, key and payload; it keeps its txid too (its frame copied byte for byte) while
    /// the intact records' txids are strictly increasing, otherwise it gets the previous txid + 1 and the result
    /// counts it in <see cref="LogSalvageResult.RecordsRenumbered"/>. The source is never modified.
    /// </summary>
    /// <param name="outDirectory">A missing or empty directory.</param>
    /// <returns>Counts, and the salvage pass's report with every skipped range.</returns>
    /// <exception cref="DataWalException">The target exists and is not an empty directory, or a read or write failed.</exception>
    public LogSalvageResult SalvageTo(string outDirectory) => LogSalvage.Run(Directory, Segments, outDirectory);

    /// <summary>
    /// <see cref="SalvageTo"/> on the thread pool, with progress: <paramref name="progress"/> hears how many bytes of the
    /// source were scanned every few thousand records, and once more when the new log is fsynced
    /// (<see cref="LogSalvageProgress.BytesScanned"/> = <see cref="LogSalvageProgress.BytesTotal"/>). Reports are made on
    /// the salvaging thread, in order.
    /// </summary>
    /// <param name="outDirectory">A missing or empty directory.</param>
    /// <param name="progress">Receives how far the salvage is, or null.</param>
    /// <param name="cancellationToken">Stops the salvage between records; the target then holds whole frames of a prefix,
    /// not fsynced (delete it). The source is never modified.</param>
    /// <returns>Counts, and the salvage pass's report with every skipped range.</returns>
    /// <exception cref="DataWalException">The target exists and is not an empty directory, or a read or write failed.</exception>
    public Task<LogSalvageResult> SalvageToAsync(string outDirectory, IProgress<LogSalvageProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var segments = Segments;
        return Task.Run(() => LogSalvage.Run(Directory, segments, outDirectory, progress, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Follows the log live: yields every record from <paramref name="position"/> on, then waits for new ones
    /// until cancelled. Crosses rotations into new segments; never yields a torn frame (a half-written tail is
    /// waited on while a writer may still complete it, and a restarted writer's tail cut is followed); survives
    /// writer restarts. A writer in this process wakes the follower at once; one in another process through
    /// file-change notification, with <see cref="FollowOptions.PollInterval"/> as the fallback.
    /// Across retention and online compaction the follower yields records in strictly increasing txid order,
    /// each at most once. A follower that was behind a compaction yields, from the compacted image, every
    /// record with a txid above the last it yielded (the live records of the compacted range); the overwritten
    /// history and the tombstones of the compacted range it had not reached are not yielded, and nothing live
    /// is missed. A start position whose segment was removed throws <see cref="LogHistoryRemovedException"/>
    /// unless <see cref="FollowOptions.StartAtOldestWhenRemoved"/> is set.
    /// </summary>
    /// <param name="position">Where to start (<see cref="FollowPosition.Start"/>, <see cref="FollowPosition.Now"/>, or after/at a record).</param>
    /// <param name="options">Options, or null for the defaults.</param>
    /// <param name="cancellationToken">Ends the follow: the enumeration throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The records, in log order, without end.</returns>
    /// <exception cref="CorruptRecordException">Damage that recovery would not tolerate either (a sealed segment, or structural).</exception>
    /// <exception cref="LogHistoryRemovedException">The position's segment no longer exists (and <see cref="FollowOptions.StartAtOldestWhenRemoved"/> is off).</exception>
    /// <exception cref="DataWalException">The position does not name a record, or the segment being written shrank below the position already yielded.</exception>
    public IAsyncEnumerable<Record> FollowAsync(FollowPosition position, FollowOptions? options = null, CancellationToken cancellationToken = default)
    {
        // FollowOptions validates its values when built; only the position can still be out of range.
        options ??= new FollowOptions();
        if (!Enum.IsDefined(position.Kind))
        {
            throw new ArgumentOutOfRangeException(nameof(position), position.Kind, "Unknown follow position kind.");
        }

        return LogFollower.RunAsync(Directory, position, options, cancellationToken);
    }
}
