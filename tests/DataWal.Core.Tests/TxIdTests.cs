using NUnit.Framework;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>txid assignment (docs/design.md U1.7, docs/design.md D5).</summary>
public class TxIdTests
{
    [Test]
    public void Txids_start_at_1_and_increase_by_one_across_segments_and_record_types()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        Assert.That(log.NextTxId, Is.EqualTo(1UL));
        log.Append(B("raw"));
        log.AppendRecord(RecordType.Put, B("k"), B("v"));
        log.Fsync();
        log.Rotate();
        Assert.That(log.NextTxId, Is.EqualTo(3UL), "rotate and fsync do not touch the txid");
        log.AppendRecord(RecordType.Delete, B("k"), []);
        log.Rotate();
        log.Rotate();
        log.AppendRecord(RecordType.Raw, B("keyed raw"), B("p"));
        Assert.That(log.Scan().Select(r => (r.TxId, r.Type, r.Segment)), Is.EqualTo(new[]
        {
            (1UL, RecordType.Raw, 1u), (2UL, RecordType.Put, 1u), (3UL, RecordType.Delete, 2u), (4UL, RecordType.Raw, 4u),
        }));
        Assert.That(log.NextTxId, Is.EqualTo(5UL));
    }

    [Test]
    public void Reopen_resumes_at_max_plus_one()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            for (int i = 0; i < 7; i++)
            {
                log.Append(B($"{i}"));
            }

            log.Rotate();
        }

        using (var log = RecordLog.Open(dir.Path))
        {
            Assert.That(log.NextTxId, Is.EqualTo(8UL));
            Assert.That(log.RecoveryReport.LastTxIdSeen, Is.EqualTo(7UL));
            log.Append(B("8th"));
        }

        using var again = RecordLog.Open(dir.Path);
        Assert.That(again.Scan().Select(r => r.TxId), Is.EqualTo(Enumerable.Range(1, 8).Select(i => (ulong)i)));
    }

    [Test]
    public void Reopen_uses_the_maximum_txid_not_the_last_one()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 1), [
            .. WireFormat.Encode(RecordType.Raw, 5, [], B("a")),
            .. WireFormat.Encode(RecordType.Raw, 9, [], B("b")),
        ]);
        File.WriteAllBytes(Seg(dir.Path, 2), WireFormat.Encode(RecordType.Raw, 3, [], B("c")));
        using var log = RecordLog.Open(dir.Path);
        Assert.That(log.RecoveryReport.LastTxIdSeen, Is.EqualTo(9UL));
        Assert.That(log.NextTxId, Is.EqualTo(10UL));
        Assert.That(log.Append(B("d")), Is.EqualTo(new RecordRef(2, 29, 29)));
        Assert.That(log.Scan().Select(r => r.TxId), Is.EqualTo(new ulong[] { 5, 9, 3, 10 }), "txids are not validated on read");
    }

    [Test]
    public void Duplicate_and_gapped_txids_are_read_as_written()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 1), [
            .. WireFormat.Encode(RecordType.Raw, 7, [], B("a")),
            .. WireFormat.Encode(RecordType.Raw, 7, [], B("b")),
            .. WireFormat.Encode(RecordType.Raw, 2, [], B("c")),
            .. WireFormat.Encode(RecordType.Raw, 0, [], B("d")),
        ]);
        Assert.That(ReadAll(dir.Path).Select(r => r.TxId), Is.EqualTo(new ulong[] { 7, 7, 2, 0 }));
    }

    [Test]
    public void Oversize_append_consumes_no_txid_and_does_not_poison()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("one"));
        long size = new FileInfo(Seg(dir.Path, 1)).Length;
        var big = GC.AllocateUninitializedArray<byte>(67_108_865);

        Assert.Throws<RecordTooLargeException>(() => log.AppendRecord(RecordType.Put, new byte[65_537], B("v")));
        Assert.Throws<RecordTooLargeException>(() => log.Append(big));
        Assert.Throws<RecordTooLargeException>(() => log.AppendRecord(RecordType.Delete, new byte[70_000], []));

        Assert.That(log.IsPoisoned, Is.False);
        Assert.That(log.NextTxId, Is.EqualTo(2UL));
        Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.EqualTo(size), "nothing written");
        log.Append(B("two"));
        Assert.That(log.Scan().Select(r => (r.TxId, S(r.Payload))), Is.EqualTo(new[] { (1UL, "one"), (2UL, "two") }));
    }

    [Test]
    public void Txids_of_a_discarded_tail_are_reused()
    {
        using var dir = new TempDir();
        RecordRef last;
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("1"));
            log.Append(B("2"));
            last = log.Append(B("3"));
        }

        XorByte(Seg(dir.Path, 1), (long)last.Offset + 24, 0x01);
        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.NextTxId, Is.EqualTo(3UL));
        Assert.That(reopened.Append(B("new 3")), Is.EqualTo(new RecordRef(1, last.Offset, 33)));
        Assert.That(reopened.Scan().Select(r => (r.TxId, S(r.Payload))), Is.EqualTo(new[] { (1UL, "1"), (2UL, "2"), (3UL, "new 3") }));
    }
    private const string OverflowMessage = "datawal: writer poisoned: txid overflow; drop handle and reopen";

    [Test]
    public void A_log_whose_maximum_txid_is_ulong_max_opens_and_refuses_every_append_without_writing()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 1), [
            .. WireFormat.Encode(RecordType.Raw, 5, [], B("a")),
            .. WireFormat.Encode(RecordType.Put, ulong.MaxValue, B("k"), B("last")),
        ]);
        var before = Image(dir.Path);

        using var log = RecordLog.Open(dir.Path);
        Assert.That(log.RecoveryReport.LastTxIdSeen, Is.EqualTo(ulong.MaxValue));
        Assert.That(log.RecoveryReport.RecordsReplayed, Is.EqualTo(2));
        Assert.That(log.NextTxId, Is.EqualTo(0UL), "no txid left");
        Assert.That(log.Scan().Select(r => r.TxId), Is.EqualTo(new[] { 5UL, ulong.MaxValue }), "reads work");

        var e = Assert.Throws<WriterPoisonedException>(() => log.Append(B("wraps")))!;
        Assert.That(e.Message, Is.EqualTo(OverflowMessage));
        Assert.That(e.Reason, Is.EqualTo("txid overflow"));
        Assert.That(log.IsPoisoned, Is.True);
        Assert.That(Assert.Throws<WriterPoisonedException>(() => log.AppendRecord(RecordType.Delete, B("k"), []))!.Message, Is.EqualTo(OverflowMessage));
        using (var batch = new RecordBatch())
        {
            batch.Add(RecordType.Raw, [], B("b"));
            Assert.That(Assert.Throws<WriterPoisonedException>(() => log.AppendBatch(batch))!.Message, Is.EqualTo(OverflowMessage));
        }

        Assert.That(Image(dir.Path), Is.EqualTo(before), "nothing written");
        Assert.That(log.Scan().Select(r => r.TxId), Is.EqualTo(new[] { 5UL, ulong.MaxValue }), "reads still work");
    }

    [Test]
    public void The_append_that_takes_ulong_max_succeeds_and_is_durable_and_the_next_is_refused_also_after_a_reopen(
        [Values(DurabilityMode.Manual, DurabilityMode.EveryAppend, DurabilityMode.Grouped)] DurabilityMode durability)
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 1), WireFormat.Encode(RecordType.Raw, ulong.MaxValue - 1, [], B("a")));
        var options = new RecordLogOptions { Durability = durability };
        byte[] afterMax;
        using (var log = RecordLog.Open(dir.Path, options))
        {
            Assert.That(log.NextTxId, Is.EqualTo(ulong.MaxValue));
            Assert.That(log.Append(B("max")), Is.EqualTo(new RecordRef(1, 29, 31)));
            Assert.That(log.IsPoisoned, Is.False, "the last valid txid was used, none was passed");
            Assert.That(log.NextTxId, Is.EqualTo(0UL));
            log.Fsync();   // the record with txid ulong.MaxValue can be made durable
            afterMax = File.ReadAllBytes(Seg(dir.Path, 1));

            Assert.That(Assert.Throws<WriterPoisonedException>(() => log.Append(B("wraps")))!.Message, Is.EqualTo(OverflowMessage));
            Assert.That(File.ReadAllBytes(Seg(dir.Path, 1)), Is.EqualTo(afterMax), "nothing written");
            Assert.That(log.Scan().Select(r => (r.TxId, S(r.Payload))), Is.EqualTo(new[] { (ulong.MaxValue - 1, "a"), (ulong.MaxValue, "max") }));
        }

        using (var reopened = RecordLog.Open(dir.Path, options))
        {
            Assert.That(reopened.RecoveryReport.LastTxIdSeen, Is.EqualTo(ulong.MaxValue));
            Assert.That(Assert.Throws<WriterPoisonedException>(() => reopened.AppendAsync(B("wraps")).AsTask().Wait())!.Message, Is.EqualTo(OverflowMessage));
        }

        Assert.That(File.ReadAllBytes(Seg(dir.Path, 1)), Is.EqualTo(afterMax), "nothing written after the reopen either");
    }

    [Test]
    public void A_batch_whose_last_txid_would_pass_ulong_max_writes_nothing_and_one_that_ends_on_it_is_written_whole()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 1), WireFormat.Encode(RecordType.Raw, ulong.MaxValue - 2, [], B("a")));
        var before = Image(dir.Path);
        using (var log = RecordLog.Open(dir.Path))
        using (var batch = new RecordBatch())
        {
            batch.Add(RecordType.Raw, [], B("1"));
            batch.Add(RecordType.Raw, [], B("2"));
            batch.Add(RecordType.Raw, [], B("3"));
            Assert.That(Assert.Throws<WriterPoisonedException>(() => log.AppendBatch(batch))!.Message, Is.EqualTo(OverflowMessage));
            Assert.That(Image(dir.Path), Is.EqualTo(before), "all or nothing: not even the frames that had txids left");
        }

        using (var log = RecordLog.Open(dir.Path))
        using (var batch = new RecordBatch())
        {
            batch.Add(RecordType.Raw, [], B("1"));
            batch.Add(RecordType.Raw, [], B("2"));
            Assert.That(log.AppendBatch(batch), Is.EqualTo(ulong.MaxValue - 1));
            Assert.That(log.NextTxId, Is.EqualTo(0UL));
            Assert.That(log.IsPoisoned, Is.False);
            using var empty = new RecordBatch();
            Assert.That(log.AppendBatch(empty), Is.EqualTo(0UL), "an empty batch needs no txid");
        }

        var after = Image(dir.Path);
        using (var log = RecordLog.Open(dir.Path))
        using (var batch = new RecordBatch())
        {
            batch.Add(RecordType.Raw, [], B("wraps"));
            Assert.That(Assert.Throws<WriterPoisonedException>(() => log.AppendBatch(batch))!.Message, Is.EqualTo(OverflowMessage));
            Assert.That(log.Scan().Select(r => r.TxId), Is.EqualTo(new[] { ulong.MaxValue - 2, ulong.MaxValue - 1, ulong.MaxValue }));
        }

        Assert.That(Image(dir.Path), Is.EqualTo(after));
    }

    [Test]
    public void Rotate_after_the_last_txid_still_works_and_appends_stay_refused()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 1), WireFormat.Encode(RecordType.Raw, ulong.MaxValue, [], B("a")));
        using var log = RecordLog.Open(dir.Path);
        log.Rotate();
        Assert.That(log.ActiveSegment, Is.EqualTo(2u));
        Assert.That(Assert.Throws<WriterPoisonedException>(() => log.Append(B("wraps")))!.Message, Is.EqualTo(OverflowMessage));
        Assert.That(new FileInfo(Seg(dir.Path, 2)).Length, Is.Zero);
    }
}
