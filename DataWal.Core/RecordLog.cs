using System.Buffers;
using System.Diagnostics;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// A crash-safe, append-only, segmented record log in one directory (upstream <c>RecordLog</c>).
/// </summary>
/// <remarks>
/// <para>
/// Opening takes the directory's writer lock, recovers the longest valid prefix of the log in one
/// streaming pass and, when the active segment ends in a damaged tail, cuts that tail off and fsyncs,
/// so that records appended afterwards are never lost behind garbage (upstream appends after it).
/// </para>
/// <para>
/// Each append is one frame handed to the kernel in one write: once the call returns the frame is
/// visible to readers and survives a crash of this process, but it survives a power loss only after a
/// successful <see cref="Fsync"/>. A failed write, fsync or rotate step poisons the handle: later writes
/// throw <see cref="WriterPoisonedException"/>, reads keep working, and a reopen recovers.
/// </para>
/// <para>
/// Thread safety: every member may be called from several threads at once. Appends, fsyncs and
/// rotations are serialized; <see cref="ScanIter"/> and <see cref="Scan"/> read through their own handles
/// and run concurrently with writers, seeing the frames committed when they started.
/// </para>
/// </remarks>
public sealed partial class RecordLog : IDisposable, ILiveLogWriter
{
    private const int KeptScratchSize = 1024 * 1024;

    private readonly Lock _gate = new();
    private readonly DirectoryLock _lock;
    private readonly RecordLogOptions _options;
    private readonly LogSignal _signal;
    private SafeFileHandle _active;
    private string _activePath;
    private uint _activeId;
    private long _activeSize;
    private ulong _nextTxId;
    private RecoveryReport _report;
    private string? _poisonReason;
    private bool _disposed;
    private byte[] _scratch = new byte[4096];

    private RecordLog(string directory, DirectoryLock directoryLock, RecordLogOptions options, SafeFileHandle active, uint activeId, long activeSize, RecoveryReport report)
    {
        Directory = directory;
        _lock = directoryLock;
        _options = options;
        _active = active;
        _activeId = activeId;
        _activePath = SegmentFiles.PathFor(directory, activeId);
        _activeSize = activeSize;
        _report = report;
        // Wraps to 0 after ulong.MaxValue: 0 is never assigned, so it means "no txid left" (appends are
        // refused, decision 18) while _nextTxId - 1 still names the last txid for the durability targets.
        _nextTxId = unchecked(report.LastTxIdSeen + 1);
        _durableSegment = activeId;
        _recoveredTxId = report.LastTxIdSeen;
        _policy = options.Durability;
        _signal = LogSignal.Acquire(directory);
        _signal.AttachWriter(this);
        if (_policy == DurabilityMode.Grouped)
        {
            StartBackgroundFlusher();
        }
    }

    /// <summary>The log directory (absolute).</summary>
    public string Directory { get; }

    /// <summary>The id of the segment appends go to (the highest id).</summary>
    public uint ActiveSegment
    {
        get
        {
            using (EnterPriority())
            {
                return _activeId;
            }
        }
    }

    /// <summary>
    /// The txid the next append will get; 0 once the txids are used up (a record carries
    /// <see cref="ulong.MaxValue"/>): appends are then refused, txids never wrap.
    /// </summary>
    public ulong NextTxId
    {
        get
        {
            using (EnterPriority())
            {
                return _nextTxId;
            }
        }
    }

    /// <summary>The report of the open's recovery, or of the last <see cref="Scan"/>.</summary>
    public RecoveryReport RecoveryReport
    {
        get
        {
            using (EnterPriority())
            {
                return _report;
            }
        }
    }

    /// <summary>True after a failed write, fsync or rotate step: writes are refused until a reopen.</summary>
    public bool IsPoisoned => Volatile.Read(ref _poisonReason) is not null;

    /// <summary>
    /// Opens (creating when missing) the log in <paramref name="directory"/>: takes the writer lock,
    /// recovers, and cuts a damaged tail of the active segment.
    /// </summary>
    /// <param name="directory">The log directory; created (durably) with its first segment when missing.</param>
    /// <param name="options">Options, or null for the defaults.</param>
    /// <returns>The open log; dispose it to release the lock.</returns>
    /// <exception cref="StoreLockedException">Another writer holds the directory.</exception>
    /// <exception cref="CorruptRecordException">Damage recovery does not tolerate (a sealed segment, or structural).</exception>
    public static RecordLog Open(string directory, RecordLogOptions? options = null) => Open(directory, options, null);

