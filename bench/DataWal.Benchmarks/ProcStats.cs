using System.Diagnostics.Metrics;
using System.Globalization;
using DataWal.Core;
using DataWal.Kv;

namespace DataWal.Benchmarks;

/// <summary>What the soak and compaction modes sample: /proc/self figures, a store directory's size, completed compactions.</summary>
internal static class ProcStats
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>A field of /proc/self/status in kB (VmRSS, VmHWM, ...), or -1 when there is none.</summary>
    public static long StatusKb(string name)
    {
        const string Status = "/proc/self/status";
        if (!File.Exists(Status))
        {
            return -1;
        }

        foreach (string line in File.ReadLines(Status))
        {
            if (line.StartsWith(name + ":", StringComparison.Ordinal))
            {
                return long.Parse(line[(name.Length + 1)..].Trim().Split(' ')[0], Inv);
            }
        }

        return -1;
    }

    /// <summary>Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs; Linux ≥ 4.0). False when not possible.</summary>
    public static bool ResetPeakRss()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Open file descriptors: entries of /proc/self/fd (the enumeration's own descriptor included), or -1.</summary>
    public static int OpenFds()
    {
        try
        {
            return Directory.GetFileSystemEntries("/proc/self/fd").Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    /// <summary>Sum of the sizes of all files in <paramref name="dir"/> (not recursive; files deleted meanwhile are skipped).</summary>
    public static long DirectoryBytes(string dir)
    {
        long total = 0;
        foreach (var file in new DirectoryInfo(dir).EnumerateFiles())
        {
            try
            {
                total += file.Length;
            }
            catch (FileNotFoundException)
            {
            }
        }

        return total;
    }

    /// <summary>Segment files (<c>*.dwal</c>) in <paramref name="dir"/>.</summary>
    public static int SegmentCount(string dir) => SegmentFiles.List(dir).Count;

    public static void ForceGc()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    public static string Mib(long bytes) => string.Create(Inv, $"{bytes / (1024.0 * 1024.0):F1}");
}

/// <summary>
/// Counts completed compactions through the store's public metrics: the <c>datawal.kv.compaction.duration</c>
/// histogram of the <see cref="KvDiagnostics.MeterName"/> meter records once per completed compaction
/// (in place and <c>CompactTo</c>).
/// </summary>
internal sealed class CompactionCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly object _gate = new();
    private readonly List<double> _durations = [];
    private long _bytesWritten;

    public CompactionCounter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == KvDiagnostics.MeterName
                && instrument.Name is KvDiagnostics.CompactionDuration or KvDiagnostics.CompactionBytes)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            lock (_gate)
            {
                _durations.Add(value);
            }
        });
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => Interlocked.Add(ref _bytesWritten, value));
        _listener.Start();
    }

    /// <summary>Completed compactions so far.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _durations.Count;
            }
        }
    }

    /// <summary>Durations in seconds of the completed compactions, in order.</summary>
    public double[] Durations
    {
        get
        {
            lock (_gate)
            {
                return [.. _durations];
            }
        }
    }

    /// <summary>Frame bytes the completed compactions wrote.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    public void Dispose() => _listener.Dispose();
}
