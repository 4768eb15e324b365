using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using DataWal.Core;
using SafeAtomic;

namespace DataWal.Kv;

/// <summary>
/// <see cref="KvStore.ExportJsonl(string)"/>: one line <c>{"key_b64":"…","value_b64":"…"}\n</c> per live key,
/// bytewise key order, standard padded base64 — written through <see cref="AtomicFile"/> as a stream, so
/// readers and crashes see the old file or the whole new one, and the file is never built in memory.
/// </summary>
internal static class JsonlExport
{
    private static ReadOnlySpan<byte> KeyPrefix => "{\"key_b64\":\""u8;

    private static ReadOnlySpan<byte> ValuePrefix => "\",\"value_b64\":\""u8;

    private static ReadOnlySpan<byte> LineEnd => "\"}\n"u8;

    /// <summary>About how many bytes of frames one chunk of the export takes (a single larger frame is a chunk of its own).</summary>
    private const int ChunkBytes = 1 << 20;

    public static void Run(KvStore source, string outPath, bool overwrite, IProgress<KvCopyProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(outPath);
        long started = Stopwatch.GetTimestamp();
        string full = Path.GetFullPath(outPath);
        if (!overwrite && Path.Exists(full))
        {
            throw ThrowHelper.ExportTargetExists(full, null);
        }

        using var stable = source.EnterStableLocations();
        var live = source.Snapshot(sorted: true);
        long bytes = 0;
        string directory = Path.GetDirectoryName(full)!;
        // Without overwrite: write a temp name beside the target, then rename it without replacing, so that a file
        // someone else creates meanwhile is never overwritten. The name follows SafeAtomic's temp-file convention
        // (AtomicFile.FindTempFiles lists it if a crash leaves it behind).
        string? temp = overwrite ? null : Path.Combine(directory, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N")[..16] + ".tmp");
        try
        {
            AtomicFile.CreateDirectories(directory);
            AtomicFile.WriteAtomic(temp ?? full, stream => bytes = WriteLines(source, live, stream, progress, cancellationToken));
            if (temp is not null)
            {
                AtomicFile.RenameAtomic(temp, full, overwrite: false);
            }
        }
        catch (AlreadyExistsException e)
        {
            throw ThrowHelper.ExportTargetExists(full, e);
        }
        catch (SafeAtomicException e)
        {
            // The SafeAtomic exception (inner) tells whether the old file is intact or the new one is
            // in place but not confirmed durable.
            throw ThrowHelper.ExportJsonlFailed(full, e);
        }
        finally
        {
            if (temp is not null)
            {
                TryDelete(temp);
            }
        }

        progress?.Report(new KvCopyProgress(live.Count, live.Count, bytes));
        KvTelemetry.Exported(source.Directory, full, live.Count, bytes, Stopwatch.GetElapsedTime(started));
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);   // no-op when it was renamed away or never written
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <returns>The number of bytes written.</returns>
    private static long WriteLines(KvStore source, KeySnapshot live, Stream stream, IProgress<KvCopyProgress>? progress, CancellationToken cancellationToken) =>
        new OrderedLines(source, live, stream, progress, cancellationToken).Run();

    /// <summary>
    /// Encodes the lines on up to <see cref="MaxWorkers"/> threads and writes them in key order: each worker takes the
    /// next chunk of keys (at most <see cref="Compaction.ProgressEvery"/> keys and about <see cref="ChunkBytes"/> of
    /// frames), reads and encodes it into its own buffer, then waits for its chunk's turn and writes the buffer.
    /// </summary>
    /// <remarks>
    /// Why: an export is base64 work on one core and <c>write</c>s, and the reads and encoding of one chunk do not
    /// depend on any other's, so on two cores they overlap; only the writes are in order. Memory stays one chunk per
    /// worker, whatever the store's size. Progress is reported by whichever worker has just written, one at a time.
    /// </remarks>
    private sealed class OrderedLines(KvStore source, KeySnapshot live, Stream stream, IProgress<KvCopyProgress>? progress, CancellationToken cancellationToken)
    {
        private const int MaxWorkers = 4;

        private readonly object _turnGate = new();   // a Monitor: writers wait for their chunk's turn
        private int _nextKey;
        private long _nextChunk;
        private long _turn;
        private Exception? _failure;
        private long _written;   // the fields below are touched only by the worker whose turn it is
        private long _lines;

        public long Run()
        {
            int workers = live.Count < 2 * Compaction.ProgressEvery ? 1 : Math.Clamp(Environment.ProcessorCount, 1, MaxWorkers);
            var others = new List<Thread>(workers - 1);
            try
            {
                for (int i = 1; i < workers; i++)
                {
                    var thread = new Thread(Work) { IsBackground = true, Name = "datawal export" };
                    thread.Start();
                    others.Add(thread);
                }

                Work();
            }
            catch (Exception e)
            {
                Fail(e);   // a thread that could not start: those that did stop at their next step
                throw;
            }
            finally
            {
                // Never return (and let the caller close the stream) while a worker may still write to it.
                foreach (var thread in others)
                {
                    thread.Join();
                }
            }

            if (_failure is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_failure);
            }

            return _written;
        }

        [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "Any failure of a worker is handed to the caller's thread, which throws the first one.")]
        private void Work()
        {
            ChunkEncoder? chunk = null;
            try
            {
                chunk = new ChunkEncoder();
                while (TakeChunk(out int from, out int to, out long sequence))
                {
                    chunk.Length = 0;
                    source.ReadValues(live, from, to, chunk.Visit, cancellationToken);
                    if (!WriteInTurn(sequence, chunk, to - from))
                    {
                        return;
                    }
                }
            }
            catch (Exception e)
            {
                Fail(e);
            }
            finally
            {
                chunk?.Return();
            }
        }