    internal static RecordLog Open(string directory, RecordLogOptions? options, IFrameVisitor? visitor)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new RecordLogOptions();
        string dir = Path.GetFullPath(directory);
        try
        {
            AtomicFile.CreateDirectories(dir);
        }
        catch (SafeAtomicException e)
        {
            throw new DataWalException($"datawal: create log directory {dir}: {e.Message}", e);
        }

        var directoryLock = DirectoryLock.Acquire(dir);
        long started = Stopwatch.GetTimestamp();
        SafeFileHandle? active = null;
        try
        {
            var segments = SegmentFiles.List(dir);
            if (segments.Count == 0)
            {
                // Normally 1; past any planted non-regular entry with a segment name, which is never opened.
                uint first = SegmentFiles.NextId(SegmentFiles.ListNames(dir));
                active = CreateSegment(dir, first);
                FileSync.FsyncDirectory(dir);
                segments = [first];
            }

            RecoveryReport report;
            long logicalEnd;
            using (var scanner = new LogScanner(dir, segments, -1, options.ReadBufferSize))
            {
                while (scanner.MoveNext())
                {
                    visitor?.Visit(scanner);
                }

                report = scanner.Report;
                logicalEnd = scanner.LastSegmentEnd;
            }

            uint activeId = segments[^1];
            string activePath = SegmentFiles.PathFor(dir, activeId);
            active ??= FileSync.OpenRegular(activePath, FileAccess.ReadWrite);
            if (report.TailTruncated > 0)
            {
                // Decision 6: cut the damaged tail so new frames follow the last valid one, then make the
                // cut durable before anything is appended after it.
                FileSync.SetLength(active, logicalEnd);
                FileSync.Fsync(active);
                report = report with { TailCut = true };
            }

            LogTelemetry.Recovered(dir, report, Stopwatch.GetElapsedTime(started), report.TailCut ? report.TailBytesDiscarded : 0);

            return new RecordLog(dir, directoryLock, options, active, activeId, logicalEnd, report);
        }
        catch (SafeAtomicException e)
        {
            active?.Dispose();
            directoryLock.Dispose();
            throw new DataWalException($"datawal: open record log {dir}: {e.Message}", e);
        }
        catch
        {
            active?.Dispose();
            directoryLock.Dispose();
            throw;
        }
    }

    private static SafeFileHandle CreateSegment(string directory, uint id) =>
        FileSync.Open(SegmentFiles.PathFor(directory, id), FileMode.CreateNew, FileAccess.ReadWrite);

    /// <summary>Appends a <see cref="RecordType.Raw"/> record with an empty key.</summary>
    /// <param name="payload">The payload (at most 64 MiB).</param>
    /// <returns>Where the frame was written.</returns>
    /// <exception cref="RecordTooLargeException">The payload exceeds the limit; nothing written.</exception>
    /// <exception cref="WriterPoisonedException">An earlier write step failed on this handle.</exception>
    /// <exception cref="DataWalException">The write failed; the handle is now poisoned.</exception>
    public RecordRef Append(ReadOnlySpan<byte> payload) => AppendRecord(RecordType.Raw, default, payload);

    /// <summary>
    /// Appends one record with the next txid: one frame, one write system call, no allocation in steady
    /// state. Visible to readers and safe against a process crash on return; durable after <see cref="Fsync"/>.
    /// </summary>
    /// <param name="type">The record type.</param>
    /// <param name="key">The key (at most 64 KiB).</param>
    /// <param name="payload">The payload (at most 64 MiB).</param>
    /// <returns>Where the frame was written.</returns>
    /// <exception cref="RecordTooLargeException">The key or payload exceeds the limits; nothing written, no txid used.</exception>
    /// <exception cref="WriterPoisonedException">An earlier write step failed on this handle.</exception>
    /// <exception cref="DataWalException">The write failed; the handle is now poisoned.</exception>
    public RecordRef AppendRecord(RecordType type, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload)
    {
        var written = AppendRecordCore(type, key, payload, out ulong txId);
        if (_policy != DurabilityMode.Manual)
        {
            ApplyPolicy(txId, 1, written.Length);
        }

        return written;
    }

    /// <summary>Writes one frame (no durability wait); <paramref name="txId"/> is the txid it got.</summary>
    internal RecordRef AppendRecordCore(RecordType type, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload, out ulong txId)
    {
        int size = WireFormat.CheckedFrameSize(key.Length, payload.Length);
        YieldToPriority();
        lock (_gate)
        {
            ThrowIfUnwritable();
            if (_nextTxId == 0)
            {
                RefuseTxIdOverflow();
            }

            byte[]? rented = null;
            byte[] buffer = size <= _scratch.Length ? _scratch : GrowScratch(size, out rented);
            txId = _nextTxId;
            var written = new RecordRef(_activeId, (ulong)_activeSize, (uint)size);
            try
            {
                WireFormat.Encode(type, txId, key, payload, buffer);
                WriteFramesAtEnd(buffer.AsSpan(0, size), 1, txId, "append_record write_all failed");
            }
            finally
            {
                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }

            return written;
        }
    }

    /// <summary>
    /// Appends every record of <paramref name="batch"/> with consecutive txids in one write system call.
    /// On success each record's location is available from <see cref="RecordBatch.RefAt"/>.
    /// </summary>
    /// <remarks>
    /// All or nothing as far as this handle is concerned: if the write fails, the handle is poisoned and no
    /// txid is consumed. What a reopen then finds is a valid prefix of the batch (possibly empty): frames
    /// the kernel wrote whole before the failure are recovered, a torn last frame is cut.
    /// </remarks>
    /// <param name="batch">The records; may be empty.</param>
    /// <returns>The txid of the first record (the next txid when the batch is empty).</returns>
    /// <exception cref="WriterPoisonedException">An earlier write step failed on this handle.</exception>
    /// <exception cref="DataWalException">The write failed; the handle is now poisoned.</exception>
    public ulong AppendBatch(RecordBatch batch)
    {
        ulong first = AppendBatchCore(batch);
        if (_policy != DurabilityMode.Manual && batch.Count > 0)
        {
            ApplyPolicy(first + (ulong)(batch.Count - 1), batch.Count, batch.Length);
        }

        return first;
    }

    /// <summary>Writes a batch (no durability wait); returns its first txid.</summary>
    internal ulong AppendBatchCore(RecordBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.ThrowIfDisposed();
        YieldToPriority();
        lock (_gate)
        {
            ThrowIfUnwritable();
            ulong first = _nextTxId;
            if (batch.Count == 0)
            {
                batch.MarkAppended(_activeId, (ulong)_activeSize);
                return first;
            }

            if (first == 0 || (ulong)batch.Count - 1 > ulong.MaxValue - first)
            {
                RefuseTxIdOverflow();   // before writing: all or nothing
            }

            long at = _activeSize;
            WriteFramesAtEnd(batch.Seal(first), batch.Count, first + (ulong)(batch.Count - 1), "append_batch write_all failed");
            batch.MarkAppended(_activeId, (ulong)at);
            return first;
        }
    }

    /// <summary>
    /// Under the gate: hands encoded frames to the kernel at the end of the active segment (one write; a
    /// failure poisons the handle with <paramref name="failure"/>), then advances the segment size and the
    /// next txid past <paramref name="lastTxId"/> (to 0, "none left", after <see cref="ulong.MaxValue"/>).
    /// </summary>
    private void WriteFramesAtEnd(ReadOnlySpan<byte> frames, int records, ulong lastTxId, string failure)
    {
        try
        {
            FileSync.Write(_active, frames, _activeSize);
        }
        catch (SafeAtomicException e)
        {
            Poison(failure);
            throw new DataWalException($"datawal: write_all to segment {_activePath}: {e.Message}", e);
        }

        _activeSize += frames.Length;
        LogTelemetry.Appended(Directory, records, frames.Length);
        _signal.Notify();
        // Not poisoned yet: the record that took the last txid was written and must still be fsyncable.
        _nextTxId = unchecked(lastTxId + 1);
    }

    /// <summary>Under the gate, before anything is written: no txid is left (decision 18), so refuse and poison.</summary>
    private void RefuseTxIdOverflow()
    {
        Poison("txid overflow");
        ThrowHelper.ThrowPoisoned("txid overflow");
    }

    private byte[] GrowScratch(int size, out byte[]? rented)
    {
        if (size > KeptScratchSize)
        {
            rented = ArrayPool<byte>.Shared.Rent(size);
            return rented;
        }

        rented = null;
        _scratch = new byte[Math.Min(KeptScratchSize, Math.Max(size, _scratch.Length * 2))];
        return _scratch;
    }

    /// <summary>
    /// Seals the active segment (fsyncs it) and starts a new, empty one with the next id; the directory is
    /// fsynced so the new segment exists durably. txids continue across segments.
    /// </summary>
    /// <exception cref="WriterPoisonedException">An earlier write step failed on this handle.</exception>
    /// <exception cref="DataWalException">A step failed (the handle is poisoned, except when listing the directory failed).</exception>
    public void Rotate()
    {
        using (EnterPriority())
        {
            ThrowIfUnwritable();
            long started = Stopwatch.GetTimestamp();
            try
            {
                Interlocked.Increment(ref _fsyncCount);
                FileSync.FsyncData(_active);
            }
            catch (SafeAtomicException e)
            {
                Poison("rotate sync_all on previous segment failed");
                throw new DataWalException($"datawal: fsync segment {_activePath}: {e.Message}", e);
            }

            LogTelemetry.Fsynced(Directory, false, Stopwatch.GetElapsedTime(started), GroupCommitSize(_nextTxId - 1));
            _durableTxId = _nextTxId - 1;
            _initialSyncPending = false;
            IReadOnlyList<uint> names;
            try
            {
                names = SegmentFiles.ListNames(Directory);
            }
            catch (DataWalException)
            {
                // A rotation that cannot see the directory cannot know which id is free: stop, as for any failed rotate step.
                Poison("rotate list log directory failed");
                throw;
            }

            uint nextId = SegmentFiles.NextId(names);
            if (nextId <= _activeId)
            {
                Poison("rotate computed non-increasing segment id");
                ThrowHelper.ThrowPoisoned("rotate computed non-increasing segment id");
            }

            string nextPath = SegmentFiles.PathFor(Directory, nextId);
            SafeFileHandle next;
            try
            {
                next = CreateSegment(Directory, nextId);
            }
            catch (SafeAtomicException e)
            {
                Poison("rotate create new segment failed");
                throw new DataWalException($"datawal: create segment {nextPath}: {e.Message}", e);
            }

            started = Stopwatch.GetTimestamp();
            try
            {
                FileSync.FsyncDirectory(Directory);
                LogTelemetry.Fsynced(Directory, true, Stopwatch.GetElapsedTime(started), 0);
            }
            catch (SafeAtomicException e)
            {
                next.Dispose();
                Poison("rotate fsync_dir after segment create failed");
                throw new DataWalException($"datawal: fsync log directory {Directory}: {e.Message}", e);
            }

            _active.Dispose();
            _active = next;
            _activeId = nextId;
            _activePath = nextPath;
            _activeSize = 0;
            _directoryDirty = false;
            _durableSegment = nextId;   // the sealed segment is durable whole; the new one is empty
            _durableEnd = 0;
            LogTelemetry.Rotated(Directory, nextId);
        }

        _signal.Notify();
    }

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

        using (EnterPriority())
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
        using (EnterPriority())
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var segments = SegmentFiles.List(Directory);
            // A crash-free directory has the active segment last; anything above it was not made by us.
            var upToActive = segments.Where(id => id <= _activeId).ToList();
            return (upToActive, _activeSize);
        }
    }

    private void ThrowIfUnwritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_poisonReason is { } reason)
        {
            ThrowHelper.ThrowPoisoned(reason);
        }
    }

    private int _priorityWaiters;

    /// <summary>Takes the gate ahead of appenders (durability paths, rotation, properties): appenders back off while this waits.</summary>
    private Lock.Scope EnterPriority()
    {
        Interlocked.Increment(ref _priorityWaiters);
        try
        {
            return _gate.EnterScope();
        }
        finally
        {
            Interlocked.Decrement(ref _priorityWaiters);
        }
    }

    /// <summary>Appenders call this before taking the gate: lets a waiting flusher or Fsync caller in first.</summary>
    private void YieldToPriority()
    {
        if (Volatile.Read(ref _priorityWaiters) == 0)
        {
            return;
        }

        var spin = default(SpinWait);
        while (Volatile.Read(ref _priorityWaiters) != 0)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    private void Poison(string reason)
    {
        if (Interlocked.CompareExchange(ref _poisonReason, reason, null) is null)
        {
            LogTelemetry.Poisoned(Directory, reason);
        }
    }

    /// <summary>
    /// Closes the active segment and releases the writer lock. Under <see cref="DurabilityMode.Manual"/>
    /// nothing is fsynced implicitly; under the other modes a last fsync runs first (its failure is not
    /// reported here: records the policy had not yet made durable are then only as safe as the page cache).
    /// </summary>
    public void Dispose()
    {
        StopBackgroundFlusher();
        if (_policy != DurabilityMode.Manual && !IsPoisoned)
        {
            try
            {
                Fsync();
            }
            catch (DataWalException)
            {
            }
            catch (ObjectDisposedException)
            {
            }
        }

        using (EnterPriority())
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _active.Dispose();
            _lock.Dispose();
        }

        _signal.DetachWriter(this);
        _signal.Release();
    }

    /// <inheritdoc/>
    bool ILiveLogWriter.TryGetFollowState(out (uint Segment, long End) written, out (uint Segment, long End) durable)
    {
        lock (_gate)
        {
            written = (_activeId, _activeSize);
            durable = (_durableSegment, _durableEnd);
            return !_disposed;
        }
    }
}
