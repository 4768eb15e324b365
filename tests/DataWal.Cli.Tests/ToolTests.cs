using System.Text.RegularExpressions;
using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary><c>--help</c>, <c>--version</c>, <c>demo</c>, <c>doctor</c>, and no progress output when stderr is not a terminal.</summary>
public class ToolTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-tool");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public void Help_lists_every_command_and_examples()
    {
        var r = Cli.Run("--help");
        Assert.That(r.Code, Is.Zero);
        foreach (var command in new[] { "scan", "get", "report", "verify", "dump", "check", "export", "compact", "truncate", "salvage", "demo", "doctor" })
        {
            Assert.That(r.Out, Does.Contain("  " + command + " "), command);
        }

        Assert.That(r.Out, Does.Contain("Examples:"));
        Assert.That(r.Err, Is.Empty);
    }

    [TestCase("scan")]
    [TestCase("get")]
    [TestCase("report")]
    [TestCase("verify")]
    [TestCase("dump")]
    [TestCase("check")]
    [TestCase("export")]
    [TestCase("compact")]
    [TestCase("truncate")]
    [TestCase("salvage")]
    [TestCase("demo")]
    [TestCase("doctor")]
    public void Every_command_has_help_with_examples(string command)
    {
        var r = Cli.Run(command, "--help");
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Out, Does.Contain("Usage:").And.Contain("Examples:").And.Contain("datawal " + command));
    }

    [Test]
    public void Version_prints_the_tool_version()
    {
        var r = Cli.Run("--version");
        Assert.That(r.Code, Is.Zero);
        Assert.That(r.Out, Does.Match(@"^datawal \d+\.\d+\.\d+\S*\n$"));
    }

    [Test]
    public void Parse_errors_are_one_line_messages_on_stderr_with_exit_1()
    {
        var r = Cli.Run("scan", _dir.Path, "--bogus");
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(r.Out, Is.Empty);
        Assert.That(r.Err, Does.StartWith("datawal: error: "));
        Assert.That(r.Err, Does.Contain("--bogus"));
    }

    [Test]
    public void Demo_runs_end_to_end_in_a_given_directory_and_keeps_it()
    {
        string dir = _dir["demo"];
        var r = Cli.Run("demo", dir);
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Out, Does.Contain("crash").And.Contain("torn tail").And.Contain("compact").And.Contain("export"));
        Assert.That(r.Out, Does.Contain("nothing changed on disk"));
        Assert.That(r.Out, Does.Contain("user:1 = \"alice v2\""));
        Assert.That(Directory.Exists(Path.Combine(dir, "store")), Is.True);
        Assert.That(File.ReadAllLines(Path.Combine(dir, "export.jsonl")), Has.Length.EqualTo(3));

        // The demo's store is a healthy store afterwards (the torn tail was cut by the writer reopen).
        var verify = Cli.Run("verify", Path.Combine(dir, "store"));
        Assert.That(verify.Code, Is.Zero, verify.ToString());
        using var kv = KvStore.OpenReadOnly(Path.Combine(dir, "store"));
        Assert.That(kv.Get("user:3"u8), Is.EqualTo("carol"u8.ToArray()));
        using var compacted = KvStore.OpenReadOnly(Path.Combine(dir, "store.compacted"));
        Assert.That(compacted.Count, Is.EqualTo(3));
    }

    [Test]
    public void Demo_in_a_temporary_directory_removes_it()
    {
        var r = Cli.Run("demo");
        Assert.That(r.Code, Is.Zero, r.ToString());
        var match = Regex.Match(r.Out, "^datawal demo in (.+)$", RegexOptions.Multiline);
        Assert.That(match.Success, Is.True);
        Assert.That(Directory.Exists(match.Groups[1].Value), Is.False);
    }

    [Test]
    public void Demo_refuses_a_non_empty_directory()
    {
        File.WriteAllText(_dir["mine.txt"], "x");
        var r = Cli.Run("demo", _dir.Path);
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(r.Err, Does.Contain("not empty"));
        Assert.That(_dir.Entries(), Is.EqualTo(new[] { "mine.txt" }));
    }

    [Test]
    public void Doctor_reports_file_system_fsync_free_space_and_lock()
    {
        var r = Cli.Run("doctor", _dir.Path);
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Out, Does.Contain("filesystem:").And.Contain("fsync:         ok").And.Contain("dir fsync:     ok"));
        Assert.That(r.Out, Does.Contain("fsync latency:").And.Contain("free space:").And.Contain("not locked"));
        Assert.That(_dir.Entries(), Is.Empty, "the probe file is removed");

        var json = Cli.Run("--json", "doctor", _dir.Path).Json.Single();
        string fsType = json.GetProperty("fs_type").GetString()!;
        Assert.That(fsType, Is.Not.Empty);
        if (OperatingSystem.IsLinux())
        {
            Assert.That(fsType, Is.Not.EqualTo("unknown"));
        }

        Assert.That(json.GetProperty("fsync_ok").GetBoolean(), Is.True);
        Assert.That(json.GetProperty("fsync_samples").GetInt32(), Is.EqualTo(20));
        Assert.That(json.GetProperty("fsync_median_us").GetDouble(), Is.GreaterThan(0));
        Assert.That(json.GetProperty("locked").GetBoolean(), Is.False);
        Assert.That(json.GetProperty("free_bytes").GetInt64(), Is.GreaterThan(0));
    }

    [Test]
    public void Doctor_sees_a_lock_held_in_this_process()
    {
        string store = _dir["store"];
        using var log = RecordLog.Open(store);
        var json = Cli.Run("--json", "doctor", store).Json.Single();
        Assert.That(json.GetProperty("locked").GetBoolean(), Is.True);
        Assert.That(json.GetProperty("segments").GetInt32(), Is.EqualTo(1));
        Assert.That(json.GetProperty("lock_holder_pid").GetInt32(), Is.EqualTo(Environment.ProcessId));
        Assert.That(Cli.Run("doctor", store).Out, Does.Contain($"LOCKED: a writer holds .lock (pid {Environment.ProcessId})"));
    }

    [Test]
    public void Doctor_warns_about_tmpfs()
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/dev/shm"))
        {
            Assert.Ignore("needs /dev/shm");
        }

        var json = Cli.Run("--json", "doctor", "/dev/shm").Json.Single();
        if (json.GetProperty("fs_type").GetString() != "tmpfs")
        {
            Assert.Ignore("/dev/shm is not tmpfs here");
        }

        Assert.That(json.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()), Has.Some.Contains("tmpfs is memory"));
    }

    [Test]
    public void Doctor_on_a_missing_directory_is_exit_1()
    {
        var r = Cli.Run("doctor", _dir["missing"]);
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(r.Err, Does.Contain("directory not found"));
        Assert.That(Path.Exists(_dir["missing"]), Is.False);
    }

    [Test]
    public void No_progress_output_when_stderr_is_not_a_terminal()
    {
        string store = Stores.Kv(_dir, ("a", "1"), ("b", "2"));
        foreach (var args in new[] { new[] { "verify", store }, ["check", store], ["export", store, _dir["x.jsonl"]], ["compact", store, _dir["x.c"]] })
        {
            var r = Cli.Run(args);
            Assert.That(r.Code, Is.Zero, r.ToString());
            Assert.That(r.Err, Is.Empty, string.Join(' ', args));
            Assert.That(r.Out, Does.Not.Contain("\r"));
        }
    }
}
