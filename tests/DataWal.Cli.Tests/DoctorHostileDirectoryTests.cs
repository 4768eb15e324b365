using System.Diagnostics;
using System.Text.Json;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>
/// <c>doctor</c> in a hostile directory (docs/design.md D19): it never blocks on a non-regular <c>.lock</c> or
/// segment, and warns about a directory other users may write without the sticky bit, and about a store
/// on a network file system.
/// </summary>
public class DoctorHostileDirectoryTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-doctor");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    // ---------------------------------------------------------------- non-regular .lock and segments

    [Test]
    public void A_fifo_at_lock_is_reported_within_10_seconds_and_never_opened()
    {
        RequireUnix();
        string store = Store();
        MakeFifo(Path.Combine(store, ".lock"));

        var r = RunDoctorProcess("--json", "doctor", store);

        Assert.That(r.Code, Is.Zero, r.ToString());
        var json = r.Json.Single();
        Assert.That(json.GetProperty("lock_file").GetString(), Is.EqualTo("fifo"));
        Assert.That(json.GetProperty("locked").GetBoolean(), Is.False);
        Assert.That(Warnings(json), Has.Some.Contains("`.lock` is not a regular file (fifo)"));
    }

    [Test]
    public void A_fifo_at_lock_is_reported_in_human_output_too()
    {
        RequireUnix();
        string store = Store();
        MakeFifo(Path.Combine(store, ".lock"));

        var r = RunDoctorProcess("doctor", store);

        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Out, Does.Contain("warning: `.lock` is not a regular file (fifo)"));
    }

    [TestCase("symlink")]
    [TestCase("directory")]
    public void A_non_regular_lock_is_reported_and_not_probed(string kind)
    {
        RequireUnix();
        string store = Store();
        string lockPath = Path.Combine(store, ".lock");
        if (kind == "symlink")
        {
            File.WriteAllText(_dir["elsewhere"], "");
            File.CreateSymbolicLink(lockPath, _dir["elsewhere"]);
        }
        else
        {
            Directory.CreateDirectory(lockPath);
        }

        var json = RunDoctorProcess("--json", "doctor", store).Json.Single();

        Assert.That(json.GetProperty("lock_file").GetString(), Is.EqualTo(kind));
        Assert.That(Warnings(json), Has.Some.Contains($"`.lock` is not a regular file ({kind})"));
    }

    [Test]
    public void A_regular_lock_and_no_lock_are_not_warned_about()
    {
        RequireUnix();
        string store = Store();
        var absent = Cli.Run("--json", "doctor", store).Json.Single();
        File.WriteAllText(Path.Combine(store, ".lock"), "");
        var regular = Cli.Run("--json", "doctor", store).Json.Single();

        Assert.That(absent.GetProperty("lock_file").GetString(), Is.EqualTo("absent"));
        Assert.That(regular.GetProperty("lock_file").GetString(), Is.EqualTo("regular"));
        Assert.That(Warnings(absent).Concat(Warnings(regular)), Has.None.Contains(".lock"));
    }

    [Test]
    public void A_fifo_named_like_a_segment_is_reported_within_10_seconds()
    {
        RequireUnix();
        string store = Store();
        MakeFifo(Path.Combine(store, "00000002.dwal"));

        var r = RunDoctorProcess("--json", "doctor", store);

        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(Warnings(r.Json.Single()), Has.Some.Contains("segment 00000002.dwal is not a regular file (fifo)"));
    }

    // ---------------------------------------------------------------- directory others may write

    [TestCase("777", "group and others")]
    [TestCase("757", "others")]
    [TestCase("775", "group")]
    public void A_directory_others_may_write_without_the_sticky_bit_is_warned_about(string octal, string who)
    {
        RequireUnix();
        string store = Store();
        SetMode(store, Mode(octal));

        var r = Cli.Run("--json", "doctor", store);
        var human = Cli.Run("doctor", store);

        Assert.That(r.Code, Is.Zero, r.ToString());
        var json = r.Json.Single();
        Assert.That(json.GetProperty("dir_mode").GetString(), Is.EqualTo("0" + octal));
        Assert.That(json.GetProperty("dir_shared_writable").GetBoolean(), Is.True);
        Assert.That(Warnings(json), Has.Some.Contains($"writable by {who} and not sticky"));
        Assert.That(human.Out, Does.Contain($"writable by {who} and not sticky").And.Contain("no rename protocol"));
    }

    [TestCase("1777")]
    [TestCase("755")]
    [TestCase("700")]
    public void A_sticky_or_owner_writable_directory_is_not_warned_about(string octal)
    {
        RequireUnix();
        string store = Store();
        SetMode(store, Mode(octal));

        var json = Cli.Run("--json", "doctor", store).Json.Single();

        Assert.That(json.GetProperty("dir_mode").GetString(), Is.EqualTo(octal.PadLeft(4, '0')));
        Assert.That(json.GetProperty("dir_shared_writable").GetBoolean(), Is.False);
        Assert.That(Warnings(json), Has.None.Contains("not sticky"));
    }

    // ---------------------------------------------------------------- network file systems

    private const string FakeMounts =
        "/dev/sda1 / ext4 rw,relatime 0 0\n" +
        "tmpfs /dev/shm tmpfs rw 0 0\n" +
        "server:/export /mnt/data nfs4 rw,vers=4.2 0 0\n" +
        "//nas/share /mnt/data/smb cifs rw 0 0\n" +
        "user@host:/ /mnt/with\\040space fuse.sshfs rw 0 0\n" +
        "gluster:/vol /mnt/g fuse.glusterfs rw 0 0\n" +
        "mystery /mnt/fuse fuse.mystery rw 0 0\n" +
        "/dev/sdb1 /mnt/ntfs fuseblk rw 0 0\n" +
        "ceph:/ /mnt/ceph ceph rw 0 0\n";

    [TestCase("/mnt/data/store", "/mnt/data", "nfs4", "network")]
    [TestCase("/mnt/data", "/mnt/data", "nfs4", "network")]
    [TestCase("/mnt/database", "/", "ext4", "local")]
    [TestCase("/mnt/data/smb/x", "/mnt/data/smb", "cifs", "network")]
    [TestCase("/mnt/with space/store", "/mnt/with space", "fuse.sshfs", "network")]
    [TestCase("/mnt/g/s", "/mnt/g", "fuse.glusterfs", "network")]
    [TestCase("/mnt/fuse/s", "/mnt/fuse", "fuse.mystery", "possibly-network")]
    [TestCase("/mnt/ntfs/s", "/mnt/ntfs", "fuseblk", "local")]
    [TestCase("/mnt/ceph/s", "/mnt/ceph", "ceph", "network")]
    [TestCase("/dev/shm/s", "/dev/shm", "tmpfs", "memory")]
    public void The_mount_of_a_path_is_the_longest_covering_mount_point_and_is_classified(string path, string mountPoint, string type, string kind)
    {
        var (foundMount, foundType) = MountTable.FindMount(FakeMounts.Split('\n'), path);

        Assert.That(foundMount, Is.EqualTo(mountPoint));
        Assert.That(foundType, Is.EqualTo(type));
        Assert.That(MountTable.ClassifyFileSystem(type), Is.EqualTo(kind));
    }

    [TestCase("nfs")]
    [TestCase("smb3")]
    [TestCase("smbfs")]
    [TestCase("9p")]
    [TestCase("afs")]
    [TestCase("ceph")]
    [TestCase("fuse.sshfs")]
    public void Doctor_warns_about_a_network_file_system(string type)
    {
        var findings = new DoctorFindings { Directory = "/mnt/x", FileSystemType = type };

        DoctorCommand.AddWarnings(findings);

        Assert.That(findings.FileSystemClass, Is.EqualTo("network"));
        Assert.That(findings.Warnings, Has.Some.Contains($"{type} is a network file system"));
    }

    [Test]
    public void Doctor_says_a_fuse_file_system_may_be_on_a_network()
    {
        var findings = new DoctorFindings { Directory = "/mnt/x", FileSystemType = "fuse.mystery" };

        DoctorCommand.AddWarnings(findings);

        Assert.That(findings.FileSystemClass, Is.EqualTo("possibly-network"));
        Assert.That(findings.Warnings, Has.Some.Contains("fuse.mystery may be a network file system"));
    }

    [Test]
    public void The_json_line_carries_the_file_system_class()
    {
        var json = Cli.Run("--json", "doctor", _dir.Path).Json.Single();
        string type = json.GetProperty("fs_type").GetString()!;

        Assert.That(json.GetProperty("fs_class").GetString(), Is.EqualTo(MountTable.ClassifyFileSystem(type)));
        if (OperatingSystem.IsLinux())
        {
            Assert.That(json.GetProperty("fs_class").GetString(), Is.Not.EqualTo("unknown"));
        }
    }

    // ---------------------------------------------------------------- helpers

    private string Store()
    {
        string store = _dir["store"];
        Directory.CreateDirectory(store);
        SetMode(store, Mode("755"));
        return store;
    }

    private static void RequireUnix()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Ignore("Unix-only: FIFOs, symlinks and permission bits");
        }
    }

    private static UnixFileMode Mode(string octal) => (UnixFileMode)Convert.ToInt32(octal, 8);

    private static void SetMode(string path, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }
    }

    private static void MakeFifo(string path)
    {
        int rc = Mono.Unix.Native.Syscall.mkfifo(path, Mono.Unix.Native.FilePermissions.S_IRUSR | Mono.Unix.Native.FilePermissions.S_IWUSR);
        Assert.That(rc, Is.Zero, "mkfifo " + path);
    }

    private static IEnumerable<string> Warnings(JsonElement json) =>
        json.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!);

    /// <summary>
    /// Runs the real tool in a child process and kills it after 10 seconds, so a doctor that blocks on a
    /// FIFO fails the test instead of hanging the suite.
    /// </summary>
    private static CliResult RunDoctorProcess(params string[] args)
    {
        var psi = new ProcessStartInfo(ChildProcess.DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Cli.Dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Patience))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"datawal {string.Join(' ', args)} did not finish within {Patience.TotalSeconds} s (blocked on a non-regular file?)");
        }

        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}
