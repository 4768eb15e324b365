using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>The real built <c>datawal.dll</c> in a child process: exit codes reach the process, no stack traces.</summary>
public class ProcessTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-proc");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public void Json_report_of_a_clean_store_exits_0()
    {
        Assert.That(File.Exists(Cli.Dll), Is.True, Cli.Dll);
        var r = Cli.RunProcess("--json", "report", Corpus.Copy(_dir, "valid_log"));
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Out, Is.EqualTo("{\"schema\":\"datawal.cli.v1\",\"kind\":\"report\",\"files_scanned\":1,\"records_replayed\":3,\"tail_truncated\":0,\"tail_bytes_discarded\":0,\"mid_stream_errors\":0,\"unsupported_versions\":0,\"last_txid_seen\":3}\n"));
    }

    [Test]
    public void Corrupt_store_exits_3_without_a_stack_trace()
    {
        string store = Corpus.Copy(_dir, "bad_crc");
        var scan = Cli.RunProcess("scan", store);
        Assert.That(scan.Code, Is.EqualTo(3), scan.ToString());
        Assert.That(scan.Out, Does.Contain("payload=good"));
        Assert.That(scan.Err, Does.StartWith("datawal: scan: mid-stream error: ").And.Contain("non-tail segment 2"));
        var check = Cli.RunProcess("check", Corpus.Copy(_dir, "unknown_version"));
        Assert.That(check.Code, Is.EqualTo(3), check.ToString());
        foreach (var r in new[] { scan, check })
        {
            Assert.That(r.Err, Does.Not.Contain("   at ").And.Not.Contain("Unhandled").And.Not.Contain("Exception"));
            var err = r.Err.Trim().Split('\n');
            Assert.That(err, Has.Length.EqualTo(2), "one line of error, then the salvage hint");
            Assert.That(err[1], Does.StartWith("datawal: hint: the damage is in segment "));
        }
    }

    [Test]
    public void Tail_miss_and_usage_exit_codes_reach_the_process()
    {
        Assert.That(Cli.RunProcess("verify", Corpus.Copy(_dir, "truncated_tail")).Code, Is.EqualTo(2));
        Assert.That(Cli.RunProcess("get", Corpus.Copy(_dir, "delete_tombstone"), "--key", "beta").Code, Is.EqualTo(2));
        var usage = Cli.RunProcess("get", _dir["delete_tombstone"], "--key", "a", "--key-base64", "YQ==");
        Assert.That(usage.Code, Is.EqualTo(1));
        Assert.That(usage.Err, Does.Contain("cannot be used with"));
        Assert.That(Cli.RunProcess("report", _dir["missing"]).Code, Is.EqualTo(1));
        Assert.That(Path.Exists(_dir["missing"]), Is.False);
    }
}