        /// <summary>Records the first failure (the one thrown) and wakes every worker waiting for its turn, so they stop.</summary>
        private void Fail(Exception e)
        {
            lock (_turnGate)
            {
                _failure ??= e;
                Monitor.PulseAll(_turnGate);
            }
        }

        /// <summary>The next keys in order, sized by their frames so one chunk's frames stay near <see cref="ChunkBytes"/>.</summary>
        private bool TakeChunk(out int from, out int to, out long sequence)
        {
            lock (_turnGate)
            {
                from = to = _nextKey;
                sequence = _nextChunk;
                if (_failure is not null || from >= live.Count)
                {
                    return false;
                }

                long frames = 0;
                while (to < live.Count && to - from < Compaction.ProgressEvery && frames < ChunkBytes)
                {
                    frames += live.RefAt(to).Length;
                    to++;
                }

                _nextKey = to;
                _nextChunk++;
                return true;
            }
        }

        /// <returns>False when another worker failed meanwhile (nothing was written).</returns>
        private bool WriteInTurn(long sequence, ChunkEncoder chunk, int lines)
        {
            lock (_turnGate)
            {
                while (_turn != sequence && _failure is null)
                {
                    Monitor.Wait(_turnGate);
                }

                if (_failure is not null)
                {
                    return false;
                }
            }

            // Only the worker whose turn it is gets here, so the stream and the counters have one user at a time; the
            // Monitor orders each turn's writes after the previous turn's.
            stream.Write(chunk.Buffer, 0, chunk.Length);
            _written += chunk.Length;
            _lines += lines;
            if (_lines < live.Count)
            {
                // The final report waits for the fsync and rename: a display at 100% means the file is in place.
                progress?.Report(new KvCopyProgress(_lines, live.Count, _written));
            }

            lock (_turnGate)
            {
                _turn++;
                Monitor.PulseAll(_turnGate);
            }

            return true;
        }
    }

    /// <summary>One worker's buffer of encoded lines.</summary>
    private sealed class ChunkEncoder
    {
        // Base64 makes 4 bytes of 3 and a line adds 30 bytes of punctuation where its frame had a header, so a chunk's
        // lines usually fit in half as much again as its frames; Append grows the buffer when they do not.
        private const int ChunkCapacity = ChunkBytes + (ChunkBytes / 2);

        public readonly KvStore.ValueVisitor Visit;
        public byte[] Buffer = ArrayPool<byte>.Shared.Rent(ChunkCapacity);
        public int Length;

        public ChunkEncoder() => Visit = Append;

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private void Append(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, RecordRef location)
        {
            int needed = KeyPrefix.Length + Base64.GetMaxEncodedToUtf8Length(key.Length) + ValuePrefix.Length +
                         Base64.GetMaxEncodedToUtf8Length(value.Length) + LineEnd.Length;
            if (Buffer.Length - Length < needed)
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(Length + needed, Buffer.Length * 2));
                Buffer.AsSpan(0, Length).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(Buffer);
                Buffer = larger;
            }

            int n = Length;
            JsonlExport.Append(Buffer, ref n, KeyPrefix);
            Base64.EncodeToUtf8(key, Buffer.AsSpan(n), out _, out int keyChars);
            n += keyChars;
            JsonlExport.Append(Buffer, ref n, ValuePrefix);
            Base64.EncodeToUtf8(value, Buffer.AsSpan(n), out _, out int valueChars);
            n += valueChars;
            JsonlExport.Append(Buffer, ref n, LineEnd);
            Length = n;
        }

        public void Return() => ArrayPool<byte>.Shared.Return(Buffer);
    }

    private static void Append(byte[] line, ref int n, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(line.AsSpan(n));
        n += bytes.Length;
    }
}
