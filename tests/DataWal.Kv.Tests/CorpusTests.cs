using System.Text;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// The frozen upstream fixtures the KV layer owns (<c>delete_tombstone</c>, <c>compact_to_output</c>;
/// docs/design.md U10 fixtures 5 and 6, upstream <c>tests/corpus_fixtures.rs</c> 7–10): they read as described, and
/// our writer, fed the same operations, reproduces them byte for byte. Fixtures are always copied first.
/// </summary>
public class CorpusTests
{
    private const string DeleteTombstoneSha256 = "5cc670d8d21302d697c4c65c0a7ad3c84b29510c0ed26d06a8814553dd00ee38";
    private const string CompactToOutputSha256 = "f864e842cafb610f74c15761eb633b51560bc2b2eb2b24bb78af4ca085141151";

    private static byte[] Fixture(string name) => File.ReadAllBytes(Path.Combine(Corpus.Source(name), "00000001.dwal"));

    [Test]
    public void Fixture_bytes_are_pinned()
    {
        Assert.That(Directory.GetFiles(Corpus.Source("delete_tombstone")).Select(Path.GetFileName), Is.EqualTo(new[] { "00000001.dwal" }));
        Assert.That(Directory.GetFiles(Corpus.Source("compact_to_output")).Select(Path.GetFileName), Is.EqualTo(new[] { "00000001.dwal" }));
        Assert.That(Sha256(Fixture("delete_tombstone")), Is.EqualTo(DeleteTombstoneSha256));
        Assert.That(Sha256(Fixture("compact_to_output")), Is.EqualTo(CompactToOutputSha256));
    }

    // ---- delete_tombstone ----

    [Test]
    public void Delete_tombstone_projects_to_lww_keydir()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("delete_tombstone", dir.Path);
        using var kv = KvStore.Open(dir.Path);

