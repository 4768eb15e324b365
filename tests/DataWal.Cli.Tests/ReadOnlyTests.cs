using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>
/// docs/design.md D12: inspection is read-only for real. Every file is hashed and the directory listed before
/// and after each command — nothing may change; a missing store creates nothing; a live writer in another
/// process does not stop inspection.
/// </summary>
public class ReadOnlyTests
{
    private static readonly string[][] Inspections =
    [
        ["scan"], ["--json", "scan"], ["scan", "--limit", "1"], ["report"], ["--json", "report"], ["verify"],
        ["dump"], ["--json", "dump"], ["check"], ["--json", "check"], ["get", "--key", "alpha"], ["get", "--key", "keep"],
        ["report", "--space"], ["--json", "report", "--space"],
    ];

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-ro");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static string[] With(string[] command, string store)
    {
        // The store goes right after the command name (options may follow it).
        var args = command.ToList();
        int at = args.FindIndex(a => !a.StartsWith("--", StringComparison.Ordinal)) + 1;
        args.Insert(at, store);
        return [.. args];
    }

    [Test]
    public void Inspection_changes_no_byte_and_creates_nothing_on_any_fixture()
    {
        foreach (var fixture in Corpus.Folders)
        {
            string store = Corpus.Copy(_dir, fixture);
            var before = DirectorySnapshot.Capture(_dir.Path);
            foreach (var command in Inspections)
            {
                var r = Cli.Run(With(command, store));
                Assert.That(r.Code, Is.AnyOf(0, 2, 3), $"{fixture}: {string.Join(' ', command)}\n{r}");
                Assert.That(DirectorySnapshot.Capture(_dir.Path), Is.EqualTo(before), $"{fixture}: {string.Join(' ', command)} changed the directory");
            }
        }
    }

    [Test]
    public void Export_and_compact_leave_the_source_untouched()
    {
        foreach (var fixture in new[] { "valid_log", "truncated_tail", "delete_tombstone", "compact_to_output" })
        {
            string store = Corpus.Copy(_dir, fixture);
            var before = DirectorySnapshot.Capture(store);
            Assert.That(Cli.Run("export", store, _dir[fixture + ".jsonl"]).Code, Is.Zero);
            Assert.That(Cli.Run("compact", store, _dir[fixture + ".compacted"]).Code, Is.Zero);
            Assert.That(DirectorySnapshot.Capture(store), Is.EqualTo(before), fixture);
        }
    }

    [TestCase("scan")]
    [TestCase("report")]
    [TestCase("verify")]
    [TestCase("dump")]
    [TestCase("check")]
    [TestCase("get")]
    [TestCase("export")]
    [TestCase("compact")]
    public void A_missing_store_is_exit_1_and_nothing_is_created(string command)
    {
        string missing = _dir["nothing/here"];
        string[] args = command switch
        {
            "get" => ["get", missing, "--key", "k"],
            "export" => ["export", missing, _dir["out.jsonl"]],
            "compact" => ["compact", missing, _dir["target"]],
            _ => [command, missing],
        };
        var r = Cli.Run(args);
        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        Assert.That(r.Err, Is.EqualTo($"datawal: error: store directory not found: {missing} (nothing was created)\n"));
        Assert.That(_dir.Entries(), Is.Empty, "nothing created: no store, no output, no target");
    }

    [Test]
    public void A_file_instead_of_a_store_is_exit_1()
    {
        string file = _dir["file"];
        File.WriteAllText(file, "x");
        var r = Cli.Run("scan", file);
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(r.Err, Does.Contain("not a store directory"));
    }

    [Test]
    public void Every_command_works_beside_a_live_writer_in_another_process()
    {
        string store = _dir["store"];
        using (var kv = KvStore.Open(store))
        {
            kv.Put("alpha"u8, "1"u8);
            kv.Put("beta"u8, "2"u8);
            kv.Delete("beta"u8);
            kv.Fsync();
        }

        using var writer = ChildProcess.Start("hold-lock", store);
        Assert.That(writer.WaitForLine("LOCK_HELD", TimeSpan.FromSeconds(30)), Is.True, writer.StandardError);
        Assert.That(DirectoryLock.IsHeld(store), Is.True);
        var before = DirectorySnapshot.Capture(store);

        foreach (var command in Inspections)
        {
            var r = Cli.Run(With(command, store));
            int expected = command.Contains("keep") ? 2 : 0;
            Assert.That(r.Code, Is.EqualTo(expected), $"{string.Join(' ', command)}\n{r}");
        }

        Assert.That(Cli.Run("get", store, "--key", "alpha").Out, Is.EqualTo("1\n"));
        Assert.That(Cli.Run("--json", "scan", store).Lines, Has.Length.EqualTo(3));
        Assert.That(Cli.Run("export", store, _dir["live.jsonl"]).Code, Is.Zero);
        Assert.That(Cli.Run("compact", store, _dir["live.compacted"]).Code, Is.Zero);
        var doctor = Cli.Run("--json", "doctor", store);
        Assert.That(doctor.Code, Is.Zero, doctor.ToString());
        Assert.That(doctor.Json.Single().GetProperty("locked").GetBoolean(), Is.True);

        Assert.That(DirectorySnapshot.Capture(store), Is.EqualTo(before), "the live store changed");
        Assert.That(writer.HasExited, Is.False, "the writer is still running");
        Assert.That(DirectoryLock.IsHeld(store), Is.True, "the writer still holds its lock");
    }
}
