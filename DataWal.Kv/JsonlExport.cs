using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
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
    private static long WriteLines(KvStore source, KeySnapshot live, Stream stream, IProgress<KvCopyProgress>? progress, CancellationToken cancellationToken)
    {
        long written = 0;
        long lines = 0;
        byte[] line = ArrayPool<byte>.Shared.Rent(128 * 1024);
        try
        {
            source.ReadValues(
                live,
                (key, value, location) =>
                {
                    int needed = KeyPrefix.Length + Base64.GetMaxEncodedToUtf8Length(key.Length) + ValuePrefix.Length +
                                 Base64.GetMaxEncodedToUtf8Length(value.Length) + LineEnd.Length;
                    if (line.Length < needed)
                    {
                        ArrayPool<byte>.Shared.Return(line);
                        line = ArrayPool<byte>.Shared.Rent(needed);
                    }

                    int n = 0;
                    Append(line, ref n, KeyPrefix);
                    Base64.EncodeToUtf8(key, line.AsSpan(n), out _, out int keyChars);
                    n += keyChars;
                    Append(line, ref n, ValuePrefix);
                    Base64.EncodeToUtf8(value, line.AsSpan(n), out _, out int valueChars);
                    n += valueChars;
                    Append(line, ref n, LineEnd);
                    stream.Write(line, 0, n);
                    written += n;
                    if (++lines % Compaction.ProgressEvery == 0)
                    {
                        // The final report waits for the fsync and rename: a display at 100% means the file is in place.
                        progress?.Report(new KvCopyProgress(lines, live.Count, written));
                    }
                },
                cancellationToken);
            return written;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(line);
        }
    }

    private static void Append(byte[] line, ref int n, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(line.AsSpan(n));
        n += bytes.Length;
    }
}
