using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>RecordLog.AppendBatch and RecordBatch (docs/design.md D8: many frames, one write system call).</summary>
public class BatchTests
{
    private static RecordBatch Batch(params (RecordType Type, string Key, string Payload)[] records)
    {
        var batch = new RecordBatch(16);
        foreach (var (type, key, payload) in records)
        {
            batch.Add(type, B(key), B(payload));
        }

        return batch;
    }

    [Test]
    public void A_batch_gets_consecutive_txids_and_each_record_its_location()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("single"));
        using var batch = Batch((RecordType.Put, "a", "1"), (RecordType.Delete, "a", ""), (RecordType.Raw, "", "raw payload"));
        Assert.That((batch.Count, batch.Length), Is.EqualTo((3, 30 + 29 + 39)));

        ulong first = log.AppendBatch(batch);

        Assert.That(first, Is.EqualTo(2UL));
        Assert.That(log.NextTxId, Is.EqualTo(5UL));
        var records = Recs(log.Scan());
        Assert.That(records, Is.EqualTo(new[]
        {
            new Rec(RecordType.Raw, 1, "", Hex(B("single")), 1, 0, 34),
            new Rec(RecordType.Put, 2, Hex(B("a")), Hex(B("1")), 1, 34, 30),
            new Rec(RecordType.Delete, 3, Hex(B("a")), "", 1, 64, 29),
            new Rec(RecordType.Raw, 4, "", Hex(B("raw payload")), 1, 93, 39),
        }));
        Assert.That(Enumerable.Range(0, 3).Select(batch.RefAt), Is.EqualTo(records.Skip(1).Select(r => new RecordRef(r.Segment, r.Offset, r.Length))));
        Assert.That(log.Append(B("next")), Is.EqualTo(new RecordRef(1, 132, 32)));
    }

    [Test]
    public void A_batch_is_byte_identical_to_the_same_records_appended_one_by_one()
    {
        var records = Enumerable.Range(0, 50).Select(i => ((RecordType)(i % 3), Pattern(i % 7, i), Pattern(i * 13 % 200, i + 1))).ToList();
        using var single = new TempDir();
        using (var log = RecordLog.Open(single.Path))
        {
            foreach (var (type, key, payload) in records)
            {
                log.AppendRecord(type, key, payload);
            }
        }

        using var batched = new TempDir();
        using (var log = RecordLog.Open(batched.Path))
        using (var batch = new RecordBatch())
        {
            foreach (var (type, key, payload) in records)
            {
                batch.Add(type, key, payload);
            }

            log.AppendBatch(batch);
        }

        Assert.That(File.ReadAllBytes(Seg(batched.Path, 1)), Is.EqualTo(File.ReadAllBytes(Seg(single.Path, 1))));
    }

    [Test]
    public void A_batch_is_one_write_system_call()
    {
        using var dir = new TempDir();
        using var faults = FaultInjector.Install();
        using var log = RecordLog.Open(dir.Path);
        using var batch = new RecordBatch();
        for (int i = 0; i < 1000; i++)
        {
            batch.Add(RecordType.Put, B($"key-{i}"), Pattern(100, i));
        }

        int before = faults.Count(Call.Write);
        log.AppendBatch(batch);
        Assert.That(faults.Count(Call.Write) - before, Is.EqualTo(1));
        Assert.That(log.Scan(), Has.Count.EqualTo(1000));
    }

    [Test]
    public void An_empty_batch_writes_nothing_and_uses_no_txid()
    {
        using var dir = new TempDir();
        using var faults = FaultInjector.Install();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("x"));
        using var batch = new RecordBatch();
        int writes = faults.Count(Call.Write);
        Assert.That(log.AppendBatch(batch), Is.EqualTo(2UL), "the next txid");
        Assert.That(faults.Count(Call.Write), Is.EqualTo(writes));
        Assert.That(log.NextTxId, Is.EqualTo(2UL));
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.RefAt(0));
    }

    [Test]
    public void Adding_an_oversize_record_throws_and_leaves_the_batch_unchanged()
    {
        using var batch = Batch((RecordType.Put, "k", "v"));
        Assert.Throws<RecordTooLargeException>(() => batch.Add(RecordType.Put, new byte[65_537], []));
        Assert.That((batch.Count, batch.Length), Is.EqualTo((1, 30)));
    }

    [Test]
    public void Ref_at_before_the_append_is_refused()
    {
        using var batch = Batch((RecordType.Put, "k", "v"));
        Assert.Throws<InvalidOperationException>(() => batch.RefAt(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.RefAt(-1));
    }

    [Test]
    public void A_batch_can_be_reused_and_follows_rotations()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var batch = Batch((RecordType.Put, "a", "1"), (RecordType.Put, "b", "2"));
        Assert.That(log.AppendBatch(batch), Is.EqualTo(1UL));
        log.Rotate();

        batch.Add(RecordType.Put, B("c"), B("3"));   // adding after an append starts a new batch
        Assert.That(batch.Count, Is.EqualTo(1));
        Assert.That(log.AppendBatch(batch), Is.EqualTo(3UL));
        Assert.That(batch.RefAt(0), Is.EqualTo(new RecordRef(2, 0, 30)));

        batch.Clear();
        Assert.That((batch.Count, batch.Length), Is.EqualTo((0, 0)));
        Assert.That(log.Scan().Select(r => (S(r.Key), r.TxId, r.Segment)), Is.EqualTo(new[] { ("a", 1UL, 1u), ("b", 2UL, 1u), ("c", 3UL, 2u) }));
    }

    [Test]
    public void A_large_batch_grows_its_buffer()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var batch = new RecordBatch(256);
        var big = Pattern(1_000_000, 9);
        batch.Add(RecordType.Raw, [], B("small"));
        batch.Add(RecordType.Put, B("big"), big);
        batch.Add(RecordType.Raw, [], B("after"));
        log.AppendBatch(batch);
        var records = log.Scan();
        Assert.That(records.Select(r => r.Payload.ToArray()), Is.EqualTo(new[] { B("small"), big, B("after") }));
    }

    [Test]
    public void A_poisoned_or_disposed_log_refuses_batches()
    {
        using var dir = new TempDir();
        using var batch = Batch((RecordType.Put, "k", "v"));
        var log = RecordLog.Open(dir.Path);
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Write, ErrorNumbers.EIO);
            var e = Assert.Throws<DataWalException>(() => log.AppendBatch(batch));
            Assert.That(e, Is.Not.InstanceOf<WriterPoisonedException>());
        }

        var poisoned = Assert.Throws<WriterPoisonedException>(() => log.AppendBatch(batch));
        Assert.That(poisoned!.Message, Is.EqualTo("datawal: writer poisoned: append_batch write_all failed; drop handle and reopen"));
        log.Dispose();
        Assert.Throws<ObjectDisposedException>(() => log.AppendBatch(batch));
    }

    [Test]
    public void A_disposed_batch_refuses_to_be_used()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        var batch = Batch((RecordType.Put, "k", "v"));
        batch.Dispose();
        batch.Dispose();
        Assert.Throws<ObjectDisposedException>(() => log.AppendBatch(batch));
        Assert.That(log.NextTxId, Is.EqualTo(1UL));
        Assert.Throws<ObjectDisposedException>(() => batch.Add(RecordType.Put, B("k"), B("v")));
    }

    [Test]
    public void A_batch_that_would_overflow_txids_is_refused_before_writing()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 1), WireFormat.Encode(RecordType.Raw, ulong.MaxValue - 1, [], []));
        using var log = RecordLog.Open(dir.Path);
        long size = new FileInfo(Seg(dir.Path, 1)).Length;
        using var batch = Batch((RecordType.Raw, "", "1"), (RecordType.Raw, "", "2"));
        Assert.Throws<WriterPoisonedException>(() => log.AppendBatch(batch));
        Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.EqualTo(size));
    }
}
