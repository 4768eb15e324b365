using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using DataWal.Core;
using SafeAtomic;

namespace DataWal.Benchmarks;

/// <summary>Where benchmark data lives, how it is shaped, and what the machine's storage does.</summary>
public static class BenchEnv
{
    /// <summary>Environment variable naming the directory benchmark data is written under.</summary>
    public const string DirVariable = "DATAWAL_BENCH_DIR";

    /// <summary>Payload filler for record-log benchmarks (upstream: 0xAB).</summary>
    public const byte PayloadFill = 0xAB;

    /// <summary>Filler of KV values (upstream: 64 B of 0xCD).</summary>
    public const byte ValueFill = 0xCD;

    /// <summary>KV key length (upstream: 16 bytes, index little-endian in the first 8).</summary>
    public const int KeyLength = 16;

    /// <summary>
    /// The root directory: <c>$DATAWAL_BENCH_DIR</c>, else <c>&lt;system temp&gt;/datawal-bench</c>.
    /// Never point it at a tmpfs (/dev/shm): fsync there costs nothing and the numbers mean nothing.
    /// </summary>
    public static string Root { get; } = ResolveRoot();

    private static string ResolveRoot()
    {
        string? fromEnv = Environment.GetEnvironmentVariable(DirVariable);
        string dir = string.IsNullOrWhiteSpace(fromEnv) ? Path.Combine(Path.GetTempPath(), "datawal-bench") : fromEnv;
        return Path.GetFullPath(dir);
    }

    /// <summary>A fresh, not yet existing directory under <see cref="Root"/>.</summary>
    public static string NewDir(string name)
    {
        Directory.CreateDirectory(Root);
        return Path.Combine(Root, string.Create(CultureInfo.InvariantCulture, $"{name}-{Environment.ProcessId}-{Guid.NewGuid():N}"));
    }

