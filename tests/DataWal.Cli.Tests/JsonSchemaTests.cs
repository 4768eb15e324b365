using System.Text.Json;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>Schema <c>datawal.cli.v1</c>: every kind's exact line, so field names and order are pinned.</summary>
public class JsonSchemaTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-json");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public void Record_lines()
    {
        var r = Cli.Run("--json", "scan", Corpus.Copy(_dir, "delete_tombstone"));
        Assert.That(r.Out, Is.EqualTo(
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"record\",\"segment\":1,\"offset\":0,\"len\":34,\"record_type\":\"Put\",\"txid\":1,\"key_base64\":\"YWxwaGE=\",\"payload_base64\":\"MQ==\"}\n" +
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"record\",\"segment\":1,\"offset\":34,\"len\":33,\"record_type\":\"Put\",\"txid\":2,\"key_base64\":\"YmV0YQ==\",\"payload_base64\":\"Mg==\"}\n" +
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"record\",\"segment\":1,\"offset\":67,\"len\":34,\"record_type\":\"Put\",\"txid\":3,\"key_base64\":\"YWxwaGE=\",\"payload_base64\":\"Mw==\"}\n" +
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"record\",\"segment\":1,\"offset\":101,\"len\":32,\"record_type\":\"Delete\",\"txid\":4,\"key_base64\":\"YmV0YQ==\",\"payload_base64\":\"\"}\n"));
    }

    [Test]
    public void Raw_record_and_frame_lines()
    {
        string store = Corpus.Copy(_dir, "valid_log");
        Assert.That(Cli.Run("--json", "scan", store, "--limit", "1").Out, Is.EqualTo(
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"record\",\"segment\":1,\"offset\":0,\"len\":33,\"record_type\":\"Raw\",\"txid\":1,\"key_base64\":\"\",\"payload_base64\":\"YWxwaGE=\"}\n"));
        Assert.That(Cli.Run("--json", "dump", store, "--limit", "1").Out, Is.EqualTo(
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"frame\",\"segment\":1,\"offset\":0,\"len\":33,\"record_type\":\"Raw\",\"txid\":1,\"key_len\":0,\"payload_len\":5}\n"));
    }

    [Test]
    public void Value_and_miss_lines()
    {
        string store = Corpus.Copy(_dir, "compact_to_output");
        Assert.That(Cli.Run("--json", "get", store, "--key", "keep").Out, Is.EqualTo(
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"value\",\"key_base64\":\"a2VlcA==\",\"value_base64\":\"ZmluYWw=\",\"value_len\":5}\n"));
        Assert.That(Cli.Run("--json", "get", store, "--key", "gone").Out, Is.EqualTo(
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"miss\",\"key_base64\":\"Z29uZQ==\"}\n"));
    }

    [Test]
    public void Report_verify_and_check_lines()
    {
        string store = Corpus.Copy(_dir, "valid_log");
        Assert.That(Cli.Run("--json", "report", store).Out, Is.EqualTo(
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"report\",\"files_scanned\":1,\"records_replayed\":3,\"tail_truncated\":0,\"tail_bytes_discarded\":0,\"mid_stream_errors\":0,\"unsupported_versions\":0,\"last_txid_seen\":3}\n"));
        Assert.That(Cli.Run("--json", "verify", store).Out, Is.EqualTo(
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"verify\",\"frames_checked\":3,\"crc_failures\":0,\"tail_truncated\":0,\"tail_bytes_discarded\":0,\"last_segment\":1,\"last_offset\":65}\n"));
        Assert.That(Cli.Run("--json", "check", store).Out, Is.EqualTo(
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"check\",\"keys_checked\":0,\"tail_truncated\":0,\"tail_bytes_discarded\":0,\"mid_stream_errors\":0,\"unsupported_versions\":0}\n"));
    }

    [Test]
    public void Verify_of_an_empty_store_reports_zero_last_segment_and_offset()
    {
        string empty = _dir["empty"];
        Directory.CreateDirectory(empty);
        Assert.That(Cli.Run("--json", "verify", empty).Out, Is.EqualTo(
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"verify\",\"frames_checked\":0,\"crc_failures\":0,\"tail_truncated\":0,\"tail_bytes_discarded\":0,\"last_segment\":0,\"last_offset\":0}\n"));
    }

    [Test]
    public void Export_and_compact_lines()
    {
        string store = Corpus.Copy(_dir, "compact_to_output");
        string outfile = _dir["e.jsonl"];
        string target = _dir["c"];
        Assert.That(Cli.Run("--json", "export", store, outfile).Out, Is.EqualTo(
            $"{{\"schema\":\"datawal.cli.v1\",\"kind\":\"export\",\"outfile\":{JsonSerializer.Serialize(outfile)},\"records_written\":2,\"bytes_written\":92}}\n"));
        Assert.That(Cli.Run("--json", "compact", store, target).Out, Is.EqualTo(
            $"{{\"schema\":\"datawal.cli.v1\",\"kind\":\"compact\",\"target\":{JsonSerializer.Serialize(target)},\"live_keys\":2,\"records_written\":2,\"bytes_written\":75}}\n"));
    }

    [Test]
    public void Base64_is_standard_and_padded_and_never_escaped()
    {
        string store = Stores.Kv(_dir, (new byte[] { 0xFB, 0xFF }, new byte[] { 0xFF, 0xFE, 0x3E }));
        var line = Cli.Run("--json", "scan", store).Out;
        Assert.That(line, Does.Contain("\"key_base64\":\"+/8=\"").And.Contain("\"payload_base64\":\"//4+\""));
    }

    [Test]
    public void Doctor_line_field_order()
    {
        var r = Cli.Run("--json", "doctor", _dir.Path);
        Assert.That(r.Code, Is.Zero, r.ToString());
        var names = r.Json.Single().EnumerateObject().Select(p => p.Name);
        Assert.That(names, Is.EqualTo(new[]
        {
            "schema", "kind", "dir", "fs_type", "mount_point", "fsync_ok", "fsync_error", "dir_fsync_ok", "dir_fsync_error",
            "fsync_median_us", "fsync_samples", "free_bytes", "segments", "locked", "warnings",
            "fs_class", "dir_mode", "dir_shared_writable", "lock_file", "lock_holder_pid",
        }));
        Assert.That(r.Json.Single().GetProperty("kind").GetString(), Is.EqualTo("doctor"));
    }

    [Test]
    public void Json_is_accepted_before_or_after_the_command()
    {
        string store = Corpus.Copy(_dir, "valid_log");
        var before = Cli.Run("--json", "scan", store);
        var middle = Cli.Run("scan", "--json", store);
        var after = Cli.Run("scan", store, "--json");
        Assert.That(before.Lines, Has.Length.EqualTo(3));
        Assert.That(middle.Out, Is.EqualTo(before.Out));
        Assert.That(after.Out, Is.EqualTo(before.Out));
    }
}
