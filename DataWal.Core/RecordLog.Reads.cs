using System.Runtime.CompilerServices;

namespace DataWal.Core;

/// <summary>
/// The read surface of a <see cref="RecordLog"/>: scans over what the writer has committed. Readers use their own
/// handles (<see cref="LogScanner"/>) and take the gate only to snapshot where the log ends. No state of its own.
/// </summary>
public sealed partial class RecordLog
{
    /// <summary>
    /// Reads every record into a list and refreshes <see cref="RecoveryReport"/>. Prefer
    /// <see cref="ScanIter"/> for large logs: it holds one record at a time.
    /// </summary>
    /// <returns>The records in log order.</returns>
    /// <exception cref="CorruptRecordException">Damage recovery does not tolerate.</exception>
    public IReadOnlyList<Record> Scan()
    {
        var (segments, bound) = Snapshot();
        var records = new List<Record>();
        using var scanner = new LogScanner(Directory, segments, bound, _options.ReadBufferSize);
        while (scanner.MoveNext())
        {
            records.Add(scanner.ToRecord());
        }

        using (_gate.EnterPriority())
        {
            _report = scanner.Report;
        }

        return records;
    }

    /// <summary>
    /// A lazy pass over the records committed when this is called (segment ids and the active segment's
    /// length are snapshotted), holding one record at a time. Each enumeration reads the log afresh.
    /// </summary>
    /// <returns>The iterator.</returns>
    public RecordIterator ScanIter()
    {
        var (segments, bound) = Snapshot();
        return new RecordIterator(Directory, segments, bound, _options.ReadBufferSize);
    }

    private (IReadOnlyList<uint> Segments, long Bound) Snapshot()
    {
        using (_gate.EnterPriority())
        {
            _tail.ThrowIfClosed();
            var segments = SegmentFiles.List(Directory);
            // A crash-free directory has the active segment last; anything above it was not made by us.
            uint active = _tail.Segment;
            var upToActive = segments.Where(id => id <= active).ToList();
            return (upToActive, _tail.Size);
        }
    }

    /// <summary>
    /// Reads every record lazily and asynchronously, one record at a time.
    /// </summary>
    /// <param name="cancellationToken">Stops the enumeration.</param>
    /// <returns>The records committed when the enumeration starts, in log order.</returns>
    public async IAsyncEnumerable<Record> ScanAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Segment reads are served from the page cache in large blocks: one record at a time costs less
        // synchronously than a thread hop per record; yield now and then so a long scan never starves
        // the caller's scheduler.
        await Task.Yield();
        using var enumerator = ScanIter().GetEnumerator();
        int sinceYield = 0;
        while (enumerator.MoveNext())
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return enumerator.Current;
            if (++sinceYield == 4096)
            {
                sinceYield = 0;
                await Task.Yield();
            }
        }
    }
}
