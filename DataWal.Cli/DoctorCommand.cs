using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using DataWal.Core;
using SafeAtomic;

namespace DataWal.Cli;

/// <summary>What <c>doctor</c> found about a directory.</summary>
internal sealed class DoctorFindings
{
    public required string Directory { get; init; }

    public string FileSystemType { get; set; } = "unknown";

    public string? MountPoint { get; set; }

    public string? FsyncError { get; set; }

    public string? DirectoryFsyncError { get; set; }

    public double? FsyncMedianMicroseconds { get; set; }

    public int FsyncSamples { get; set; }

    public long? FreeBytes { get; set; }

    public int Segments { get; set; }

    public bool Locked { get; set; }

    public List<string> Warnings { get; } = [];
}

/// <summary>
/// <c>doctor [DIR]</c>: can a store in this directory be durable? File-system type, whether fsync and
/// directory fsync work (on a uniquely named probe file, deleted afterwards), the median fsync latency,
/// free space, and whether a writer holds a store there. Exit 1 when fsync or directory fsync fails.
/// </summary>
internal static class DoctorCommand
{
    private const int Samples = 20;
    private const double ImplausiblyFastMicroseconds = 50;
    private const int LabelWidth = 17;

    public static Command Create(App app)
    {
        var dir = new Argument<string?>("dir")
        {
            Description = "The directory to examine (default: the current directory). A probe file is created in it and deleted.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command("doctor", "Check that a directory can hold a durable store: file system, fsync, directory fsync, fsync latency, free space, lock.") { dir };
        app.Bind(
            command,
            (parse, context) => Run(context, parse.GetValue(dir) ?? Directory.GetCurrentDirectory()),
            "datawal doctor",
            "datawal doctor /var/lib/myapp/store",
            "datawal --json doctor /mnt/data");
        return command;
    }

    public static int Run(CliContext context, string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new CliException(File.Exists(directory) ? $"not a directory: {directory}" : $"directory not found: {directory}");
        }

        string full = Path.GetFullPath(directory);
        var findings = new DoctorFindings { Directory = full };
        DetectFileSystem(findings, full);
        Probe(findings, full);
        try
        {
            findings.FreeBytes = new DriveInfo(full).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            findings.FreeBytes = null;
        }

        findings.Segments = SegmentFiles.List(full).Count;
        try
        {
            findings.Locked = DirectoryLock.IsHeld(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            findings.Warnings.Add($"could not probe the lock: {e.Message}");
        }

        AddWarnings(findings);
        if (context.Json)
        {
            context.Line(JsonLines.Doctor(findings));
        }
        else
        {
            PrintHuman(context, findings);
        }

        return findings.FsyncError is null && findings.DirectoryFsyncError is null ? ExitCodes.Ok : ExitCodes.Error;
    }

    private static void PrintHuman(CliContext context, DoctorFindings f)
    {
        context.Line($"datawal doctor: {f.Directory}");
        context.Field("  filesystem:", f.MountPoint is null ? f.FileSystemType : $"{f.FileSystemType} (mounted at {f.MountPoint})", LabelWidth);
        context.Field("  fsync:", f.FsyncError is null ? "ok" : "FAILED: " + f.FsyncError, LabelWidth);
        context.Field("  dir fsync:", f.DirectoryFsyncError is null ? "ok" : "FAILED: " + f.DirectoryFsyncError, LabelWidth);
        context.Field(
            "  fsync latency:",
            f.FsyncMedianMicroseconds is double median
                ? string.Create(CultureInfo.InvariantCulture, $"{FormatMicroseconds(median)} median of {f.FsyncSamples} fsyncs of 64-byte appends")
                : "not measured",
            LabelWidth);
        context.Field("  free space:", f.FreeBytes is long free ? FormatBytes(free) : "unknown", LabelWidth);
        string store = f.Segments == 0 ? "no segment files" : $"{f.Segments} segment file{(f.Segments == 1 ? "" : "s")}";
        context.Field("  store:", $"{store}; {(f.Locked ? "LOCKED: a writer holds .lock" : "not locked")}", LabelWidth);
        foreach (var warning in f.Warnings)
        {
            context.Line("  warning: " + warning);
        }
    }

    private static void AddWarnings(DoctorFindings f)
    {
        switch (f.FileSystemType)
        {
            case "tmpfs":
            case "ramfs":
                f.Warnings.Add($"{f.FileSystemType} is memory: nothing written here survives a reboot or power loss");
                break;
            case "nfs":
            case "nfs4":
            case "cifs":
            case "smb3":
            case "9p":
                f.Warnings.Add($"{f.FileSystemType} is a network file system: locking and fsync guarantees are not those of a local disk");
                break;
        }

        if (f.FsyncMedianMicroseconds is double median && median < ImplausiblyFastMicroseconds)
        {
            f.Warnings.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"fsync took {FormatMicroseconds(median)}: implausibly fast for stable storage (tmpfs or a volatile write cache); fsynced data may not survive a power loss unless the drive has power-loss protection"));
        }

