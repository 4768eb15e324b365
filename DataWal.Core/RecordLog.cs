using System.Buffers;
using System.Diagnostics;
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
/// successful <see cref="Fsync"/> (or per <see cref="Durability"/>). A failed write, fsync or rotate step
/// poisons the handle: later writes throw <see cref="WriterPoisonedException"/>, reads keep working, and a
/// reopen recovers.
/// </para>
/// <para>
/// Thread safety: every member may be called from several threads at once. Appends, fsyncs and
/// rotations are serialized; <see cref="ScanIter"/> and <see cref="Scan"/> read through their own handles
/// and run concurrently with writers, seeing the frames committed when they started.
/// </para>
/// </remarks>
public sealed partial class RecordLog : IDisposable, IAsyncDisposable, ILiveLogWriter
{
    private const int KeptScratchSize = 1024 * 1024;

    // Lock order: _gate, then whatever an observer takes inside OnAppended; the directory lock is held for the
    // handle's whole life and never waited on. Everything in _tail and most of _commit is guarded by _gate.
    private readonly PriorityGate _gate = new();
    private readonly DirectoryLock _lock;
    private readonly RecordLogOptions _options;
    private readonly LogSignal _signal;
    private readonly LogTail _tail;
    private readonly WriterPoison _poison;
    private readonly GroupCommit _commit;
    private readonly BackgroundFlusher? _flusher;
    private readonly IRecordLogObserver? _observer;
    private RecoveryReport _report;          // guarded by _gate
    private byte[] _scratch = new byte[4096]; // guarded by _gate
    private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposing;                   // 1 once a Dispose or DisposeAsync has begun: it alone closes

    private RecordLog(string directory, LogRecovery.Recovered recovered, RecordLogOptions options, IRecordLogObserver? observer)
    {
        Directory = directory;
        _lock = recovered.Lock;
        _options = options;
        _report = recovered.Report;
        _observer = observer;
        ulong lastTxId = recovered.Report.LastTxIdSeen;
        _tail = new LogTail(_gate, directory, recovered.Active, recovered.ActiveId, recovered.ActiveEnd, lastTxId);
        _poison = new WriterPoison(directory);
        _signal = LogSignal.Acquire(directory);
        _commit = new GroupCommit(_gate, _tail, _poison, _signal, options, recovered.ActiveId, lastTxId);
        _signal.AttachWriter(this);
        if (options.Durability == DurabilityMode.Grouped)
        {
            // The interval was validated when the options were built (1 ms to 1 day).
            _flusher = new BackgroundFlusher(options.GroupCommitInterval, NextFlushTarget, target => _commit.WaitDurableAsync(target, CancellationToken.None));
        }
    }

    /// <summary>The log directory (absolute).</summary>
    public string Directory { get; }

