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

    /// <summary>The pid the lock holder recorded in <c>.lock</c> (only when <see cref="Locked"/>; diagnostic).</summary>
    public int? LockHolderPid { get; set; }

    public List<string> Warnings { get; } = [];

    /// <summary>local, memory, network, possibly-network or unknown (from <see cref="FileSystemType"/>).</summary>
    public string FileSystemClass { get; set; } = "unknown";

    /// <summary>The directory's mode as four octal digits, or null where there are no Unix modes.</summary>
    public string? DirectoryMode { get; set; }

    /// <summary>Group or others may write the directory and it is not sticky (docs/design.md D19).</summary>
    public bool SharedWritableDirectory { get; set; }

    /// <summary>What is at <c>.lock</c> itself (never followed): absent, regular, fifo, symlink, directory, …</summary>
    public string LockFile { get; set; } = "absent";
}

/// <summary>
/// <c>doctor [DIR]</c>: can a store in this directory be durable? File-system type, whether fsync and
/// directory fsync work (on a uniquely named probe file, deleted afterwards), the median fsync latency,
/// free space, and whether a writer holds a store there; warnings for memory and network file systems,
/// a directory other users may write without the sticky bit (docs/design.md D19: no rename protocol is safe
/// there), and a <c>.lock</c> or segment that is not a regular file (never opened, so a FIFO cannot block
/// doctor). Exit 1 when fsync or directory fsync fails; warnings never change the exit code.
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
        InspectDirectory(findings, full);
        InspectEntries(findings, full);
        if (findings.LockFile == "regular")
        {
            try
            {
                findings.Locked = DirectoryLock.IsHeld(full);
                findings.LockHolderPid = findings.Locked ? DirectoryLock.ReadHolderProcessId(full) : null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                findings.Warnings.Add($"could not probe the lock: {e.Message}");
            }
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
        string lockState = f.Locked ? "LOCKED: a writer holds .lock" + (f.LockHolderPid is int pid ? string.Create(CultureInfo.InvariantCulture, $" (pid {pid})") : string.Empty)
            : f.LockFile is "absent" or "regular" ? "not locked"
            : $"lock state unknown (.lock is a {f.LockFile})";
        context.Field("  store:", $"{store}; {lockState}", LabelWidth);
        foreach (var warning in f.Warnings)
        {
            context.Line("  warning: " + warning);
        }
    }

    /// <summary>Adds the warnings that follow from the findings (file-system class included).</summary>
    internal static void AddWarnings(DoctorFindings f)
    {
        f.FileSystemClass = MountTable.ClassifyFileSystem(f.FileSystemType);
        switch (f.FileSystemClass)
        {
            case "memory":
                f.Warnings.Add($"{f.FileSystemType} is memory: nothing written here survives a reboot or power loss");
                break;
            case "network":
                f.Warnings.Add($"{f.FileSystemType} is a network file system: locking, fsync and atomic rename guarantees are not those of a local disk, and other clients are not bound by this host's permissions");
                break;
            case "possibly-network":
                f.Warnings.Add($"{f.FileSystemType} may be a network file system (FUSE or a host share): locking, fsync and atomic rename are whatever its implementation provides");
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

    /// <summary>
    /// docs/design.md D19: in a directory that group or others may write and that is not sticky, another user can
    /// swap a temp file for a link of their own between its fsync and its rename; nothing the writer does
    /// can prevent that. Only the store directory itself is checked (doctor requires it to exist).
    /// </summary>
    private static void InspectDirectory(DoctorFindings f, string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        UnixFileMode mode;
        try
        {
            mode = File.GetUnixFileMode(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }

        f.DirectoryMode = Convert.ToString((int)mode, 8).PadLeft(4, '0');
        if (SharedWriters(mode) is { } who)
        {
            f.SharedWritableDirectory = true;
            f.Warnings.Add(
                $"the directory is writable by {who} and not sticky (mode {f.DirectoryMode}): another user can replace a file between " +
                "its fsync and its rename, and no rename protocol (atomic writes, exports, compaction) can prevent that; " +
                "make it writable by its owner only, or set the sticky bit");
        }
    }

    /// <summary>Who besides the owner may write a directory of mode <paramref name="mode"/> when it is not sticky; null when no one.</summary>
    internal static string? SharedWriters(UnixFileMode mode)
    {
        if ((mode & UnixFileMode.StickyBit) != 0)
        {
            return null;
        }

        bool group = (mode & UnixFileMode.GroupWrite) != 0;
        bool others = (mode & UnixFileMode.OtherWrite) != 0;
        return (group, others) switch
        {
            (true, true) => "group and others",
            (true, false) => "group",
            (false, true) => "others",
            _ => null,
        };
    }

    /// <summary>
    /// Looks at <c>.lock</c> and the segment names without following or opening them: opening a FIFO for
    /// reading blocks until a writer appears, so doctor only ever opens a <c>.lock</c> that lstat calls regular.
    /// </summary>
    private static void InspectEntries(DoctorFindings f, string directory)
    {
        f.LockFile = EntryKind(Path.Combine(directory, DirectoryLock.FileName));
        if (f.LockFile is not ("absent" or "regular"))
        {
            f.Warnings.Add(
                $"`.lock` is not a regular file ({f.LockFile}): doctor did not open it and cannot tell whether a writer holds the store; " +
                "replace it with a regular file (or remove it) before opening the store");
        }

        IReadOnlyList<DirectoryEntry> entries;
        try
        {
            entries = FileSync.ListDirectory(directory);
        }
        catch (SafeAtomicException)
        {
            return;
        }

        foreach (var entry in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            if (SegmentFiles.TryParseFileName(entry.Name, out _) && entry.Kind is not (FileKind.Regular or FileKind.Missing))
            {
                f.Warnings.Add($"segment {entry.Name} is not a regular file ({KindName(entry.Kind)}): doctor did not open it; move it out of the store before opening the store");
            }
        }
    }

    /// <summary>The type of the entry at <paramref name="path"/> itself (lstat, never followed), as doctor words it.</summary>
    private static string EntryKind(string path)
    {
        try
        {
            return KindName(FileSync.GetFileKind(path));
        }
        catch (SafeAtomicException)
        {
            return "unknown";
        }
    }

    private static string KindName(FileKind kind) => kind switch
    {
        FileKind.Missing => "absent",
        FileKind.Regular => "regular",
        FileKind.Directory => "directory",
        FileKind.SymbolicLink => "symlink",
        FileKind.Fifo => "fifo",
        FileKind.Socket => "socket",
        FileKind.CharacterDevice => "character device",
        FileKind.BlockDevice => "block device",
        _ => "unknown",
    };

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

        string[] lines;
        try
        {
            lines = File.ReadAllLines("/proc/mounts");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }

        var (mountPoint, type) = MountTable.FindMount(lines, MountTable.RealPath(directory));
        if (type is not null)
        {
            f.MountPoint = mountPoint;
            f.FileSystemType = type;
        }
    }

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
