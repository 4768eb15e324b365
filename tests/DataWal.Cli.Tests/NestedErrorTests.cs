using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>
/// A failure deep in the libraries reaches the user as one message: the command's operation and the user's path
/// first, then the failing system call, with no second <c>datawal:</c> or <c>safeatomic:</c> layer naming temp files.
/// </summary>
public class NestedErrorTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-nested");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    // /proc takes no new files or directories, even for root: the open or mkdir fails with ENOENT.
    [TestCase("export", "/proc/datawal-out.jsonl", "datawal: error: export jsonl to /proc/datawal-out.jsonl: not written, an existing file was left unchanged: open /proc/..datawal-out.jsonl.")]
    [TestCase("compact", "/proc/datawal-out", "datawal: error: compact to /proc/datawal-out: create log directory: mkdir /proc/datawal-out failed: ENOENT (2)")]
    [TestCase("salvage", "/proc/datawal-out", "datawal: error: salvage STORE to /proc/datawal-out: create log directory: mkdir /proc/datawal-out failed: ENOENT (2)")]
    public void Failure_under_a_command_is_one_message_with_the_user_path_first(string command, string target, string expected)
    {
        string store = Stores.Kv(_dir, ("a", "1"));
        var r = Cli.Run(command, store, target);
        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        string line = r.Err.TrimEnd('\n');
        Assert.That(line, Does.Not.Contain("\n"), r.ToString());
        Assert.That(line, Does.StartWith(expected.Replace("STORE", store, StringComparison.Ordinal)), r.ToString());
        Assert.That(line.Split("datawal:").Length - 1, Is.EqualTo(1), "one datawal: prefix");
        Assert.That(line, Does.Not.Contain("safeatomic:"));
    }

    [Test]
    public void ErrorText_join_keeps_an_inner_message_that_already_names_the_operation()
    {
        Assert.That(ErrorText.Join("export jsonl to", "out.jsonl", "datawal: export jsonl to /abs/out.jsonl: x"), Is.EqualTo("export jsonl to /abs/out.jsonl: x"));
        Assert.That(ErrorText.Join("compact to", "/t", "datawal: create log directory /t: mkdir /t failed"), Is.EqualTo("compact to /t: create log directory: mkdir /t failed"));
        Assert.That(ErrorText.Join("compact to", "/t", "datawal: CRC mismatch at offset 3 of /t: x"), Is.EqualTo("compact to /t: CRC mismatch at offset 3 of /t: x"), "a path after a colon is not the operation's");
        Assert.That(ErrorText.Join("compact to", "/t", "something else"), Is.EqualTo("compact to /t: something else"));
    }
}

/// <summary>The progress line export, compact and salvage show on a terminal (never when stderr is redirected).</summary>
public class CopyProgressLineTests
{
    [Test]
    public void Copy_line_shows_the_percentage_the_keys_and_the_bytes()
    {
        Assert.That(CompactCommand.CopyLine("export", new Kv.KvCopyProgress(4096, 10_000, 2048)), Is.EqualTo("export:  40% 4,096/10,000 keys, 2.0 KiB written"));
        Assert.That(CompactCommand.CopyLine("compact", new Kv.KvCopyProgress(10_000, 10_000, 5)), Is.EqualTo("compact: 100% 10,000/10,000 keys, 5 B written"));
    }

    [Test]
    public void Redirected_stderr_gets_no_progress()
    {
        using var dir = new TempDir("cli-progress");
        string store = Stores.Kv(dir, [.. Enumerable.Range(0, 5000).Select(i => ($"k{i}", "v"))]);
        foreach (var args in new[] { new[] { "export", store, dir["out.jsonl"] }, ["compact", store, dir["copy"]], ["salvage", store, dir["salvaged"]], ["salvage", "--kv", store, dir["salvaged-kv"]] })
        {
            var r = Cli.RunProcess(args);
            Assert.That(r.Code, Is.Zero, r.ToString());
            Assert.That(r.Err, Is.Empty, r.ToString());
        }
    }
}
