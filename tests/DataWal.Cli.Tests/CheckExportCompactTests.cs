using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary><c>check</c>, <c>export</c> and <c>compact</c>: success paths, refusals, and outputs byte-equal to upstream's.</summary>
public class CheckExportCompactTests
{
    // Upstream compact_to of the delete_tombstone fixture: one Put alpha="3", txid 1 (CRC-32C computed independently).
    private const string CompactedDeleteTombstoneHex = "4457414c0100010001000000000000000500000001000000616c706861334a517bc0";

    // Upstream export_jsonl of the compact_to_output fixture.
    private const string ExportedCompactToOutput =
        "{\"key_b64\":\"a2VlcA==\",\"value_b64\":\"ZmluYWw=\"}\n{\"key_b64\":\"b3RoZXI=\",\"value_b64\":\"dmFsdWU=\"}\n";

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-ops");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    // ---- check

    [Test]
    public void Check_clean_store_reads_every_value_and_exits_0()
    {
        string store = Stores.Kv(_dir, ("a", "1"), ("b", "2"), ("a", "3"));
        var r = Cli.Run("check", store);
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Out, Is.EqualTo(
            "schema:               datawal.cli.v1\n" +
            "kind:                 check\n" +
            "keys_checked:         2\n" +
            "tail_truncated:       0\n" +
            "tail_bytes_discarded: 0\n" +
            "mid_stream_errors:    0\n" +
            "unsupported_versions: 0\n"));
        Assert.That(r.Err, Is.Empty);
    }

    [Test]
    public void Check_damaged_tail_exits_2_and_counts_the_surviving_keys()
    {
        string store = Stores.Kv(_dir, ("a", "1"), ("b", "2"));
        Stores.Tear(store, 3);
        var r = Cli.Run("--json", "check", store);
        Assert.That(r.Code, Is.EqualTo(2), r.ToString());
        Assert.That(r.Out, Is.EqualTo("{\"schema\":\"datawal.cli.v1\",\"kind\":\"check\",\"keys_checked\":1,\"tail_truncated\":1,\"tail_bytes_discarded\":27,\"mid_stream_errors\":0,\"unsupported_versions\":0}\n"));
    }

    [Test]
    public void Check_corrupt_sealed_segment_exits_3()
    {
        string store = Corpus.Copy(_dir, "bad_crc");
        var r = Cli.Run("check", store);
        Assert.That(r.Code, Is.EqualTo(3), r.ToString());
        Assert.That(r.Out, Is.Empty);
        Assert.That(r.Err, Does.StartWith("datawal: error: open store ").And.Contain("non-tail segment 2"));
    }

    [Test]
    public void Check_on_the_tombstone_fixture_checks_the_one_live_key()
    {
        var r = Cli.Run("--json", "check", Corpus.Copy(_dir, "delete_tombstone"));
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Json.Single().GetProperty("keys_checked").GetInt32(), Is.EqualTo(1));
    }

    // ---- export

    [Test]
    public void Export_of_the_compacted_fixture_is_byte_equal_to_upstream()
    {
        string store = Corpus.Copy(_dir, "compact_to_output");
        string outfile = _dir["out.jsonl"];
        var r = Cli.Run("export", store, outfile);
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(File.ReadAllText(outfile), Is.EqualTo(ExportedCompactToOutput));
        Assert.That(r.Out, Is.EqualTo(
            "schema:          datawal.cli.v1\n" +
            "kind:            export\n" +
            $"outfile:         {outfile}\n" +
            "records_written: 2\n" +
            "bytes_written:   92\n"));
        Assert.That(Directory.EnumerateFiles(_dir.Path, "*.tmp"), Is.Empty, "no temp file left");
    }

    [Test]
    public void Export_creates_missing_parents_and_an_empty_store_gives_an_empty_file()
    {
        string empty = _dir["empty"];
        Directory.CreateDirectory(empty);
        string outfile = _dir["a/b/out.jsonl"];
        var r = Cli.Run("--json", "export", empty, outfile);
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(new FileInfo(outfile).Length, Is.Zero);
        Assert.That(r.Out, Is.EqualTo($"{{\"schema\":\"datawal.cli.v1\",\"kind\":\"export\",\"outfile\":\"{outfile}\",\"records_written\":0,\"bytes_written\":0}}\n"));
    }

    [Test]
    public void Export_refuses_an_existing_file_and_touches_nothing()
    {
        string store = Corpus.Copy(_dir, "compact_to_output");
        string outfile = _dir["out.jsonl"];
        File.WriteAllText(outfile, "precious");
        var before = DirectorySnapshot.Capture(_dir.Path);
        var r = Cli.Run("export", store, outfile);
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(r.Err, Is.EqualTo($"datawal: export: refuses to overwrite existing file: {outfile}\n"));
        Assert.That(r.Out, Is.Empty);
        Assert.That(DirectorySnapshot.Capture(_dir.Path), Is.EqualTo(before));

        // A directory at the path is refused the same way.
        string directory = _dir["somedir"];
        Directory.CreateDirectory(directory);
        Assert.That(Cli.Run("export", store, directory).Code, Is.EqualTo(1));
    }

    [Test]
    public void Export_of_a_missing_store_creates_no_output()
    {
        string outfile = _dir["out.jsonl"];
        var r = Cli.Run("export", _dir["missing"], outfile);
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(r.Err, Does.Contain("store directory not found"));
        Assert.That(Path.Exists(outfile), Is.False);
        Assert.That(Path.Exists(_dir["missing"]), Is.False);
    }

    [Test]
    public void Export_of_the_tombstone_fixture_has_only_the_live_key()
    {
        string outfile = _dir["live.jsonl"];
        var r = Cli.Run("--json", "export", Corpus.Copy(_dir, "delete_tombstone"), outfile);
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(File.ReadAllText(outfile), Is.EqualTo("{\"key_b64\":\"YWxwaGE=\",\"value_b64\":\"Mw==\"}\n"));
        Assert.That(r.Json.Single().GetProperty("records_written").GetInt32(), Is.EqualTo(1));
    }

    // ---- compact

    [Test]
    public void Compact_of_the_tombstone_fixture_is_byte_equal_to_upstream()
    {
        string store = Corpus.Copy(_dir, "delete_tombstone");
        string target = _dir["compacted"];
        var r = Cli.Run("compact", store, target);
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(Convert.ToHexStringLower(File.ReadAllBytes(Path.Combine(target, "00000001.dwal"))), Is.EqualTo(CompactedDeleteTombstoneHex));
        Assert.That(Directory.EnumerateFiles(target).Select(Path.GetFileName).Order(StringComparer.Ordinal), Is.EqualTo(new[] { ".lock", "00000001.dwal" }));
        Assert.That(r.Out, Is.EqualTo(
            "schema:          datawal.cli.v1\n" +
            "kind:            compact\n" +
            $"target:          {target}\n" +
            "live_keys:       1\n" +
            "records_written: 1\n" +
            "bytes_written:   34\n"));

        using var compacted = KvStore.OpenReadOnly(target);
        Assert.That(compacted.Get("alpha"u8), Is.EqualTo("3"u8.ToArray()));
        Assert.That(compacted.Count, Is.EqualTo(1));
    }

    [Test]
    public void Compact_reproduces_the_upstream_compaction_fixture()
    {
        string store = Stores.Kv(_dir, ("keep", "final"), ("keep", "old"), ("keep", "final"), ("gone", "nope"));
        using (var kv = KvStore.Open(store))
        {
            kv.Delete("gone"u8);
            kv.Put("other"u8, "value"u8);
            kv.Fsync();
        }

        string target = _dir["out"];
        var r = Cli.Run("--json", "compact", store, target);
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(File.ReadAllBytes(Path.Combine(target, "00000001.dwal")), Is.EqualTo(File.ReadAllBytes(Path.Combine(Corpus.Source("compact_to_output"), "00000001.dwal"))));
        Assert.That(r.Out, Is.EqualTo($"{{\"schema\":\"datawal.cli.v1\",\"kind\":\"compact\",\"target\":\"{target}\",\"live_keys\":2,\"records_written\":2,\"bytes_written\":75}}\n"));
    }

    [Test]
    public void Compact_accepts_an_existing_empty_target()
    {
        string store = Corpus.Copy(_dir, "compact_to_output");
        string target = _dir["empty-target"];
        Directory.CreateDirectory(target);
        Assert.That(Cli.Run("compact", store, target).Code, Is.Zero);
        Assert.That(File.Exists(Path.Combine(target, "00000001.dwal")), Is.True);
    }

    [Test]
    public void Compact_refuses_a_non_empty_target_and_touches_nothing()
    {
        string store = Corpus.Copy(_dir, "delete_tombstone");
        string target = _dir["busy"];
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "keep.txt"), "mine");
        var before = DirectorySnapshot.Capture(_dir.Path);
        var r = Cli.Run("compact", store, target);
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(r.Err, Is.EqualTo($"datawal: compact: target directory is not empty: {target}\n"));
        Assert.That(DirectorySnapshot.Capture(_dir.Path), Is.EqualTo(before));
    }

    [Test]
    public void Compact_of_a_missing_store_creates_no_target()
    {
        string target = _dir["t"];
        var r = Cli.Run("compact", _dir["missing"], target);
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(Path.Exists(target), Is.False);
        Assert.That(Path.Exists(_dir["missing"]), Is.False);
    }

    [Test]
    public void Compact_of_a_corrupt_store_exits_3_and_creates_no_target()
    {
        string target = _dir["t"];
        var r = Cli.Run("compact", Corpus.Copy(_dir, "bad_crc"), target);
        Assert.That(r.Code, Is.EqualTo(3), r.ToString());
        Assert.That(Path.Exists(target), Is.False);
    }

    // ---- one rule for existing targets, one rule for a damaged tail

    [Test]
    public void Export_with_overwrite_replaces_an_existing_file()
    {
        string store = Corpus.Copy(_dir, "compact_to_output");
        string outfile = _dir["out.jsonl"];
        File.WriteAllText(outfile, "old, longer than the new export will be ........................................................");
        var r = Cli.Run("export", store, outfile, "--overwrite");
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(File.ReadAllText(outfile), Is.EqualTo(ExportedCompactToOutput));
        Assert.That(r.Err, Is.Empty);
        Assert.That(Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal),
            Is.EqualTo(new[] { "compact_to_output", "out.jsonl" }), "no temp file left");

        // Without an existing file --overwrite changes nothing.
        File.Delete(outfile);
        Assert.That(Cli.Run("--json", "export", store, outfile, "--overwrite").Code, Is.Zero);
        Assert.That(File.ReadAllText(outfile), Is.EqualTo(ExportedCompactToOutput));
    }

    [Test]
    public void Export_compact_and_dump_of_a_torn_tail_exit_0_with_a_note([Values] bool json)
    {
        string store = Stores.Kv(_dir, ("a", "1"), ("b", "2"));
        Stores.Tear(store, 3);
        string note = $"note: the last segment of {store} ends in a damaged tail of 27 bytes (a write that never completed), left out; " +
                      "nothing acknowledged is lost, and the next writer open cuts it\n";
        string[] prefix = json ? ["--json"] : [];
        string Note(string command) => json
            ? $"{{\"schema\":\"datawal.cli.v1\",\"kind\":\"note\",\"command\":\"{command}\",\"message\":\"{note[6..^1]}\"}}\n"
            : $"datawal: {command}: {note}";
        var before = DirectorySnapshot.Capture(store);

        var export = Cli.Run([.. prefix, "export", store, _dir["out.jsonl"]]);
        Assert.That(export.Code, Is.Zero, export.ToString());
        Assert.That(export.Err, Is.EqualTo(Note("export")));
        Assert.That(File.ReadAllText(_dir["out.jsonl"]), Is.EqualTo("{\"key_b64\":\"YQ==\",\"value_b64\":\"MQ==\"}\n"), "the intact keys, complete");

        var compact = Cli.Run([.. prefix, "compact", store, _dir["compacted"]]);
        Assert.That(compact.Code, Is.Zero, compact.ToString());
        Assert.That(compact.Err, Is.EqualTo(Note("compact")));
        Assert.That(Cli.Run("check", _dir["compacted"]).Code, Is.Zero, "the compacted copy has no tail");

        var dump = Cli.Run([.. prefix, "dump", store]);
        Assert.That(dump.Code, Is.Zero, dump.ToString());
        Assert.That(dump.Err, Is.EqualTo(Note("dump")));
        Assert.That(dump.Lines, Has.Length.EqualTo(1), "stdout keeps its shape: one frame");

        // The commands that report on the store keep exiting 2 (stdout carries tail_truncated there).
        foreach (string command in new[] { "scan", "report", "verify", "check" })
        {
            Assert.That(Cli.Run([.. prefix, command, store]).Code, Is.EqualTo(2), command);
        }

        Assert.That(DirectorySnapshot.Capture(store), Is.EqualTo(before), "read-only, the tail included");
    }

    [Test]
    public void Export_compact_and_dump_of_a_clean_store_print_no_note()
    {
        string store = Stores.Kv(_dir, ("a", "1"));
        Assert.That(Cli.Run("export", store, _dir["out.jsonl"]).Err, Is.Empty);
        Assert.That(Cli.Run("compact", store, _dir["compacted"]).Err, Is.Empty);
        Assert.That(Cli.Run("dump", store).Err, Is.Empty);
    }
}