    /// <summary>Deletes a directory tree, ignoring one that is already gone.</summary>
    public static void DeleteDir(string? dir)
    {
        if (dir is not null && Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Deletes a file if present.</summary>
    public static void DeleteFile(string? path)
    {
        if (path is not null && File.Exists(path))
        {
            File.Delete(path);
        }
    }

    /// <summary>Writes the 16-byte key of <paramref name="index"/> (index LE in the first 8 bytes, zeros after).</summary>
    public static void WriteKey(Span<byte> key, long index)
    {
        key.Clear();
        BinaryPrimitives.WriteInt64LittleEndian(key, index);
    }

    /// <summary>A new 16-byte key for <paramref name="index"/>.</summary>
    public static byte[] Key(long index)
    {
        var key = new byte[KeyLength];
        WriteKey(key, index);
        return key;
    }

    /// <summary>A buffer of <paramref name="length"/> bytes of <paramref name="fill"/>.</summary>
    public static byte[] Filled(int length, byte fill)
    {
        var bytes = new byte[length];
        bytes.AsSpan().Fill(fill);
        return bytes;
    }

    /// <summary>Creates a KV store in <paramref name="dir"/> holding keys 0..count-1 with <paramref name="value"/>; fsynced.</summary>
    public static void PopulateStore(string dir, int count, ReadOnlySpan<byte> value)
    {
        using var store = DataWal.Kv.KvStore.Open(dir);
        Span<byte> key = stackalloc byte[KeyLength];
        for (int i = 0; i < count; i++)
        {
            WriteKey(key, i);
            store.Put(key, value);
        }

        store.Fsync();
    }

    /// <summary>Creates a record log in <paramref name="dir"/> with <paramref name="count"/> Raw records per segment; fsynced.</summary>
    public static void PopulateLog(string dir, int count, int payloadSize, int segments = 1)
    {
        var payload = Filled(payloadSize, PayloadFill);
        using var log = RecordLog.Open(dir);
        for (int s = 0; s < segments; s++)
        {
            if (s > 0)
            {
                log.Rotate();
            }

            for (int i = 0; i < count; i++)
            {
                log.Append(payload);
            }
        }

        log.Fsync();
    }

    /// <summary>The mount (point, type, options) holding <paramref name="path"/>: longest mount-point prefix in /proc/mounts.</summary>
    public static (string MountPoint, string FsType, string Options) FileSystemOf(string path)
    {
        const string Mounts = "/proc/mounts";
        if (!File.Exists(Mounts))
        {
            return ("?", RuntimeInformation.OSDescription, "");
        }

        string full = Path.GetFullPath(path);
        // Resolve symbolic links on the way (e.g. /tmp -> /private/tmp) so the prefix match sees the real path.
        try
        {
            var info = new DirectoryInfo(full);
            if (info.Exists && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
            {
                full = target.FullName;
            }
        }
        catch (IOException)
        {
        }

        (string MountPoint, string FsType, string Options) best = ("/", "?", "");
        int bestLength = -1;
        foreach (string line in File.ReadLines(Mounts))
        {
            string[] fields = line.Split(' ');
            if (fields.Length < 4)
            {
                continue;
            }

            string mountPoint = Unescape(fields[1]);
            bool matches = mountPoint == "/"
                || full == mountPoint
                || full.StartsWith(mountPoint.TrimEnd('/') + "/", StringComparison.Ordinal);
            // Later lines over-mount earlier ones at the same point, so ">=".
            if (matches && mountPoint.Length >= bestLength)
            {
                best = (mountPoint, fields[2], fields[3]);
                bestLength = mountPoint.Length;
            }
        }

        return best;
    }

    /// <summary>/proc/mounts escapes space, tab, newline and backslash as \ooo octal.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var sb = new System.Text.StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                sb.Append((char)(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) | (field[i + 3] - '0')));
                i += 3;
            }
            else
            {
                sb.Append(field[i]);
            }
        }

        return sb.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';

    /// <summary>
    /// Raw fsync latency of the bench directory: <paramref name="samples"/> × (write 64 B at the end of a
    /// file + <see cref="FileSync.Fsync"/>), in microseconds: median, p10, p90.
    /// </summary>
    public static (double Median, double P10, double P90) RawFsyncLatency(int samples = 200)
    {
        string dir = NewDir("fsync-probe");
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "probe.bin");
            var data = Filled(64, PayloadFill);
            var micros = new double[samples];
            using (var handle = FileSync.Open(path, FileMode.CreateNew, FileAccess.Write))
            {
                long offset = 0;
                for (int i = 0; i < samples; i++)
                {
                    long start = Stopwatch.GetTimestamp();
                    FileSync.Write(handle, data, offset);
                    FileSync.Fsync(handle);
                    micros[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                    offset += data.Length;
                }
            }

            Array.Sort(micros);
            return (Percentile(micros, 0.5), Percentile(micros, 0.1), Percentile(micros, 0.9));
        }
        finally
        {
            DeleteDir(dir);
        }
    }

    /// <summary>The contents of /proc/loadavg (1, 5 and 15 min load averages, runnable/total tasks, last pid), or "?".</summary>
    public static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?";

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        int index = (int)Math.Clamp(Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1);
        return sorted[index];
    }

    /// <summary>Prints where data goes, its filesystem and the raw fsync latency.</summary>
    public static void PrintHeader(TextWriter output)
    {
        Directory.CreateDirectory(Root);
        var (mountPoint, fsType, options) = FileSystemOf(Root);
        output.WriteLine($"# DataWal benchmarks — .NET {Environment.Version}, {RuntimeInformation.OSDescription}, {Environment.ProcessorCount} cores");
        output.WriteLine($"# bench dir: {Root} (set {DirVariable} to change)");
        output.WriteLine($"# filesystem: {fsType} on {mountPoint} ({options})");
        if (fsType is "tmpfs" or "ramfs")
        {
            output.WriteLine("# WARNING: the bench dir is on a RAM filesystem: fsync is free there and the fsync figures are meaningless.");
        }

        var (median, p10, p90) = RawFsyncLatency();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# raw fsync (write 64 B + fsync, 200 samples): median {median:F1} µs, p10 {p10:F1} µs, p90 {p90:F1} µs"));
        output.Flush();
    }
}
