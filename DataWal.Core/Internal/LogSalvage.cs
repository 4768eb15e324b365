using System.Buffers;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// <see cref="RecordLogReader.SalvageTo"/>: every intact record of a salvage pass (docs/design.md D16) copied, in log
/// order, into a fresh log in a missing or empty directory. The new log is strict and upstream-compatible: whole
/// valid frames only, segments <c>00000001.dwal</c>, <c>00000002.dwal</c>, … of at most
/// <see cref="RecordLogOptions.DefaultMaxSegmentBytes"/> (a larger frame alone in its segment), txids strictly
/// increasing. The source is only read.
/// </summary>
/// <remarks>
/// Txids: each record keeps its own txid, so its frame is copied byte for byte, as long as the txids are strictly
/// increasing (what any writer produced, gaps left by skipped ranges included). A record whose txid is not above the
/// previous one written (a frame found inside a skipped range that some payload carried, or a log written out of
/// order) gets the previous one + 1, its frame re-encoded with the same type, key and payload, and so may the
/// records after it until their own txids are above again; <see cref="LogSalvageResult.RecordsRenumbered"/> counts
/// them. Memory: the scanner's bounded buffers and a 1 MiB write buffer.
/// </remarks>
internal static class LogSalvage
{
    private const int BufferSize = 1024 * 1024;

    /// <summary>Records between two progress reports (and cancellation checks).</summary>
    private const int ProgressEvery = 4096;

    public static LogSalvageResult Run(string sourceDirectory, IReadOnlyList<uint> segments, string outDirectory) =>
        Run(sourceDirectory, segments, outDirectory, null, CancellationToken.None);

    public static LogSalvageResult Run(string sourceDirectory, IReadOnlyList<uint> segments, string outDirectory, IProgress<LogSalvageProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(outDirectory);
        string target = Path.GetFullPath(outDirectory);
        if (File.Exists(target))
        {
            throw new DataWalException($"datawal: salvage target {target} is not a directory");
        }

        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
        {
            throw new DataWalException($"datawal: salvage target {target} is not empty; refusing to overwrite");
        }

        try
        {
            AtomicFile.CreateDirectories(target);
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.CreateLogDirectoryFailed(target, e);
        }

        using var targetLock = DirectoryLock.Acquire(target);
        // Bytes before each segment, from the sizes at the start: the scanner's (segment, offset) becomes a position in
        // the whole source. A segment that grows meanwhile can take the figure past the total; it is capped there.
        var before = new Dictionary<uint, long>(segments.Count);
        long total = 0;
        foreach (uint id in segments)
        {
            before[id] = total;
            total += SegmentLength(SegmentFiles.PathFor(sourceDirectory, id));
        }

        using var scanner = new SalvageScanner(sourceDirectory, segments);
        using var output = new Output(target);
        long records = 0;
        long renumbered = 0;
        ulong last = 0;
        while (scanner.MoveNext())
        {
            ulong txId = scanner.TxId;
            if (txId <= last)
            {
                if (last == ulong.MaxValue)
                {
                    throw new DataWalException($"datawal: salvage of {sourceDirectory}: no txid is left above {last} for the record at segment {scanner.Segment} offset {scanner.Offset}");
                }

                txId = last + 1;
                renumbered++;
                output.Add(scanner.Type, txId, scanner.Key, scanner.Payload);
            }
            else
            {
                output.Add(scanner.FrameBytes);
            }

            last = txId;
            if (++records % ProgressEvery == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(new LogSalvageProgress(Math.Min(total, before[scanner.Segment] + scanner.Offset), total, records));
            }
        }

        output.Finish();
        progress?.Report(new LogSalvageProgress(total, total, records));
        return new LogSalvageResult(records, renumbered, output.BytesWritten, output.Segments, last, scanner.Report);
    }

    private static long SegmentLength(string path)
    {
        try
        {
            return new FileInfo(path).Length;
        }
        catch (IOException)
        {
            return 0;   // removed meanwhile: the scanner says what that means; the progress only loses its share
        }
    }

    /// <summary>The new log's segments, written through SafeAtomic: buffered, each fsynced when sealed, the directory fsynced after each create.</summary>
    private sealed class Output : IDisposable
    {
        private readonly string _directory;
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        private int _buffered;
        private SafeFileHandle _segment;
        private uint _segmentId = 1;
        private long _segmentLength;   // flushed and buffered
        private long _flushed;         // written to the segment

        public Output(string directory)
        {
            _directory = directory;
            _segment = Create(1);
            Segments = 1;
        }

        public long BytesWritten { get; private set; }

        public int Segments { get; private set; }

        public void Add(ReadOnlySpan<byte> frame)
        {
            RotateIfFull(frame.Length);
            if (frame.Length > _buffer.Length - _buffered)
            {
                Flush();
            }

            if (frame.Length > _buffer.Length)
            {
                Write(frame);
            }
            else
            {
                frame.CopyTo(_buffer.AsSpan(_buffered));
                _buffered += frame.Length;
            }

            _segmentLength += frame.Length;
            BytesWritten += frame.Length;
        }

        public void Add(RecordType type, ulong txId, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload)
        {
            int size = (int)WireFormat.FrameSize(key.Length, payload.Length);
            var frame = ArrayPool<byte>.Shared.Rent(size);
            try
            {
                WireFormat.Encode(type, txId, key, payload, frame);
                Add(frame.AsSpan(0, size));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(frame);
            }
        }

        public void Finish()
        {
            Flush();
            Sync(() => FileSync.Fsync(_segment), "fsync segment");
            Sync(() => FileSync.FsyncDirectory(_directory), "fsync directory");
        }

        private void RotateIfFull(int frameLength)
        {
            if (_segmentLength == 0 || _segmentLength + frameLength <= RecordLogOptions.DefaultMaxSegmentBytes)
            {
                return;
            }

            Flush();
            Sync(() => FileSync.Fsync(_segment), "fsync segment");
            _segment.Dispose();
            _segmentId++;
            _segment = Create(_segmentId);
            _segmentLength = 0;
            _flushed = 0;
            Segments++;
        }

        private SafeFileHandle Create(uint id)
        {
            SafeFileHandle handle;
            try
            {
                handle = SegmentFiles.Create(_directory, id);
                FileSync.FsyncDirectory(_directory);
            }
            catch (SafeAtomicException e)
            {
                throw ThrowHelper.CreateSegmentFailed(SegmentFiles.PathFor(_directory, id), e);
            }

            return handle;
        }

        private void Flush()
        {
            if (_buffered > 0)
            {
                Write(_buffer.AsSpan(0, _buffered));
                _buffered = 0;
            }
        }

        private void Write(ReadOnlySpan<byte> bytes)
        {
            try
            {
                FileSync.Write(_segment, bytes, _flushed);
                _flushed += bytes.Length;
            }
            catch (SafeAtomicException e)
            {
                throw ThrowHelper.WriteSegmentFailed(SegmentFiles.PathFor(_directory, _segmentId), e);
            }
        }

        private void Sync(Action step, string what)
        {
            try
            {
                step();
            }
            catch (SafeAtomicException e)
            {
                throw new DataWalException($"datawal: salvage into {_directory}: {what}: {e.Message}", e);
            }
        }

        public void Dispose()
        {
            _segment.Dispose();
            var buffer = Interlocked.Exchange(ref _buffer, null!);
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
