using DataWal.Core;
using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// The KV projection's basic contract: upstream <c>tests/datawal.rs</c> tests 1–6 (7–9 live in
/// <see cref="CompactionTests"/> and <see cref="ExportTests"/>), the KV parts of <c>tests/integration.rs</c>
/// 2–3, and the edges of put/delete/open.
/// </summary>
public class KvBasicsTests
{
    // ---- upstream tests/datawal.rs ----

    [Test]
    public void Put_get_roundtrip()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k1"u8, "v1"u8);
        kv.Put("k2"u8, "value-two"u8);

        Assert.That(S(kv.Get("k1"u8)), Is.EqualTo("v1"));
        Assert.That(S(kv.Get("k2"u8)), Is.EqualTo("value-two"));
        Assert.That(kv.Get("missing"u8), Is.Null);
        Assert.That(kv.Count, Is.EqualTo(2));
        Assert.That(kv.IsEmpty, Is.False);
        Assert.That(kv.IsReadOnly, Is.False);
        Assert.That(kv.Directory, Is.EqualTo(Path.GetFullPath(dir.Path)));
    }

    [Test]
    public void Put_overwrites_last_write_wins()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "v1"u8);
        kv.Put("k"u8, "v2"u8);
        kv.Put("k"u8, "v3"u8);

        Assert.That(S(kv.Get("k"u8)), Is.EqualTo("v3"));
        Assert.That(kv.Count, Is.EqualTo(1));
    }

    [Test]
    public void Delete_removes_key()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "v"u8);
        kv.Delete("k"u8);

        Assert.That(kv.ContainsKey("k"u8), Is.False);
        Assert.That(kv.Get("k"u8), Is.Null);
        Assert.That(kv.RefOf("k"u8), Is.Null);
        Assert.That(kv.Count, Is.Zero);
        Assert.That(kv.IsEmpty, Is.True);
        Assert.That(kv.Keys(), Is.Empty);
        Assert.That(kv.Items(), Is.Empty);
    }

    [Test]
    public void Put_after_delete_resurrects_new_value()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put("k"u8, "old"u8);
            kv.Delete("k"u8);
            kv.Put("k"u8, "new"u8);

            Assert.That(S(kv.Get("k"u8)), Is.EqualTo("new"));
            Assert.That(kv.Count, Is.EqualTo(1));
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(S(reopened.Get("k"u8)), Is.EqualTo("new"));
        Assert.That(reopened.Count, Is.EqualTo(1));
    }

    [Test]
    public void Len_counts_live_keys_only()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("a"u8, "1"u8);
        kv.Put("b"u8, "2"u8);
        kv.Put("c"u8, "3"u8);
        kv.Delete("b"u8);
        kv.Put("a"u8, "1bis"u8);

        Assert.That(kv.Count, Is.EqualTo(2));
        Assert.That(kv.Keys().Select(S).Order(StringComparer.Ordinal), Is.EqualTo(new[] { "a", "c" }));
    }

    [Test]
    public void Open_rebuilds_keydir_from_log()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put("a"u8, "1"u8);
            kv.Put("b"u8, "2"u8);
            kv.Put("a"u8, "3"u8);
            kv.Delete("b"u8);
            kv.Fsync();
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(reopened.Count, Is.EqualTo(1));
        Assert.That(S(reopened.Get("a"u8)), Is.EqualTo("3"));
        Assert.That(reopened.Get("b"u8), Is.Null);
        Assert.That(reopened.RecoveryReport.RecordsReplayed, Is.EqualTo(4));
        Assert.That(reopened.RecoveryReport.LastTxIdSeen, Is.EqualTo(4UL));
    }

    // ---- upstream tests/integration.rs (KV parts) ----

    [Test]
    public void Datawal_reopen_after_put_delete()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            for (int i = 0; i < 20; i++)
            {
                kv.Put(B($"k{i:D2}"), B($"v{i}"));
            }

            for (int i = 0; i < 20; i += 2)
            {
                kv.Delete(B($"k{i:D2}"));
            }

            kv.Put("k01"u8, "v1-bis"u8);
            kv.Fsync();
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(reopened.Count, Is.EqualTo(10));
        for (int i = 0; i < 20; i++)
        {
            var value = reopened.Get(B($"k{i:D2}"));
            if (i % 2 == 0)
            {
                Assert.That(value, Is.Null, $"k{i:D2} was deleted");
            }
            else
            {
                Assert.That(S(value), Is.EqualTo(i == 1 ? "v1-bis" : $"v{i}"), $"k{i:D2}");
            }
        }
    }

    [Test]
    public void Tail_truncation_after_reopen_leaves_only_the_complete_put()
    {
        using var dir = new TempDir();
        RecordRef last;
        using (var log = RecordLog.Open(dir.Path))
        {
            log.AppendRecord(RecordType.Put, "a"u8, "alpha"u8);
            last = log.AppendRecord(RecordType.Put, "b"u8, "beta"u8);
            log.Fsync();
        }

        Truncate(Seg(dir.Path, 1), (long)last.Offset + 25);

        using (var kv = KvStore.Open(dir.Path))
        {
            var report = kv.RecoveryReport;
            Assert.That(report.RecordsReplayed, Is.EqualTo(1));
            Assert.That(report.TailTruncated, Is.EqualTo(1));
            Assert.That(report.TailBytesDiscarded, Is.EqualTo(25));
            Assert.That(report.TailCut, Is.True, "a writer open cuts the damaged tail (docs/design.md D6)");
            Assert.That(kv.Count, Is.EqualTo(1));
            Assert.That(S(kv.Get("a"u8)), Is.EqualTo("alpha"));
            Assert.That(kv.Get("b"u8), Is.Null);

            // A put after the cut lands right after the last valid frame and survives a reopen.
            kv.Put("c"u8, "gamma"u8);
            Assert.That(kv.RefOf("c"u8)!.Value.Offset, Is.EqualTo(last.Offset));
            kv.Fsync();
        }

        using var again = KvStore.Open(dir.Path);
        Assert.That(again.RecoveryReport.TailTruncated, Is.Zero);
        Assert.That(Dump(again), Is.EqualTo(HexMap([new(B("a"), B("alpha")), new(B("c"), B("gamma"))])));
    }

    // ---- edges ----

    [Test]
    public void Delete_always_appends_a_tombstone_even_for_an_absent_key()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Delete("never-put"u8);
            kv.Put("k"u8, "v"u8);
            kv.Delete("k"u8);
            kv.Delete("k"u8);
            Assert.That(kv.Count, Is.Zero);
        }

        var records = Records(dir.Path);
        Assert.That(records.Select(r => (r.Type, S(r.Key.ToArray()), r.Payload.Length, r.TxId)), Is.EqualTo(new[]
        {
            (RecordType.Delete, "never-put", 0, 1UL),
            (RecordType.Put, "k", 1, 2UL),
            (RecordType.Delete, "k", 0, 3UL),
            (RecordType.Delete, "k", 0, 4UL),
        }));
    }

    [Test]
    public void Raw_records_are_invisible_to_the_kv_view()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put("a"u8, "1"u8);
        }

        // The store hands out no writable log: raw records come from a log opened on the directory between store opens.
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append("raw payload"u8);
            log.AppendRecord(RecordType.Raw, "b"u8, "raw with a key"u8);
        }

        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put("c"u8, "3"u8);
            Assert.That(kv.Count, Is.EqualTo(2));
            Assert.That(kv.Get("b"u8), Is.Null);
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(reopened.RecoveryReport.RecordsReplayed, Is.EqualTo(4));
        Assert.That(Dump(reopened), Is.EqualTo(HexMap([new(B("a"), B("1")), new(B("c"), B("3"))])));
    }

    [Test]
    public void Second_writer_open_is_refused_until_the_first_is_disposed()
    {
        using var dir = new TempDir();
        var first = KvStore.Open(dir.Path);
        first.Put("k"u8, "v"u8);
        var e = Assert.Throws<StoreLockedException>(() => KvStore.Open(dir.Path));
        Assert.That(e!.Message, Does.Contain("lock"));
        first.Dispose();
        first.Dispose();   // idempotent

        using var second = KvStore.Open(dir.Path);
        Assert.That(S(second.Get("k"u8)), Is.EqualTo("v"));
    }

    [Test]
    public void Oversize_key_or_value_is_refused_without_touching_keydir_or_log()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "v1"u8);
        ulong next = kv.Log.NextTxId;

        Assert.Throws<RecordTooLargeException>(() => kv.Put(new byte[WireFormat.MaxKeyLength + 1], "x"u8));
        Assert.Throws<RecordTooLargeException>(() => kv.Put("k"u8, new byte[WireFormat.MaxPayloadLength + 1]));
        Assert.Throws<RecordTooLargeException>(() => kv.Delete(new byte[WireFormat.MaxKeyLength + 1]));

        Assert.That(kv.Log.NextTxId, Is.EqualTo(next), "no txid consumed");
        Assert.That(kv.Log.IsPoisoned, Is.False);
        Assert.That(S(kv.Get("k"u8)), Is.EqualTo("v1"));
        Assert.That(kv.Count, Is.EqualTo(1));
        Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.EqualTo(WireFormat.FrameSize(1, 2)));
    }

    [Test]
    public void Largest_key_and_empty_key_and_empty_value_round_trip()
    {
        using var dir = new TempDir();
        var bigKey = new byte[WireFormat.MaxKeyLength];
        Random.Shared.NextBytes(bigKey);
        var bigValue = new byte[3 * 1024 * 1024 + 17];
        Random.Shared.NextBytes(bigValue);
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put(bigKey, "max key"u8);
            kv.Put(ReadOnlySpan<byte>.Empty, "empty key"u8);
            kv.Put("empty value"u8, ReadOnlySpan<byte>.Empty);
            kv.Put("big value"u8, bigValue);
            Assert.That(kv.Get("empty value"u8), Is.Empty);
            Assert.That(S(kv.Get(ReadOnlySpan<byte>.Empty)), Is.EqualTo("empty key"));
            kv.Fsync();
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(reopened.Count, Is.EqualTo(4));
        Assert.That(S(reopened.Get(bigKey)), Is.EqualTo("max key"));
        Assert.That(S(reopened.Get(ReadOnlySpan<byte>.Empty)), Is.EqualTo("empty key"));
        Assert.That(reopened.Get("empty value"u8), Is.Not.Null.And.Empty);
        Assert.That(reopened.ContainsKey("empty value"u8), Is.True);
        Assert.That(reopened.Get("big value"u8), Is.EqualTo(bigValue));
    }

    [Test]
    public void All_single_byte_keys_are_distinct()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            for (int b = 0; b < 256; b++)
            {
                kv.Put([(byte)b], [(byte)(255 - b), (byte)b]);
            }

            kv.Delete([0x80]);
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(reopened.Count, Is.EqualTo(255));
        for (int b = 0; b < 256; b++)
        {
            Assert.That(reopened.Get([(byte)b]), b == 0x80 ? Is.Null : Is.EqualTo(new[] { (byte)(255 - b), (byte)b }), $"key 0x{b:x2}");
        }
    }

    [Test]
    public void Keys_and_items_are_copies_of_the_live_set()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("a"u8, "1"u8);
        kv.Put("b"u8, "2"u8);
        kv.Put("c"u8, "3"u8);
        kv.Delete("b"u8);

        var keys = kv.Keys();
        Assert.That(keys.Select(S).Order(StringComparer.Ordinal), Is.EqualTo(new[] { "a", "c" }));
        keys[0][0] = (byte)'z';   // mutating a returned key must not touch the store
        Assert.That(kv.ContainsKey("a"u8) && kv.ContainsKey("c"u8), Is.True);
        Assert.That(kv.ContainsKey("z"u8), Is.False);

        var items = kv.Items().Select(p => (S(p.Key), S(p.Value))).Order();
        Assert.That(items, Is.EqualTo(new[] { ("a", "1"), ("c", "3") }));
    }

    [Test]
    public void Failed_put_poisons_the_store_and_leaves_the_keydir_unchanged()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put("a"u8, "1"u8);
            kv.Fsync();
            using (var faults = FaultInjector.Install())
            {
                faults.Fail(Call.Write, ErrorNumbers.EIO, times: 1);
                var failed = Assert.Throws<DataWalException>(() => kv.Put("a"u8, "2"u8));
                Assert.That(failed!.Message, Does.Contain("write_all"));
                Assert.That(faults.Count(Call.Write), Is.EqualTo(1));
            }

            Assert.That(kv.Log.IsPoisoned, Is.True);
            Assert.That(S(kv.Get("a"u8)), Is.EqualTo("1"), "the keydir keeps the value of the last successful put");
            Assert.That(kv.ContainsKey("b"u8), Is.False);
            Assert.That(kv.Count, Is.EqualTo(1));

            var poisoned = Assert.Throws<WriterPoisonedException>(() => kv.Put("c"u8, "3"u8));
            Assert.That(poisoned!.Message, Does.StartWith("datawal: writer poisoned: ").And.EndWith("; drop handle and reopen"));
            Assert.Throws<WriterPoisonedException>(() => kv.Delete("a"u8));
            Assert.Throws<WriterPoisonedException>(() => kv.Fsync());
            Assert.That(S(kv.Get("a"u8)), Is.EqualTo("1"), "reads keep working on a poisoned store");
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(reopened.Log.IsPoisoned, Is.False);
        Assert.That(Dump(reopened), Is.EqualTo(HexMap([new(B("a"), B("1"))])));
        reopened.Put("b"u8, "2"u8);
        Assert.That(S(reopened.Get("b"u8)), Is.EqualTo("2"));
    }

    [Test]
    public void Writes_after_dispose_throw()
    {
        using var dir = new TempDir();
        var kv = KvStore.Open(dir.Path);
        kv.Put("k"u8, "v"u8);
        kv.Dispose();

        Assert.Throws<ObjectDisposedException>(() => kv.Put("k"u8, "w"u8));
        Assert.Throws<ObjectDisposedException>(() => kv.Delete("k"u8));
        Assert.Throws<ObjectDisposedException>(() => kv.Fsync());
        Assert.Throws<ObjectDisposedException>(() => kv.Get("k"u8));

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(S(reopened.Get("k"u8)), Is.EqualTo("v"));
    }

    [Test]
    public void Open_creates_a_missing_directory_with_its_first_segment_and_lock()
    {
        using var dir = new TempDir();
        string store = Path.Combine(dir.Path, "a", "b", "store");
        using (var kv = KvStore.Open(store))
        {
            Assert.That(kv.Count, Is.Zero);
            Assert.That(Directory.GetFileSystemEntries(store).Select(Path.GetFileName).Order(StringComparer.Ordinal),
                Is.EqualTo(new[] { ".lock", "00000001.dwal" }));
        }

        Assert.That(File.Exists(Path.Combine(store, ".lock")), Is.True, "the lock file stays after dispose (upstream)");
    }

    [Test]
    public void Reads_work_with_a_zero_capacity_handle_pool()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path, new KvStoreOptions { ReadHandleCapacity = 0 });
        for (int i = 0; i < 10; i++)
        {
            kv.Put(B($"k{i}"), B($"v{i}"));
            if (i % 3 == 2)
            {
                kv.Rotate();
            }
        }

        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < 10; i++)
            {
                Assert.That(S(kv.Get(B($"k{i}"))), Is.EqualTo($"v{i}"));
            }
        }
    }
}
