using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>Every exit code (0/1/2/3) on the frozen upstream fixtures, through the command line.</summary>
public class CorpusExitCodeTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-corpus");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [TestCase("valid_log", "scan", 0)]
    [TestCase("valid_log", "report", 0)]
    [TestCase("valid_log", "verify", 0)]
    [TestCase("valid_log", "dump", 0)]
    [TestCase("valid_log", "check", 0)]
    [TestCase("truncated_tail", "scan", 2)]
    [TestCase("truncated_tail", "report", 2)]
    [TestCase("truncated_tail", "verify", 2)]
    [TestCase("truncated_tail", "check", 2)]
    [TestCase("truncated_tail", "dump", 0)]
    [TestCase("bad_crc", "scan", 3)]
    [TestCase("bad_crc", "report", 3)]
    [TestCase("bad_crc", "verify", 3)]
    [TestCase("bad_crc", "dump", 3)]
    [TestCase("bad_crc", "check", 3)]
    [TestCase("unknown_version", "scan", 3)]
    [TestCase("unknown_version", "report", 3)]
    [TestCase("unknown_version", "verify", 3)]
    [TestCase("unknown_version", "dump", 3)]
    [TestCase("unknown_version", "check", 3)]
    [TestCase("delete_tombstone", "scan", 0)]
    [TestCase("delete_tombstone", "check", 0)]
    [TestCase("compact_to_output", "verify", 0)]
    public void Exit_code(string fixture, string command, int expected)
    {
        var human = Cli.Run(command, Corpus.Copy(_dir, fixture));
        Assert.That(human.Code, Is.EqualTo(expected), human.ToString());
        var json = Cli.Run("--json", command, _dir[fixture]);
        Assert.That(json.Code, Is.EqualTo(expected), json.ToString());
        Assert.That(human.Err + json.Err, Does.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void Valid_log_scans_three_raw_records()
    {
        var r = Cli.Run("scan", Corpus.Copy(_dir, "valid_log"));
        Assert.That(r.Code, Is.Zero);
        Assert.That(r.Out, Is.EqualTo(
            "seg=00000001 off=         0 len=      33 type=RAW txid=         1 key=\"\" payload=alpha\n" +
            "seg=00000001 off=        33 len=      32 type=RAW txid=         2 key=\"\" payload=beta\n" +
            "seg=00000001 off=        65 len=      33 type=RAW txid=         3 key=\"\" payload=gamma\n"));
        Assert.That(r.Err, Is.Empty);
    }

    [Test]
    public void Truncated_tail_report_and_verify_describe_the_tail()
    {
        string store = Corpus.Copy(_dir, "truncated_tail");
        var report = Cli.Run("report", store);
        Assert.That(report.Code, Is.EqualTo(2));
        Assert.That(report.Out, Is.EqualTo(
            "schema:              datawal.cli.v1\n" +
            "files_scanned:       1\n" +
            "records_replayed:    2\n" +
            "tail_truncated:      1\n" +
            "tail_bytes_discarded:28\n" +
            "mid_stream_errors:   0\n" +
            "unsupported_versions:0\n" +
            "last_txid_seen:      2\n"));
        var verify = Cli.Run("verify", store);
        Assert.That(verify.Code, Is.EqualTo(2));
        Assert.That(verify.Out, Is.EqualTo(
            "schema:              datawal.cli.v1\n" +
            "frames_checked:      2\n" +
            "crc_failures:        0\n" +
            "tail_truncated:      1\n" +
            "tail_bytes_discarded:28\n" +
            "last_segment:        1\n" +
            "last_offset:         31\n"));
        var scan = Cli.Run("scan", store);
        Assert.That(scan.Lines, Has.Length.EqualTo(2));
    }

    [Test]
    public void Scan_limit_does_not_hide_a_damaged_tail()
    {
        var r = Cli.Run("scan", Corpus.Copy(_dir, "truncated_tail"), "--limit", "1");
        Assert.That(r.Code, Is.EqualTo(2));
        Assert.That(r.Lines, Has.Length.EqualTo(1));
    }

    [Test]
    public void Bad_crc_scan_prints_the_good_record_then_fails_naming_segment_2_offset_0()
    {
        string store = Corpus.Copy(_dir, "bad_crc");
        var r = Cli.Run("scan", store);
        Assert.That(r.Code, Is.EqualTo(3));
        Assert.That(r.Out, Is.EqualTo("seg=00000001 off=         0 len=      32 type=RAW txid=         1 key=\"\" payload=good\n"));
        Assert.That(r.Err, Is.EqualTo(
            $"datawal: scan: mid-stream error: datawal: CRC mismatch at offset 0 of non-tail segment 2 ({Path.Combine(store, "00000002.dwal")})\n" +
            "datawal: hint: the damage is in segment 2 (00000002.dwal) at offset 0; to read past it, run the same command with --salvage " +
            $"(read-only; it lists what it skips), or copy what is intact into a new store: datawal salvage {store} OUT\n"));

        var json = Cli.Run("--json", "scan", store);
        Assert.That(json.Code, Is.EqualTo(3));
        Assert.That(json.Lines, Has.Length.EqualTo(1));
        Assert.That(json.Json[0].GetProperty("payload_base64").GetString(), Is.EqualTo("Z29vZA=="));

        var dump = Cli.Run("dump", store);
        Assert.That(dump.Lines, Has.Length.EqualTo(1));
        Assert.That(dump.Err, Does.StartWith("datawal: dump: mid-stream error: ").And.Contain("segment 2"));

        var verify = Cli.Run("verify", store);
        Assert.That(verify.Out, Is.Empty, "no summary after a failure");
        Assert.That(verify.Err, Does.StartWith("datawal: verify: CRC / decode failure: ").And.Contain("offset 0 of non-tail segment 2"));
    }

    [Test]
    public void Unknown_version_is_structural_corruption()
    {
        string store = Corpus.Copy(_dir, "unknown_version");
        var r = Cli.Run("report", store);
        Assert.That(r.Code, Is.EqualTo(3));
        Assert.That(r.Out, Is.Empty);
        Assert.That(r.Err, Does.Contain("structural decode error at offset 0 of segment 1").And.Contain("unknown wire version 51966"));
        Assert.That(r.Err, Does.StartWith("datawal: error: "));
    }

    [Test]
    public void Get_hit_and_miss_on_the_tombstone_fixture()
    {
        string store = Corpus.Copy(_dir, "delete_tombstone");
        var hit = Cli.Run("get", store, "--key", "alpha");
        Assert.That(hit.Code, Is.Zero);
        Assert.That(hit.Out, Is.EqualTo("3\n"));
        var deleted = Cli.Run("--json", "get", store, "--key", "beta");
        Assert.That(deleted.Code, Is.EqualTo(2));
        Assert.That(deleted.Out, Is.EqualTo("{\"schema\":\"datawal.cli.v1\",\"kind\":\"miss\",\"key_base64\":\"YmV0YQ==\"}\n"));
        var corrupt = Cli.Run("get", Corpus.Copy(_dir, "bad_crc"), "--key", "x");
        Assert.That(corrupt.Code, Is.EqualTo(3));
    }

    [Test]
    public void Usage_errors_exit_1()
    {
        string store = Corpus.Copy(_dir, "valid_log");
        Assert.That(Cli.Run("scan", store, "--limit", "-1").Code, Is.EqualTo(1));
        Assert.That(Cli.Run("scan", store, "--bytes", "utf16").Code, Is.EqualTo(1));
        Assert.That(Cli.Run("scan", store, "--from-offset", "3").Code, Is.EqualTo(1));
        Assert.That(Cli.Run("no-such-command").Code, Is.EqualTo(1));
        Assert.That(Cli.Run("scan").Code, Is.EqualTo(1));
        Assert.That(Cli.Run().Code, Is.EqualTo(1));
    }

    // The bound comes from IMinMaxValue<T>.MaxValue, not reflection: under NativeAOT the reflective lookup came back
    // empty and the message ended "no larger than ". The AOT binary is checked by hand (README).
    [TestCase("scan", "--limit -1", "invalid value '-1' for '--limit <N>': expected a non-negative integer no larger than 18446744073709551615")]
    [TestCase("dump", "--limit x", "invalid value 'x' for '--limit <N>': expected a non-negative integer no larger than 18446744073709551615")]
    [TestCase("scan", "--from-segment 4294967296", "invalid value '4294967296' for '--from-segment <S>': expected a non-negative integer no larger than 4294967295")]
    public void Number_usage_errors_name_the_type_bound(string command, string options, string message)
    {
        var r = Cli.Run([command, Corpus.Copy(_dir, "valid_log"), .. options.Split(' ')]);
        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        Assert.That(r.Out, Is.Empty);
        Assert.That(r.Err, Is.EqualTo($"datawal: error: {message}\nRun 'datawal {command} --help' for usage.\n"));
    }

    [Test]
    public void Scan_from_segment_and_offset_skips_earlier_records()
    {
        string store = Corpus.Copy(_dir, "valid_log");
        var r = Cli.Run("--json", "scan", store, "--from-segment", "1", "--from-offset", "33");
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Json.Select(j => j.GetProperty("offset").GetInt32()), Is.EqualTo(new[] { 33, 65 }));
        Assert.That(Cli.Run("scan", store, "--from-segment", "2").Lines, Is.Empty);
        Assert.That(Cli.Run("scan", store, "--from-segment", "1").Lines, Has.Length.EqualTo(3));
    }
}
