using System.Text;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Kv.Tests;

public class SmokeTests
{
    [Test]
    public void Compaction_matches_upstream_bytes_and_tombstone_projection_reads()
    {
        using var dir = new TempDir();
        var src = dir["src"];
        using (var kv = KvStore.Open(src))
        {
            kv.Put("keep"u8, "final"u8);
            kv.Put("keep"u8, "old"u8);
            kv.Put("keep"u8, "final"u8);
            kv.Put("gone"u8, "nope"u8);
            kv.Delete("gone"u8);
            kv.Put("other"u8, "value"u8);
            kv.Fsync();
            var stats = kv.CompactTo(dir["out"]);
            Assert.That(stats, Is.EqualTo(new CompactionStats(2, 2, 75)));
            kv.ExportJsonl(dir["export.jsonl"]);
        }

        var expected = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Corpus", "compact_to_output", "00000001.dwal"));
        Assert.That(File.ReadAllBytes(Path.Combine(dir["out"], "00000001.dwal")), Is.EqualTo(expected));
        Assert.That(File.ReadAllText(dir["export.jsonl"]), Is.EqualTo("{\"key_b64\":\"a2VlcA==\",\"value_b64\":\"ZmluYWw=\"}\n{\"key_b64\":\"b3RoZXI=\",\"value_b64\":\"dmFsdWU=\"}\n"));

        using var ro = KvStore.OpenReadOnly(src);
        Assert.That(Encoding.ASCII.GetString(ro.Get("keep"u8)!), Is.EqualTo("final"));
        Assert.That(ro.Get("gone"u8), Is.Null);
        Assert.That(ro.Count, Is.EqualTo(2));
    }
}