        Assert.That(kv.Count, Is.EqualTo(1));
        Assert.That(S(kv.Get("alpha"u8)), Is.EqualTo("3"));
        Assert.That(kv.Get("beta"u8), Is.Null);
        Assert.That(kv.ContainsKey("beta"u8), Is.False);
        Assert.That(kv.Keys().Select(S), Is.EqualTo(new[] { "alpha" }));
        Assert.That(kv.RefOf("alpha"u8), Is.EqualTo(new RecordRef(1, 67, 34)));
        Assert.That(kv.RecoveryReport.RecordsReplayed, Is.EqualTo(4));
        Assert.That(kv.RecoveryReport.TailTruncated, Is.Zero);
        Assert.That(kv.Log.NextTxId, Is.EqualTo(5UL));
    }

    [Test]
    public void Delete_tombstone_underlying_log_replays_all_records()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("delete_tombstone", dir.Path);
        var records = Records(dir.Path);

        Assert.That(records.Select(r => (r.Type, S(r.Key.ToArray()), S(r.Payload.ToArray()), r.TxId, r.Offset, r.Length)), Is.EqualTo(new[]
        {
            (RecordType.Put, "alpha", "1", 1UL, 0UL, 34u),
            (RecordType.Put, "beta", "2", 2UL, 34UL, 33u),
            (RecordType.Put, "alpha", "3", 3UL, 67UL, 34u),
            (RecordType.Delete, "beta", "", 4UL, 101UL, 32u),
        }));
    }

    [Test]
    public void Delete_tombstone_read_only_view_equals_the_writer_view_and_changes_nothing()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("delete_tombstone", dir.Path);
        var before = Tree(dir.Path);

        using (var ro = KvStore.OpenReadOnly(dir.Path))
        {
            Assert.That(ro.IsReadOnly, Is.True);
            Assert.That(ro.Count, Is.EqualTo(1));
            Assert.That(S(ro.Get("alpha"u8)), Is.EqualTo("3"));
            Assert.That(ro.Get("beta"u8), Is.Null);
            Assert.That(ro.RefOf("alpha"u8), Is.EqualTo(new RecordRef(1, 67, 34)));
            Assert.That(ro.RecoveryReport.RecordsReplayed, Is.EqualTo(4));
            Assert.That(Dump(ro), Is.EqualTo(HexMap([new(B("alpha"), B("3"))])));
        }

        Assert.That(Tree(dir.Path), Is.EqualTo(before), "no .lock, no segment, no byte changed");

        using var writer = KvStore.Open(dir.Path);
        Assert.That(Dump(writer), Is.EqualTo(HexMap([new(B("alpha"), B("3"))])));
    }

    [Test]
    public void Our_writer_reproduces_delete_tombstone_byte_for_byte()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put("alpha"u8, "1"u8);
            kv.Put("beta"u8, "2"u8);
            kv.Put("alpha"u8, "3"u8);
            kv.Delete("beta"u8);
            kv.Fsync();
        }

        Assert.That(File.ReadAllBytes(Seg(dir.Path, 1)), Is.EqualTo(Fixture("delete_tombstone")));
    }

    // ---- compact_to_output ----

    [Test]
    public void Compact_to_output_contains_only_live_keys_as_puts()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("compact_to_output", dir.Path);
        using var kv = KvStore.Open(dir.Path);

        Assert.That(kv.Count, Is.EqualTo(2));
        Assert.That(S(kv.Get("keep"u8)), Is.EqualTo("final"));
        Assert.That(S(kv.Get("other"u8)), Is.EqualTo("value"));
        Assert.That(kv.Get("gone"u8), Is.Null);
        Assert.That(kv.RefOf("keep"u8), Is.EqualTo(new RecordRef(1, 0, 37)));
        Assert.That(kv.RefOf("other"u8), Is.EqualTo(new RecordRef(1, 37, 38)));
    }

    [Test]
    public void Compact_to_output_has_no_tombstones()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("compact_to_output", dir.Path);
        var records = Records(dir.Path);

        Assert.That(records.Select(r => (r.Type, S(r.Key.ToArray()), S(r.Payload.ToArray()), r.TxId)), Is.EqualTo(new[]
        {
            (RecordType.Put, "keep", "final", 1UL),
            (RecordType.Put, "other", "value", 2UL),
        }));
    }

    [Test]
    public void Compact_to_output_read_only_view_equals_the_writer_view()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("compact_to_output", dir.Path);
        var before = Tree(dir.Path);
        var expected = HexMap([new(B("keep"), B("final")), new(B("other"), B("value"))]);

        using (var ro = KvStore.OpenReadOnly(dir.Path))
        {
            Assert.That(Dump(ro), Is.EqualTo(expected));
        }

        Assert.That(Tree(dir.Path), Is.EqualTo(before));
        using var writer = KvStore.Open(dir.Path);
        Assert.That(Dump(writer), Is.EqualTo(expected));
    }

    [Test]
    public void Our_compact_to_reproduces_compact_to_output_byte_for_byte()
    {
        using var dir = new TempDir();
        string source = dir["compact_to_source"];
        string target = dir["compact_to_output"];
        using (var kv = KvStore.Open(source))
        {
            kv.Put("keep"u8, "final"u8);
            kv.Put("keep"u8, "old"u8);
            kv.Put("keep"u8, "final"u8);
            kv.Put("gone"u8, "nope"u8);
            kv.Delete("gone"u8);
            kv.Put("other"u8, "value"u8);
            kv.Fsync();

            var stats = kv.CompactTo(target);
            Assert.That(stats, Is.EqualTo(new CompactionStats(2, 2, 75)));
        }

        Assert.That(Directory.GetFileSystemEntries(target).Select(Path.GetFileName).Order(StringComparer.Ordinal),
            Is.EqualTo(new[] { ".lock", "00000001.dwal" }), "one segment, and the released lock file (as upstream)");
        Assert.That(File.ReadAllBytes(Seg(target, 1)), Is.EqualTo(Fixture("compact_to_output")));

        using var ro = KvStore.OpenReadOnly(source);
        Assert.That(S(ro.Get("keep"u8)), Is.EqualTo("final"));
        Assert.That(ro.Get("gone"u8), Is.Null);
        Assert.That(ro.Count, Is.EqualTo(2));
    }

    [Test]
    public void Compacting_the_fixtures_again_gives_the_fixture_bytes()
    {
        using var dir = new TempDir();
        string copy = Corpus.CopyTo("compact_to_output", dir["copy"]);
        using (var kv = KvStore.Open(copy))
        {
            kv.CompactTo(dir["again"]);
        }

        Assert.That(File.ReadAllBytes(Seg(dir["again"], 1)), Is.EqualTo(Fixture("compact_to_output")), "compaction is idempotent");

        string tombstone = Corpus.CopyTo("delete_tombstone", dir["tombstone"]);
        using (var ro = KvStore.OpenReadOnly(tombstone))
        {
            var stats = ro.CompactTo(dir["tombstone-compacted"]);
            Assert.That(stats, Is.EqualTo(new CompactionStats(1, 1, 34)));
        }

        Assert.That(File.ReadAllBytes(Seg(dir["tombstone-compacted"], 1)),
            Is.EqualTo(WireFormat.Encode(RecordType.Put, 1, "alpha"u8, "3"u8)));
    }

    [Test]
    public void Export_of_the_compact_to_output_store_is_exact()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("compact_to_output", dir["store"]);
        using (var kv = KvStore.OpenReadOnly(dir["store"]))
        {
            kv.ExportJsonl(dir["export.jsonl"]);
        }

        Assert.That(File.ReadAllBytes(dir["export.jsonl"]), Is.EqualTo(Encoding.ASCII.GetBytes(
            "{\"key_b64\":\"a2VlcA==\",\"value_b64\":\"ZmluYWw=\"}\n{\"key_b64\":\"b3RoZXI=\",\"value_b64\":\"dmFsdWU=\"}\n")));
    }

    [Test]
    public void Export_of_the_equivalent_source_is_exact()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir["src"]))
        {
            kv.Put("keep"u8, "final"u8);
            kv.Put("keep"u8, "old"u8);
            kv.Put("keep"u8, "final"u8);
            kv.Put("gone"u8, "nope"u8);
            kv.Delete("gone"u8);
            kv.Put("other"u8, "value"u8);
            kv.ExportJsonl(dir["export.jsonl"]);
        }

        Assert.That(File.ReadAllText(dir["export.jsonl"], Encoding.ASCII), Is.EqualTo(
            "{\"key_b64\":\"a2VlcA==\",\"value_b64\":\"ZmluYWw=\"}\n{\"key_b64\":\"b3RoZXI=\",\"value_b64\":\"dmFsdWU=\"}\n"));
    }

    [Test]
    public void Reopen_twice_yields_same_records_and_projection()
    {
        foreach (string name in new[] { "delete_tombstone", "compact_to_output" })
        {
            using var dir = new TempDir();
            Corpus.CopyTo(name, dir.Path);
            var passes = new List<(string Records, List<string> Kv)>();
            for (int i = 0; i < 2; i++)
            {
                using var kv = KvStore.Open(dir.Path);
                passes.Add((string.Join("\n", Records(dir.Path)), Dump(kv)));
            }

            Assert.That(passes[1].Records, Is.EqualTo(passes[0].Records), name);
            Assert.That(passes[1].Kv, Is.EqualTo(passes[0].Kv), name);
            Assert.That(File.ReadAllBytes(Seg(dir.Path, 1)), Is.EqualTo(Fixture(name)), $"{name}: a writer open of a clean log changes no byte");
        }
    }
}
