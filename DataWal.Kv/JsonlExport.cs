using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using SafeAtomic;

namespace DataWal.Kv;

/// <summary>
/// <see cref="KvStore.ExportJsonl"/>: one line <c>{"key_b64":"…","value_b64":"…"}\n</c> per live key,
/// bytewise key order, standard padded base64 — written through <see cref="AtomicFile"/> as a stream, so
/// readers and crashes see the old file or the whole new one, and the file is never built in memory.
/// </summary>
internal static class JsonlExport
{
    private static ReadOnlySpan<byte> KeyPrefix => "{\"key_b64\":\""u8;

    private static ReadOnlySpan<byte> ValuePrefix => "\",\"value_b64\":\""u8;

    private static ReadOnlySpan<byte> LineEnd => "\"}\n"u8;

    public static void Run(KvStore source, string outPath, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(outPath);
        long started = Stopwatch.GetTimestamp();
        string full = Path.GetFullPath(outPath);
        using var stable = source.EnterStableLocations();
        var live = source.Snapshot(sorted: true);
        long bytes = 0;
        try
        {
            AtomicFile.CreateDirectories(Path.GetDirectoryName(full)!);
            AtomicFile.WriteAtomic(full, stream => bytes = WriteLines(source, live, stream, cancellationToken));
        }
        catch (SafeAtomicException e)
        {
            // The SafeAtomic exception (inner) tells whether the old file is intact or the new one is
            // in place but not confirmed durable.
            throw ThrowHelper.ExportJsonlFailed(full, e);
        }

        KvTelemetry.Exported(source.Directory, full, live.Count, bytes, Stopwatch.GetElapsedTime(started));
    }

    /// <returns>The number of bytes written.</returns>
    private static long WriteLines(KvStore source, List<(byte[] Key, DataWal.Core.RecordRef Ref)> live, Stream stream, CancellationToken cancellationToken)
    {
        long written = 0;
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
