using System.Runtime.CompilerServices;
using DataWal.Core;

namespace DataWal.Kv;

/// <summary>
/// A read view of a <see cref="KvStore"/>'s log: its state, scans and live follow. It never hands out a
/// writable log: a record appended behind the store's back would be invisible to its key directory, so every
/// write goes through the store (<see cref="KvStore.Put(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>, <see cref="KvStore.Delete(ReadOnlySpan{byte})"/>, <see cref="KvStore.Apply"/>,
/// <see cref="KvStore.Rotate"/>).
/// </summary>
/// <remarks>Thread safety: every member may be called from several threads at once.</remarks>
public sealed class KvLogView
{
    private readonly RecordLog? _writer;
    private RecoveryReport _openReport;   // what the store's open found, writer or read-only (or its last reload)
    private uint _readOnlyLastSegment;
    private IReadOnlyList<uint> _readOnlySegments = [];
    private long _lowestLength = -1;

    internal KvLogView(string directory, RecordLog writer)
    {
        Directory = directory;
        _writer = writer;
        _openReport = writer.RecoveryReport;
    }

    internal KvLogView(string directory, RecoveryReport report, IReadOnlyList<uint> segments, ReadMode mode)
    {
        Directory = directory;
        Mode = mode;
        _openReport = report;
        _readOnlySegments = segments;
        _readOnlyLastSegment = segments.Count > 0 ? segments[^1] : 0;
        _lowestLength = segments.Count > 0 ? SegmentLength(segments[0]) : -1;
    }

    /// <summary>Read-only: whether a segment the store was read from is gone or replaced (a writer elsewhere compacted).</summary>
    internal bool SegmentsChanged()
    {
        var then = Volatile.Read(ref _readOnlySegments);
        var now = new HashSet<uint>(SegmentFiles.List(Directory));
        foreach (uint id in then)
        {
            if (!now.Contains(id))
            {
                return true;
            }
        }

        // A compaction replaces the lowest sealed segment in place (same name): its length tells, as sealed segments
        // never change otherwise (docs/design.md D17).
        return then.Count > 1 && SegmentLength(then[0]) != _lowestLength;
    }

    private long SegmentLength(uint id)
    {
        try
        {
            return new FileInfo(SegmentFiles.PathFor(Directory, id)).Length;
        }
        catch (IOException)
        {
            return -1;
        }
    }

    /// <summary>Read-only: the store read the log again.</summary>
    internal void Reloaded(RecoveryReport report, IReadOnlyList<uint> segments)
    {
        _openReport = report;
        _readOnlyLastSegment = segments.Count > 0 ? segments[^1] : 0;
        _lowestLength = segments.Count > 0 ? SegmentLength(segments[0]) : -1;
        Volatile.Write(ref _readOnlySegments, segments);
    }

    /// <summary>The log directory (absolute): the store's directory.</summary>
    public string Directory { get; }

    /// <summary>How the store read its log at open, and how <see cref="ScanIter"/> reads it (<see cref="ReadMode.Salvage"/> only for a read-only salvage view).</summary>
    public ReadMode Mode { get; }

    /// <summary>What opening the store found: the writer's recovery report, or the read-only pass's.</summary>
    public RecoveryReport RecoveryReport => _openReport;

    /// <summary>The segment appends go to; for a read-only store, the highest segment found at open (0 when none).</summary>
    public uint ActiveSegment => _writer?.ActiveSegment ?? _readOnlyLastSegment;

    /// <summary>
    /// The txid the next write will get (0 once txids are used up); for a read-only store, the one after the last
    /// txid found at open.
    /// </summary>
    public ulong NextTxId => _writer?.NextTxId ?? unchecked(_openReport.LastTxIdSeen + 1);

    /// <summary>True after a failed write, fsync or rotation of the store: writes are refused until a reopen. Always false read-only.</summary>
    public bool IsPoisoned => _writer?.IsPoisoned ?? false;

    /// <summary>How many data fsyncs the store's writer has issued (0 read-only).</summary>
    public long FsyncCount => _writer?.FsyncCount ?? 0;

    /// <summary>The durability policy of the store's writer (<see cref="DurabilityMode.Manual"/> read-only: nothing is written).</summary>
    public DurabilityMode Durability => _writer?.Durability ?? DurabilityMode.Manual;

    /// <summary>
    /// A lazy pass over every record of the log (puts, deletes and any raw records), holding one at a time. For a
    /// writer's store: the records committed when this is called; read-only: the segments present now, read in <see cref="Mode"/>.
    /// </summary>
    /// <returns>The iterator.</returns>
    public RecordIterator ScanIter() => _writer?.ScanIter() ?? RecordLogReader.Open(Directory, Mode).ScanIter();

    /// <summary>Every record of the log, in log order (see <see cref="ScanIter"/>); prefer that for large logs.</summary>
    /// <returns>The records.</returns>
    public IReadOnlyList<Record> Scan() => [.. ScanIter()];

    /// <summary>Reads every record lazily and asynchronously (see <see cref="ScanIter"/>).</summary>
    /// <param name="cancellationToken">Stops the enumeration.</param>
    /// <returns>The records, in log order.</returns>
    public async IAsyncEnumerable<Record> ScanAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.Yield();
        int sinceYield = 0;
        foreach (var record in ScanIter())
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return record;
            if (++sinceYield == 4096)
            {
                sinceYield = 0;
                await Task.Yield();
            }
        }
    }

    /// <summary>
    /// Follows the log live: every record from <paramref name="position"/> on, then new ones as they are written,
    /// until cancelled (see <see cref="RecordLogReader.FollowAsync"/>, whose guarantees hold).
    /// <see cref="KvStore.FollowChangesAsync"/> gives only the puts and deletes.
    /// </summary>
    /// <param name="position">Where to start.</param>
    /// <param name="options">Options, or null for the defaults.</param>
    /// <param name="cancellationToken">Ends the follow.</param>
    /// <returns>The records, in log order, without end.</returns>
    public IAsyncEnumerable<Record> FollowAsync(FollowPosition position, FollowOptions? options = null, CancellationToken cancellationToken = default) =>
        RecordLogReader.Open(Directory).FollowAsync(position, options, cancellationToken);
}