        if (f.FreeBytes is long free && free < 1L << 30)
        {
            f.Warnings.Add($"low free space ({FormatBytes(free)}): a full disk fails appends and poisons the writer");
        }
    }

    /// <summary>Creates a probe file, writes, fsyncs it and the directory, times fsyncs, and deletes it.</summary>
    private static void Probe(DoctorFindings f, string directory)
    {
        string probe = Path.Combine(directory, $".datawal-doctor-{Environment.ProcessId}-{Guid.NewGuid():N}.probe");
        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        try
        {
            handle = FileSync.Open(probe, FileMode.CreateNew, FileAccess.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            f.FsyncError = $"cannot create a probe file: {e.Message}";
            f.DirectoryFsyncError = f.FsyncError;
            return;
        }

        try
        {
            using (handle)
            {
                var chunk = Encoding.ASCII.GetBytes(new string('d', 63) + "\n");
                long offset = 0;
                try
                {
                    FileSync.Write(handle, chunk, offset);
                    offset += chunk.Length;
                    FileSync.Fsync(handle);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    f.FsyncError = e.Message;
                }

                try
                {
                    FileSync.FsyncDirectory(directory);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException)
                {
                    f.DirectoryFsyncError = e.Message;
                }

                if (f.FsyncError is null)
                {
                    var times = new List<double>(Samples);
                    for (int i = 0; i < Samples; i++)
                    {
                        FileSync.Write(handle, chunk, offset);
                        offset += chunk.Length;
                        long start = Stopwatch.GetTimestamp();
                        FileSync.Fsync(handle);
                        times.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
                    }

                    times.Sort();
                    f.FsyncSamples = times.Count;
                    f.FsyncMedianMicroseconds = (times[(times.Count - 1) / 2] + times[times.Count / 2]) / 2;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            f.FsyncError ??= e.Message;
        }
        finally
        {
            try
            {
                File.Delete(probe);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                f.Warnings.Add($"could not delete the probe file {probe}: {e.Message}");
            }
        }
    }

    /// <summary>Linux: the entry of /proc/mounts whose mount point is the longest prefix of the (symlink-resolved) path.</summary>
    private static void DetectFileSystem(DoctorFindings f, string directory)
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/mounts"))
        {
            return;
        }

        string path = RealPath(directory);
        string[] lines;
        try
        {
            lines = File.ReadAllLines("/proc/mounts");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }

        int best = -1;
        foreach (var line in lines)
        {
            var parts = line.Split(' ');
            if (parts.Length < 3)
            {
                continue;
            }

            string mountPoint = Unescape(parts[1]);
            bool covers = mountPoint == "/" || path == mountPoint || path.StartsWith(mountPoint.TrimEnd('/') + "/", StringComparison.Ordinal);
            if (covers && mountPoint.Length >= best)
            {
                // Later entries mount over earlier ones at the same point: >= keeps the last.
                best = mountPoint.Length;
                f.MountPoint = mountPoint;
                f.FileSystemType = parts[2];
            }
        }
    }

    /// <summary>Resolves symbolic links component by component (like realpath(3)), best effort.</summary>
    private static string RealPath(string path)
    {
        string current = Path.GetPathRoot(path) ?? "/";
        foreach (var part in path[current.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string next = Path.Combine(current, part);
            try
            {
                var info = new DirectoryInfo(next);
                if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                {
                    next = Path.GetFullPath(target.FullName);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }

            current = next;
        }

        return current;
    }

    /// <summary>/proc/mounts escapes space, tab, newline and backslash as \ooo octal.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var text = new StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                text.Append((char)(((field[i + 1] - '0') * 64) + ((field[i + 2] - '0') * 8) + (field[i + 3] - '0')));
                i += 3;
            }
            else
            {
                text.Append(field[i]);
            }
        }

        return text.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';

    private static string FormatMicroseconds(double us) => us >= 1000
        ? string.Create(CultureInfo.InvariantCulture, $"{us / 1000:0.00} ms")
        : string.Create(CultureInfo.InvariantCulture, $"{us:0.0} µs");

    private static string FormatBytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]} ({bytes:N0} bytes)");
    }
}
