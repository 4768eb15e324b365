using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// One in-place compaction of a log's sealed segments (docs/design.md D15), started by
/// <see cref="RecordLog.BeginCompaction"/>: the caller adds the frames to keep, in ascending txid order, to an
/// image file beside the segments; <see cref="Commit"/> fsyncs it, renames it over the lowest segment, fsyncs the
/// directory, and deletes the other segments of the range in ascending order. Disposing without committing
/// removes the image and changes nothing.
/// </summary>
/// <remarks>
/// <para>
/// Frames keep their txids, so the store's txids still increase along segment order and new ones continue above
/// <see cref="LastTxId"/>: when the last frame kept is older than that, <see cref="Commit"/> ends the image with
/// an empty <see cref="RecordType.Raw"/> record carrying <see cref="LastTxId"/> (a key/value store ignores Raw
/// records). The image's name (<see cref="TempFileName"/>) never matches <c>NNNNNNNN.dwal</c>, so neither this
/// library nor upstream reads it; a writer open removes one left by a crash.
/// </para>
/// <para>
/// At every crash point the directory holds either the old segments, or the image at the lowest id followed by
/// the old segments not yet deleted: a scan in id order under last-write-wins reads both the same way when the
/// image holds each key's latest Put of the range, which is what <c>KvStore.Compact</c> writes. Not thread-safe:
/// one thread drives a compaction; appends to the log go on beside it.
/// </para>
/// </remarks>
public sealed class SegmentCompaction : IDisposable
{
    /// <summary>The image file's name in the log directory while it is being written.</summary>
    public const string TempFileName = "compaction.dwal.tmp";

    private const int BufferSize = 1024 * 1024;

    private readonly List<uint> _segments;
    private readonly LogSignal _signal;
    private readonly SemaphoreSlim _maintenance;
    private readonly string _tempPath;
    private SafeFileHandle? _image;
    private byte[]? _buffer;
    private int _buffered;
    private long _flushed;
    private ulong _lastAdded;
    private bool _finished;

    internal SegmentCompaction(string directory, List<uint> segments, ulong lastTxId, LogSignal signal, SemaphoreSlim maintenance)
    {
        Directory = directory;
        _segments = segments;
        LastTxId = lastTxId;
        _signal = signal;
        _maintenance = maintenance;
        _tempPath = Path.Combine(directory, TempFileName);
        try
        {
            foreach (uint id in segments)
            {
                SourceBytes += SegmentFiles.Length(directory, id);
            }

            FileSync.Delete(_tempPath);   // a leftover of an earlier attempt in this process
            _image = FileSync.Open(_tempPath, FileMode.CreateNew, FileAccess.ReadWrite);
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.CompactionFailed(directory, "create the image " + _tempPath, e);
        }

        _buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(BufferSize);
    }

    /// <summary>The log directory.</summary>
    public string Directory { get; }

    /// <summary>The lowest sealed segment: the image will take its place.</summary>
    public uint FirstSegment => _segments[0];

    /// <summary>The highest segment of the range (the newest sealed one when the compaction began).</summary>
    public uint LastSegment => _segments[^1];

    /// <summary>The segments being compacted, ascending.</summary>
    public IReadOnlyList<uint> Segments => _segments;

    /// <summary>The highest txid written before the compaction began: every frame of the range has a txid at or below it.</summary>
    public ulong LastTxId { get; }

    /// <summary>The bytes the range's segments held when the compaction began.</summary>
    public long SourceBytes { get; }

    /// <summary>The bytes added to the image so far.</summary>
    public long ImageBytes => _flushed + _buffered;

    /// <summary>The frames added to the image so far.</summary>
    public long Frames { get; private set; }

    /// <summary>
    /// One pass over the range's segments, in order, handing each frame to <paramref name="visitor"/> without copying
    /// it: how a caller finds what it must keep besides what its own index knows (the KV store: tombstones).
    /// </summary>
    /// <param name="visitor">Receives each frame of <see cref="FirstSegment"/>..<see cref="LastSegment"/>.</param>
    /// <returns>What the pass found.</returns>
    /// <exception cref="CorruptRecordException">A segment of the range is damaged (nothing changed).</exception>
    public RecoveryReport Replay(IFrameVisitor visitor)
    {
        ArgumentNullException.ThrowIfNull(visitor);
        ThrowIfFinished();
        using var scanner = new LogScanner(Directory, _segments);
        while (scanner.MoveNext())
        {
            visitor.Visit(scanner.Frame);
        }

        return scanner.Report;
    }

