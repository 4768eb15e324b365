using System.Text.Json;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>
/// Under <c>--json</c> stderr is JSON lines too: every error is one <c>kind:"error"</c> line (command, message,
/// exit code), every note a <c>kind:"note"</c> line, and no prose or hint line is printed.
/// </summary>
public class JsonErrorTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-json-err");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    // Each command's error path on a store directory that does not exist (or, for the commands that create
    // their target, an impossible one).
    [TestCase("scan")]
    [TestCase("get", "--key", "k")]
    [TestCase("report")]
    [TestCase("verify")]
    [TestCase("dump")]
    [TestCase("check")]
    [TestCase("export", "OUT")]
    [TestCase("compact", "OUT")]
    [TestCase("compact", "--in-place")]
    [TestCase("truncate", "--keep-last", "1")]
    [TestCase("salvage", "OUT")]
    public void Missing_store_is_one_json_error_line(string command, params string[] rest)
    {
        string missing = _dir["missing"];
        string[] args = ["--json", command, missing, .. rest.Select(a => a == "OUT" ? _dir["out"] : a)];
        var r = Cli.Run(args);
        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        Assert.That(r.Out, Is.Empty, r.ToString());
        var error = SingleError(r, command);
        Assert.That(error.GetProperty("message").GetString(), Does.Contain(missing), r.ToString());
    }

    [Test]
    public void Doctor_on_a_file_is_a_json_error_line()
    {
        File.WriteAllText(_dir["afile"], "x");
        var r = Cli.Run("--json", "doctor", _dir["afile"]);
        Assert.That(r.Code, Is.Not.Zero, r.ToString());
        SingleError(r, "doctor");
    }

    [Test]
    public void Demo_under_json_says_so_in_json()
    {
        var r = Cli.Run("--json", "demo", _dir["demo"]);
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(SingleError(r, "demo").GetProperty("message").GetString(), Does.Contain("no JSON form"));
    }

    [Test]
    public void Export_refusing_an_existing_file()
    {
        string store = Stores.Kv(_dir, ("a", "1"));
        File.WriteAllText(_dir["taken.jsonl"], "mine");
        var r = Cli.Run("--json", "export", store, _dir["taken.jsonl"]);
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(r.Out, Is.Empty);
        Assert.That(SingleError(r, "export").GetProperty("message").GetString(), Is.EqualTo("refuses to overwrite existing file: " + _dir["taken.jsonl"]));
        Assert.That(File.ReadAllText(_dir["taken.jsonl"]), Is.EqualTo("mine"));
    }

    [Test]
    public void Compact_into_a_non_empty_directory()
    {
        string store = Stores.Kv(_dir, ("a", "1"));
        Directory.CreateDirectory(_dir["target"]);
        File.WriteAllText(_dir["target/x"], "x");
        var r = Cli.Run("--json", "compact", store, _dir["target"]);
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(SingleError(r, "compact").GetProperty("message").GetString(), Is.EqualTo("target directory is not empty: " + _dir["target"]));
    }

    [Test]
    public void Corruption_is_exit_3_without_the_hint_line()
    {
        string store = Stores.Kv(_dir, ("a", "1"), ("b", "2"));
        string segment = Path.Combine(store, "00000001.dwal");
        using (var kv = DataWal.Kv.KvStore.Open(store))
        {
            kv.Rotate();
        }

        // Flip a payload byte of the first record of the now sealed segment: a CRC failure, not a torn tail.
        var bytes = File.ReadAllBytes(segment);
        bytes[25] ^= 0xFF;
        File.WriteAllBytes(segment, bytes);
        foreach (string command in new[] { "scan", "verify", "dump" })
        {
            var r = Cli.Run("--json", command, store);
            Assert.That(r.Code, Is.EqualTo(3), r.ToString());
            var error = SingleError(r, command);
            Assert.That(error.GetProperty("exit_code").GetInt32(), Is.EqualTo(3));
        }
    }

    [Test]
    public void Usage_error_of_a_command_names_it()
    {
        var r = Cli.Run("--json", "scan", _dir.Path, "--limit", "-1");
        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        SingleError(r, "scan");
    }

    private static JsonElement SingleError(CliResult r, string? command)
    {
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), r.ToString());
        var e = JsonDocument.Parse(lines[0]).RootElement;
        Assert.That(e.GetProperty("schema").GetString(), Is.EqualTo("datawal.cli.v1"));
        Assert.That(e.GetProperty("kind").GetString(), Is.EqualTo("error"));
        Assert.That(e.GetProperty("command").GetString(), Is.EqualTo(command));
        Assert.That(e.GetProperty("exit_code").GetInt32(), Is.EqualTo(r.Code));
        Assert.That(e.EnumerateObject().Select(p => p.Name).ToArray(), Is.EqualTo(new[] { "schema", "kind", "command", "message", "exit_code" }));
        return e.Clone();
    }
}
