using DataWal.Core;
using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// <see cref="KvStore.CompactTo"/> (docs/design.md U5.3; upstream <c>tests/datawal.rs</c> 7–8): target rules, exact
/// output, stats, the source left untouched and usable, the output lock released, and scale.
/// </summary>
public class CompactionTests
{
    // ---- upstream tests/datawal.rs ----

    [Test]
    public void Compact_to_preserves_live_state()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir["src"]))
        {
            kv.Put("a"u8, "1"u8);
            kv.Put("b"u8, "2"u8);
            kv.Put("a"u8, "3"u8);
            kv.Put("c"u8, "4"u8);

            var stats = kv.CompactTo(dir["out"]);
            Assert.That(stats.LiveKeys, Is.EqualTo(3));
            Assert.That(stats.RecordsWritten, Is.EqualTo(3));
            Assert.That(stats.BytesWritten, Is.Positive);
        }

        using var compacted = KvStore.Open(dir["out"]);
        Assert.That(Dump(compacted), Is.EqualTo(HexMap([new(B("a"), B("3")), new(B("b"), B("2")), new(B("c"), B("4"))])));
    }

    [Test]
    public void Compact_to_does_not_resurrect_deleted_key()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir["src"]))
        {
            kv.Put("keep"u8, "yes"u8);
            kv.Put("gone"u8, "no"u8);
            kv.Delete("gone"u8);
            kv.CompactTo(dir["out"]);
        }

        using var compacted = KvStore.Open(dir["out"]);
        Assert.That(compacted.Keys().Select(S), Is.EqualTo(new[] { "keep" }));
        Assert.That(compacted.Get("gone"u8), Is.Null);
        Assert.That(Records(dir["out"]).Select(r => S(r.Key.ToArray())), Is.EqualTo(new[] { "keep" }), "no tombstone either");
    }

    // ---- the target ----

    [TestCase("file")]
    [TestCase("empty-subdirectory")]
    [TestCase("lock-file-only")]
    public void Refuses_a_non_empty_target_and_leaves_it_untouched(string content)
    {
        using var dir = new TempDir();
        string target = dir["target"];
        Directory.CreateDirectory(target);
        switch (content)
        {
            case "file":
                File.WriteAllText(Path.Combine(target, "precious.txt"), "do not touch");
                break;
            case "empty-subdirectory":
                Directory.CreateDirectory(Path.Combine(target, "sub"));
                break;
            case "lock-file-only":
                File.WriteAllText(Path.Combine(target, ".lock"), "");
                break;
        }

        using var kv = KvStore.Open(dir["src"]);
        kv.Put("k"u8, "v"u8);
        var targetBefore = Tree(target);
        var sourceBefore = Tree(dir["src"]);

        var e = Assert.Throws<DataWalException>(() => kv.CompactTo(target));
        Assert.That(e!.Message, Is.EqualTo($"datawal: compact_to target {target} is not empty; refusing to overwrite (KvStore.CompactTo)"));
        Assert.That(Tree(target), Is.EqualTo(targetBefore));
        Assert.That(Tree(dir["src"]), Is.EqualTo(sourceBefore));
        Assert.That(S(kv.Get("k"u8)), Is.EqualTo("v"));
    }

    [Test]
    public void Refuses_the_source_directory_itself()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "v"u8);
        var before = Tree(dir.Path);

        var e = Assert.Throws<DataWalException>(() => kv.CompactTo(dir.Path));
        Assert.That(e!.Message, Is.EqualTo($"datawal: compact_to target {kv.Directory} is not empty; refusing to overwrite (KvStore.CompactTo)"));
        Assert.That(Tree(dir.Path), Is.EqualTo(before));
    }

    [Test]
    public void Refuses_a_file_as_target()
    {
        using var dir = new TempDir();
        string target = dir["target"];
        File.WriteAllText(target, "a file");
        using var kv = KvStore.Open(dir["src"]);
        kv.Put("k"u8, "v"u8);

        Assert.Throws<DataWalException>(() => kv.CompactTo(target));
        Assert.That(File.ReadAllText(target), Is.EqualTo("a file"));
    }

    [Test]
    public void Accepts_a_missing_path_and_an_existing_empty_directory()
    {
        using var dir = new TempDir();
        string missing = Path.Combine(dir.Path, "a", "b", "c");
        string empty = dir["empty"];
        Directory.CreateDirectory(empty);

        using var kv = KvStore.Open(dir["src"]);
        kv.Put("k"u8, "v"u8);
        foreach (string target in new[] { missing, empty })
        {
            var stats = kv.CompactTo(target);
            Assert.That(stats, Is.EqualTo(new CompactionStats(1, 1, WireFormat.FrameSize(1, 1))));
            Assert.That(File.ReadAllBytes(Seg(target, 1)), Is.EqualTo(WireFormat.Encode(RecordType.Put, 1, "k"u8, "v"u8)), target);
        }
    }

    // ---- the source ----

    [Test]
    public void Source_directory_is_unchanged_and_the_source_stays_usable()
    {
        using var dir = new TempDir();
        string source = dir["src"];
        using (var log = RecordLog.Open(source))
        {
            // A raw record among the puts: the store hands out no writable log, so write it before the store opens.
            log.AppendRecord(RecordType.Put, "a"u8, "1"u8);
            log.Append("raw"u8);
            log.AppendRecord(RecordType.Put, "b"u8, "2"u8);
        }

        using (var kv = KvStore.Open(source))
        {
            kv.Rotate();
            kv.Put("a"u8, "3"u8);
            kv.Delete("b"u8);
            kv.Put("c"u8, "4"u8);
            kv.Rotate();
            kv.Put("d"u8, "5"u8);
            kv.Fsync();
            var before = Tree(source);
            var projection = Dump(kv);

            kv.CompactTo(dir["out"]);

            Assert.That(Tree(source), Is.EqualTo(before), "every file of the source (segments and .lock) keeps its bytes");
            Assert.That(Dump(kv), Is.EqualTo(projection));

            kv.Put("e"u8, "6"u8);
            kv.Delete("a"u8);
            kv.Fsync();
            Assert.That(S(kv.Get("e"u8)), Is.EqualTo("6"));
            Assert.That(kv.Count, Is.EqualTo(3));
        }

        using (var reopened = KvStore.Open(source))
        {
            Assert.That(Dump(reopened), Is.EqualTo(HexMap([new(B("c"), B("4")), new(B("d"), B("5")), new(B("e"), B("6"))])));
        }

        using var compacted = KvStore.Open(dir["out"]);
        Assert.That(Dump(compacted), Is.EqualTo(HexMap([new(B("a"), B("3")), new(B("c"), B("4")), new(B("d"), B("5"))])));
    }

    [Test]
    public void Compacting_a_read_only_store_works_and_changes_nothing_in_the_source()
    {
        using var dir = new TempDir();
        string source = dir["src"];
        using (var kv = KvStore.Open(source))
        {
            kv.Put("b"u8, "2"u8);
            kv.Put("a"u8, "1"u8);
        }

        var before = Tree(source);
        using (var ro = KvStore.OpenReadOnly(source))
        {
            Assert.That(ro.CompactTo(dir["out"]), Is.EqualTo(new CompactionStats(2, 2, 2 * WireFormat.FrameSize(1, 1))));
        }

        Assert.That(Tree(source), Is.EqualTo(before));
        Assert.That(File.ReadAllBytes(Seg(dir["out"], 1)), Is.EqualTo(
            WireFormat.Encode(RecordType.Put, 1, "a"u8, "1"u8).Concat(WireFormat.Encode(RecordType.Put, 2, "b"u8, "2"u8))));
    }

    // ---- the output ----

    [Test]
    public void Output_is_one_put_per_live_key_with_txids_1_to_n_in_bytewise_key_order()
    {
        byte[][] keys =
        [
            [0xFF], [0x80, 0x01], [0x80], B("ab"), B("a"), B("b"), [0x00], [], [0x7F, 0xFF], B("a\u00e9"),
        ];
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir["src"]))
        {
            kv.Put("deleted"u8, "x"u8);
            foreach (var key in keys)
            {
                kv.Put(key, [.. key, .. "-old"u8]);
            }

            kv.Rotate();
            foreach (var key in keys)
            {
                kv.Put(key, [.. "v:"u8, .. key]);
            }

            kv.Delete("deleted"u8);
            kv.CompactTo(dir["out"]);
        }

        var sorted = keys.Order(Comparer<byte[]>.Create(CompareBytes)).ToList();
        Assert.That(sorted.Select(k => Hex(k)), Is.EqualTo(new[] { "", "00", "61", "6162", "61c3a9", "62", "7fff", "80", "8001", "ff" }),
            "the test's own bytewise order: unsigned, shorter prefix first");

        var expected = new List<byte>();
        for (int i = 0; i < sorted.Count; i++)
        {
            expected.AddRange(WireFormat.Encode(RecordType.Put, (ulong)i + 1, sorted[i], [.. "v:"u8, .. sorted[i]]));
        }

        Assert.That(SegmentFiles.List(dir["out"]), Is.EqualTo(new[] { 1u }), "a single segment");
        Assert.That(File.ReadAllBytes(Seg(dir["out"], 1)), Is.EqualTo(expected.ToArray()));

        var records = Records(dir["out"]);
        Assert.That(records.Select(r => r.TxId), Is.EqualTo(Enumerable.Range(1, keys.Length).Select(i => (ulong)i)));
        Assert.That(records.Select(r => r.Type).Distinct(), Is.EqualTo(new[] { RecordType.Put }));
    }

    [Test]
    public void Stats_count_live_keys_and_the_frame_bytes_written()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir["src"]);
        long expectedBytes = 0;
        for (int i = 0; i < 100; i++)
        {
            kv.Put(B($"key-{i}"), new byte[i * 3]);
            if (i % 10 != 0)
            {
                expectedBytes += WireFormat.FrameSize(B($"key-{i}").Length, i * 3);
            }
        }

        for (int i = 0; i < 100; i += 10)
        {
            kv.Delete(B($"key-{i}"));
        }

        var stats = kv.CompactTo(dir["out"]);
        Assert.That(stats, Is.EqualTo(new CompactionStats(90, 90, expectedBytes)));
        Assert.That(new FileInfo(Seg(dir["out"], 1)).Length, Is.EqualTo(expectedBytes));
    }

    [Test]
    public void Empty_store_compacts_to_an_empty_segment()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir["src"]);
        kv.Put("k"u8, "v"u8);
        kv.Delete("k"u8);

        Assert.That(kv.CompactTo(dir["out"]), Is.EqualTo(new CompactionStats(0, 0, 0)));
        Assert.That(new FileInfo(Seg(dir["out"], 1)).Length, Is.Zero);
        using var compacted = KvStore.Open(dir["out"]);
        Assert.That(compacted.Count, Is.Zero);
    }

    [Test]
    public void Output_lock_is_released_when_compaction_returns()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir["src"]);
        kv.Put("k"u8, "v"u8);
        kv.CompactTo(dir["out"]);

        Assert.That(File.Exists(Path.Combine(dir["out"], ".lock")), Is.True);
        using (var log = RecordLog.Open(dir["out"]))
        {
            Assert.That(log.NextTxId, Is.EqualTo(2UL));
            log.AppendRecord(RecordType.Put, "k2"u8, "v2"u8);
        }

        using var compacted = KvStore.Open(dir["out"]);
        Assert.That(compacted.Count, Is.EqualTo(2));
    }

    [Test]
    public void Failed_compaction_leaves_the_source_intact_and_the_output_a_valid_prefix()
    {
        const int n = 20_000;
        using var dir = new TempDir();
        string source = dir["src"];
        string target = dir["out"];
        using var kv = KvStore.Open(source);
        var model = new List<KeyValuePair<byte[], byte[]>>();
        for (int i = 0; i < n; i++)
        {
            var key = B($"key-{i:D6}");
            var value = new byte[100];
            new Random(i).NextBytes(value);
            model.Add(new(key, value));
        }

        PutAll(kv, model);
        kv.Fsync();
        var before = Tree(source);

        using (var faults = FaultInjector.Install())
        {
            // The first ~1 MiB batch of the output goes through, the second write fails.
            faults.Fail(Call.Write, ErrorNumbers.EIO, skip: 1, path: p => p == Seg(target, 1));
            Assert.Throws(Is.InstanceOf<DataWalException>(), () => kv.CompactTo(target));
            Assert.That(faults.Count(Call.Write), Is.GreaterThanOrEqualTo(2));
        }

        Assert.That(Tree(source), Is.EqualTo(before));
        Assert.That(kv.Count, Is.EqualTo(n));
        kv.Put("after"u8, "failure"u8);
        Assert.That(S(kv.Get("after"u8)), Is.EqualTo("failure"));

        using (var partial = RecordLog.Open(target))   // the lock was released despite the failure
        {
            var records = partial.Scan();
            Assert.That(records, Has.Count.InRange(1, n - 1));
            for (int i = 0; i < records.Count; i++)
            {
                Assert.That(records[i].Key.ToArray(), Is.EqualTo(model[i].Key));
                Assert.That(records[i].Payload.ToArray(), Is.EqualTo(model[i].Value));
            }
        }
    }

    // ---- scale ----

    [Test]
    public void Compacts_a_large_value()
    {
        using var dir = new TempDir();
        var big = new byte[5 * 1024 * 1024];
        new Random(42).NextBytes(big);
        using var kv = KvStore.Open(dir["src"]);
        kv.Put("a"u8, "before"u8);
        kv.Put("big"u8, big);
        kv.Put("c"u8, "after"u8);

        var stats = kv.CompactTo(dir["out"]);
        Assert.That(stats.BytesWritten, Is.EqualTo(WireFormat.FrameSize(1, 6) + WireFormat.FrameSize(3, big.Length) + WireFormat.FrameSize(1, 5)));

        using var compacted = KvStore.Open(dir["out"]);
        Assert.That(compacted.Get("big"u8), Is.EqualTo(big));
        Assert.That(S(compacted.Get("a"u8)), Is.EqualTo("before"));
        Assert.That(S(compacted.Get("c"u8)), Is.EqualTo("after"));
        Assert.That(Records(dir["out"]).Select(r => r.TxId), Is.EqualTo(new[] { 1UL, 2UL, 3UL }));
    }

    [Test]
    public void Compacts_many_keys()
    {
        const int n = 20_000;
        using var dir = new TempDir();
        var rng = new Random(7);
        var model = new Dictionary<string, KeyValuePair<byte[], byte[]>>();
        using var kv = KvStore.Open(dir["src"]);
        var pairs = new List<KeyValuePair<byte[], byte[]>>();
        for (int i = 0; i < n; i++)
        {
            var key = B($"k{rng.Next():x8}-{i}");
            var value = new byte[rng.Next(0, 200)];
            rng.NextBytes(value);
            pairs.Add(new(key, value));
            model[Hex(key)] = new(key, value);
        }

        PutAll(kv, pairs);
        var stats = kv.CompactTo(dir["out"]);
        Assert.That(stats.LiveKeys, Is.EqualTo(n));
        Assert.That(stats.BytesWritten, Is.EqualTo(pairs.Sum(p => WireFormat.FrameSize(p.Key.Length, p.Value.Length))));
        Assert.That(new FileInfo(Seg(dir["out"], 1)).Length, Is.EqualTo(stats.BytesWritten));

        var records = Records(dir["out"]);
        Assert.That(records, Has.Count.EqualTo(n));
        var sortedKeys = model.Values.Select(p => p.Key).Order(Comparer<byte[]>.Create(CompareBytes)).ToList();
        for (int i = 0; i < n; i++)
        {
            if (records[i].TxId != (ulong)i + 1 || !records[i].Key.Span.SequenceEqual(sortedKeys[i]) ||
                !records[i].Payload.Span.SequenceEqual(model[Hex(sortedKeys[i])].Value))
            {
                Assert.Fail($"record {i} is {records[i]}, expected key {Hex(sortedKeys[i])} with txid {i + 1}");
            }
        }

        using var compacted = KvStore.Open(dir["out"]);
        Assert.That(Dump(compacted), Is.EqualTo(HexMap(model.Values)));
    }

    private static void PutAll(KvStore kv, IEnumerable<KeyValuePair<byte[], byte[]>> pairs)
    {
        foreach (var (key, value) in pairs)
        {
            kv.Put(key, value);
        }
    }
}