    /// <summary>
    /// Adds one whole encoded frame (as read from the log, CRC and all) to the image; frames must come in
    /// ascending txid order, at or below <see cref="LastTxId"/>.
    /// </summary>
    /// <param name="frame">Exactly one valid frame.</param>
    /// <returns>Where the frame will be once committed: in <see cref="FirstSegment"/>.</returns>
    /// <exception cref="ArgumentException">Not exactly one valid frame, or out of txid order.</exception>
    /// <exception cref="DataWalException">Writing the image failed (dispose the compaction; nothing changed).</exception>
    public RecordRef Add(ReadOnlySpan<byte> frame)
    {
        ThrowIfFinished();
        ulong txId;
        try
        {
            var decoded = WireFormat.Decode(frame);
            if (decoded.Status != DecodeStatus.Ok || decoded.BytesConsumed != frame.Length)
            {
                ThrowHelper.ThrowCompactionFrameInvalid($"{decoded.Status}, {decoded.BytesConsumed} of {frame.Length} bytes");
            }

            txId = decoded.TxId;
        }
        catch (InvalidFrameException e)
        {
            ThrowHelper.ThrowCompactionFrameInvalid(e.Message);
            throw;
        }

        if (txId <= _lastAdded || txId > LastTxId)
        {
            ThrowHelper.ThrowCompactionFrameOutOfOrder(txId, _lastAdded, LastTxId);
        }

        var at = new RecordRef(FirstSegment, (ulong)ImageBytes, (uint)frame.Length);
        Write(frame);
        _lastAdded = txId;
        Frames++;
        return at;
    }

    /// <summary>
    /// Installs the image: fsyncs it, renames it over <see cref="FirstSegment"/> (the directory fsynced), calls
    /// <paramref name="installed"/>, then deletes the rest of the range in ascending order and fsyncs the directory.
    /// </summary>
    /// <param name="installed">
    /// Runs right after the rename, before any deletion: a projection moves its locations into the image here
    /// (old locations in <see cref="FirstSegment"/> are no longer readable by path from then on; the other
    /// segments still are until it returns).
    /// </param>
    /// <returns>The segments deleted.</returns>
    /// <exception cref="DataWalException">
    /// A step failed. Before the rename nothing changed; after it the store is consistent (image in place, some
    /// segments of the range maybe not deleted yet — the next compaction takes them).
    /// </exception>
    public IReadOnlyList<uint> Commit(Action? installed = null)
    {
        ThrowIfFinished();
        _finished = true;
        try
        {
            if (_lastAdded < LastTxId)
            {
                // Keeps the highest txid on disk, so txids never go back after a reopen (docs/design.md D18).
                Write(WireFormat.Encode(RecordType.Raw, LastTxId, default, default));
            }

            Flush();
            FileSync.Fsync(_image!);
        }
        catch (SafeAtomicException e)
        {
            Abandon();
            throw ThrowHelper.CompactionFailed(Directory, "fsync the image " + _tempPath, e);
        }
        catch
        {
            Abandon();
            throw;
        }

        CloseImage();
        string target = SegmentFiles.PathFor(Directory, FirstSegment);
        try
        {
            AtomicFile.RenameAtomic(_tempPath, target);
        }
        catch (DurabilityUnconfirmedException e)
        {
            // Renamed, but whether the rename is durable is unknown: deleting now could outlive it.
            installed?.Invoke();
            _signal.Notify();
            _maintenance.Release();
            throw ThrowHelper.CompactionFailed(Directory, "fsync the directory after installing the image", e);
        }
        catch (SafeAtomicException e)
        {
            Abandon();
            throw ThrowHelper.CompactionFailed(Directory, "rename the image over " + target, e);
        }

        try
        {
            installed?.Invoke();
            var deleted = SegmentRemoval.DeleteAscending(Directory, _segments.GetRange(1, _segments.Count - 1));
            return deleted;
        }
        finally
        {
            _signal.Notify();
            _maintenance.Release();
        }
    }

    /// <summary>Abandons an uncommitted compaction: the image is removed and the log is as it was.</summary>
    public void Dispose()
    {
        if (!_finished)
        {
            _finished = true;
            Abandon();
        }
    }

    private void Write(ReadOnlySpan<byte> frame)
    {
        if (frame.Length > _buffer!.Length - _buffered)
        {
            Flush();
        }

        if (frame.Length > _buffer.Length)
        {
            WriteImage(frame);
            return;
        }

        frame.CopyTo(_buffer.AsSpan(_buffered));
        _buffered += frame.Length;
    }

    private void Flush()
    {
        if (_buffered > 0)
        {
            int count = _buffered;
            _buffered = 0;
            WriteImage(_buffer.AsSpan(0, count));
        }
    }

    private void WriteImage(ReadOnlySpan<byte> bytes)
    {
        try
        {
            FileSync.Write(_image!, bytes, _flushed);
            _flushed += bytes.Length;
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.CompactionFailed(Directory, "write the image " + _tempPath, e);
        }
    }

    private void Abandon()
    {
        CloseImage();
        try
        {
            FileSync.Delete(_tempPath);
        }
        catch (SafeAtomicException)
        {
            // Harmless: the name is never read as a segment, and the next writer open removes it.
        }

        _maintenance.Release();
    }

    private void CloseImage()
    {
        _image?.Dispose();
        _image = null;
        if (_buffer is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }

    private void ThrowIfFinished()
    {
        if (_finished)
        {
            ThrowHelper.ThrowCompactionFinished();
        }
    }
}