    /// <summary>The id of the segment appends go to (the highest id).</summary>
    public uint ActiveSegment
    {
        get
        {
            using (_gate.EnterPriority())
            {
                return _tail.Segment;
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
            using (_gate.EnterPriority())
            {
                return _tail.NextTxId;
            }
        }
    }

    /// <summary>The report of the open's recovery, or of the last <see cref="Scan"/>.</summary>
    public RecoveryReport RecoveryReport
    {
        get
        {
            using (_gate.EnterPriority())
            {
                return _report;
            }
        }
    }

    /// <summary>True after a failed write, fsync or rotate step: writes are refused until a reopen.</summary>
    public bool IsPoisoned => _poison.IsSet;

    /// <summary>
    /// How many data fsyncs this handle has issued (explicit, shared, background and rotation ones). With
    /// the number of records appended it gives the mean group-commit batch size.
    /// </summary>
    public long FsyncCount => _commit.FsyncCount;

    /// <summary>The durability policy this log was opened with.</summary>
    public DurabilityMode Durability => _options.Durability;

    /// <summary>
    /// Opens (creating when missing) the log in <paramref name="directory"/>: takes the writer lock,
    /// recovers, and cuts a damaged tail of the active segment.
    /// </summary>
    /// <param name="directory">The log directory; created (durably) with its first segment when missing.</param>
    /// <param name="options">Options, or null for the defaults.</param>
    /// <returns>The open log; dispose it to release the lock.</returns>
    /// <exception cref="StoreLockedException">Another writer holds the directory.</exception>
    /// <exception cref="CorruptRecordException">Damage recovery does not tolerate (a sealed segment, or structural).</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0027:API with optional parameter(s) should have the most parameters amongst its public overloads",
        Justification = "Shipped in 0.1 with its optional parameter; the observer overload was added beside it with required parameters, so existing calls bind as before.")]
    public static RecordLog Open(string directory, RecordLogOptions? options = null) => Open(directory, options, null);

    /// <summary>
    /// Opens the log as <see cref="Open(string, RecordLogOptions?)"/> does, keeping <paramref name="observer"/> in
    /// step with it: the observer sees every frame recovery finds, in the same single pass, then every frame
    /// appended through the returned log, under its write gate (see <see cref="IRecordLogObserver"/>).
    /// </summary>
    /// <param name="directory">The log directory; created (durably) with its first segment when missing.</param>
    /// <param name="options">Options, or null for the defaults.</param>
    /// <param name="observer">The projection to keep in step, or null.</param>
    /// <returns>The open log; dispose it to release the lock.</returns>
    /// <exception cref="StoreLockedException">Another writer holds the directory.</exception>
    /// <exception cref="CorruptRecordException">Damage recovery does not tolerate (a sealed segment, or structural).</exception>
    public static RecordLog Open(string directory, RecordLogOptions? options, IRecordLogObserver? observer)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new RecordLogOptions();
        string dir = Path.GetFullPath(directory);
        var recovered = LogRecovery.Run(dir, options, observer);
        return new RecordLog(dir, recovered, options, observer);
    }

    /// <summary>Appends a <see cref="RecordType.Raw"/> record with an empty key.</summary>
    /// <param name="payload">The payload (at most 64 MiB).</param>
    /// <returns>Where the frame was written.</returns>
    /// <exception cref="RecordTooLargeException">The payload exceeds the limit; nothing written.</exception>
    /// <exception cref="WriterPoisonedException">An earlier write step failed on this handle.</exception>
    /// <exception cref="DataWalException">The write failed; the handle is now poisoned.</exception>
    public RecordRef Append(ReadOnlySpan<byte> payload) => AppendRecord(RecordType.Raw, default, payload);

    /// <summary>
    /// Appends one record with the next txid: one frame, one write system call, no allocation in steady
    /// state. Visible to readers and safe against a process crash on return; durable after <see cref="Fsync"/>
    /// (or before returning, under <see cref="DurabilityMode.EveryAppend"/>).
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
        var written = WriteRecord(type, key, payload, out ulong txId);
        if (_options.Durability != DurabilityMode.Manual)
        {
            ApplyPolicy(txId, 1, written.Length);
        }

        return written;
    }

    /// <summary>Writes one frame (no durability wait); <paramref name="txId"/> is the txid it got.</summary>
    private RecordRef WriteRecord(RecordType type, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload, out ulong txId)
    {
        int size = WireFormat.CheckedFrameSize(key.Length, payload.Length);
        using (_gate.EnterAppend())
        {
            ThrowIfUnwritable();
            txId = _tail.NextTxId;
            if (txId == 0)
            {
                _poison.SetAndThrow(PoisonReason.TxIdOverflow);   // before writing anything
            }

            RotateIfFull(size);
            byte[]? rented = null;
            byte[] buffer = size <= _scratch.Length ? _scratch : GrowScratch(size, out rented);
            var written = new RecordRef(_tail.Segment, (ulong)_tail.Size, (uint)size);
            try
            {
                WireFormat.Encode(type, txId, key, payload, buffer);
                WriteFramesAtEnd(buffer.AsSpan(0, size), 1, txId, PoisonReason.AppendRecordWrite);
            }
            finally
            {
                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }

            if (_observer is not null)
            {
                Observe(new AppendedFrames(new LogFrame(type, txId, key, payload, written)));
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
        ulong first = WriteBatch(batch);
        if (_options.Durability != DurabilityMode.Manual && batch.Count > 0)
        {
            ApplyPolicy(first + (ulong)(batch.Count - 1), batch.Count, batch.Length);
        }

        return first;
    }

    /// <summary>Writes a batch (no durability wait); returns its first txid.</summary>
    private ulong WriteBatch(RecordBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.ThrowIfDisposed();
        using (_gate.EnterAppend())
        {
            ThrowIfUnwritable();
            ulong first = _tail.NextTxId;
            if (batch.Count == 0)
            {
                batch.MarkAppended(_tail.Segment, (ulong)_tail.Size);
                return first;
            }

            if (first == 0 || (ulong)batch.Count - 1 > ulong.MaxValue - first)
            {
                _poison.SetAndThrow(PoisonReason.TxIdOverflow);   // before writing: all or nothing
            }

            RotateIfFull(batch.Length);
            uint segment = _tail.Segment;
            long at = _tail.Size;
            WriteFramesAtEnd(batch.Seal(first), batch.Count, first + (ulong)(batch.Count - 1), PoisonReason.AppendBatchWrite);
            batch.MarkAppended(segment, (ulong)at);
            if (_observer is not null)
            {
                Observe(new AppendedFrames(batch, first));
            }

            return first;
        }
    }

    /// <summary>
    /// Under the gate: hands encoded frames to the kernel at the end of the active segment (one write; a
    /// failure poisons the handle with <paramref name="failure"/>), then advances the tail past
    /// <paramref name="lastTxId"/> (to 0, "none left", after <see cref="ulong.MaxValue"/>).
    /// </summary>
    private void WriteFramesAtEnd(ReadOnlySpan<byte> frames, int records, ulong lastTxId, PoisonReason failure)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        try
        {
            FileSync.Write(_tail.Handle, frames, _tail.Size);
        }
        catch (SafeAtomicException e)
        {
            _poison.Set(failure);
            throw ThrowHelper.WriteSegmentFailed(_tail.Path, e);
        }

        // Not poisoned when the last txid is taken: that record was written and must still be fsyncable.
        _tail.Advance(frames.Length, lastTxId);
        LogTelemetry.Appended(Directory, records, frames.Length);
        _signal.Notify();
    }

    /// <summary>
    /// Under the gate, before a write of <paramref name="bytes"/>: rotates when they would take a non-empty active
    /// segment past <see cref="RecordLogOptions.MaxSegmentBytes"/>, so frames are never split and a batch never spans
    /// segments. A failed rotation poisons the writer and nothing is written.
    /// </summary>
    private void RotateIfFull(long bytes)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        long max = _options.MaxSegmentBytes;
        if (max > 0 && _tail.Size > 0 && _tail.Size + bytes > max)
        {
            SegmentRotation.Run(_gate, _tail, _commit, _poison);
        }
    }

    /// <summary>Under the gate, after a write: the observer follows, or the writer stops (it no longer matches).</summary>
    private void Observe(AppendedFrames frames)
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        try
        {
            _observer!.OnAppended(frames);
        }
        catch
        {
            _poison.Set(PoisonReason.ObserverFailed);
            throw;
        }
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
    /// <exception cref="DataWalException">A step failed (the handle is poisoned).</exception>
    public void Rotate()
    {
        using (_gate.EnterPriority())
        {
            ThrowIfUnwritable();
            SegmentRotation.Run(_gate, _tail, _commit, _poison);
        }

        _signal.Notify();
    }

    /// <summary>Under the gate: refuses writes on a closed or poisoned handle.</summary>
    private void ThrowIfUnwritable()
    {
        Debug.Assert(_gate.IsHeldByCurrentThread);
        _tail.ThrowIfClosed();
        _poison.ThrowIfSet();
    }

    /// <summary>
    /// Closes the active segment and releases the writer lock. Under <see cref="DurabilityMode.Manual"/> nothing is
    /// fsynced implicitly; under <see cref="DurabilityMode.EveryAppend"/> and <see cref="DurabilityMode.Grouped"/> a last
    /// fsync runs first, so that every record appended through this handle is durable once disposing returns.
    /// </summary>
    /// <remarks>
    /// <para>
    /// When that last fsync fails, the handle is closed and the lock released all the same, and then the failure is
    /// thrown (a <see cref="DataWalException"/>, the same one <see cref="Fsync"/> would throw), as
    /// <see cref="FileStream"/>'s dispose throws when its final flush fails. The reason: the policy promised those
    /// records durability, and after a failed fsync the kernel may have dropped them from its cache; a storage library
    /// that swallowed it would let the caller believe the records are safe. Reopen to see what survived.
    /// </para>
    /// <para>
    /// No last fsync runs, and nothing is thrown, when the writer is already poisoned: the failure was thrown by the
    /// write or fsync that met it (and <see cref="IsPoisoned"/> says so); throwing it again from a <c>using</c> block
    /// would hide that original exception. Disposing twice, or from several threads at once, is safe: one call does the
    /// work (and alone can throw); the others return once it is done.
    /// </para>
    /// </remarks>
    /// <exception cref="DataWalException">The last fsync failed (the handle is closed and the lock released anyway).</exception>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposing, 1) != 0)
        {
            _disposed.Task.GetAwaiter().GetResult();   // another call is closing: return once it has
            return;
        }

        DataWalException? failure = null;
        try
        {
            _flusher?.Dispose();
            if (NeedsFinalFsync())
            {
                try
                {
                    Fsync();
                }
                catch (DataWalException e)
                {
                    failure = e;
                }
            }
        }
        finally
        {
            Close();
        }

        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>
    /// <see cref="Dispose"/> without blocking the caller's thread: the background flusher is stopped and awaited, and
    /// the last fsync is awaited (a flush already in flight is joined; one this call has to run goes to the thread pool,
    /// since there is no asynchronous fsync system call). The same rules as <see cref="Dispose"/>: a failed last fsync
    /// is thrown after the handle is closed and the lock released; nothing is thrown for an already poisoned writer;
    /// disposing twice or concurrently is safe.
    /// </summary>
    /// <returns>Completes once the handle is closed and the lock released.</returns>
    /// <exception cref="DataWalException">The last fsync failed (the handle is closed and the lock released anyway).</exception>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposing, 1) != 0)
        {
            await _disposed.Task.ConfigureAwait(false);
            return;
        }

        DataWalException? failure = null;
        try
        {
            if (_flusher is not null)
            {
                await _flusher.DisposeAsync().ConfigureAwait(false);
            }

            if (NeedsFinalFsync())
            {
                try
                {
                    await Task.Run(() => FsyncAsync().AsTask()).ConfigureAwait(false);
                }
                catch (DataWalException e)
                {
                    failure = e;
                }
            }
        }
        finally
        {
            Close();
        }

        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>Whether disposing runs a last fsync: not under <see cref="DurabilityMode.Manual"/>, not once poisoned.</summary>
    private bool NeedsFinalFsync() => _options.Durability != DurabilityMode.Manual && !IsPoisoned;

    /// <summary>The end of either dispose: closes the active segment, releases the lock and the signal, once.</summary>
    private void Close()
    {
        try
        {
            using (_gate.EnterPriority())
            {
                if (_tail.Closed)
                {
                    return;
                }

                _tail.Close();
                _lock.Dispose();
            }

            _signal.DetachWriter(this);
            _signal.Release();
        }
        finally
        {
            _disposed.TrySetResult();
        }
    }

    /// <inheritdoc/>
    bool ILiveLogWriter.TryGetFollowState(out (uint Segment, long End) written, out (uint Segment, long End) durable)
    {
        using (_gate.EnterPriority())
        {
            written = (_tail.Segment, _tail.Size);
            durable = _commit.DurableEnd;
            return !_tail.Closed;
        }
    }
}
