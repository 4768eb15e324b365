using DataWal.Core;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Core.Tests;

public class SmokeTests
{
    [Test]
    public void Valid_log_from_upstream_reads_three_records()
    {
        using var dir = new TempDir();
        foreach (var f in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Corpus", "valid_log")))
        {
            File.Copy(f, Path.Combine(dir.Path, Path.GetFileName(f)));
        }

        using var log = RecordLog.Open(dir.Path);
        var records = log.Scan();
        Assert.That(records.Select(r => System.Text.Encoding.ASCII.GetString(r.Payload.Span)), Is.EqualTo(new[] { "alpha", "beta", "gamma" }));
        Assert.That(log.RecoveryReport.LastTxIdSeen, Is.EqualTo(3UL));
    }
}
