using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// Writer poisoning (docs/design.md U2.3–U2.4, upstream poison_writer.rs docs/design.md U7.10, docs/design.md D7), driven by real faults
/// injected at SafeAtomic's system-call seam.
/// </summary>
public class PoisonTests
{
    private const string Prefix = "datawal: writer poisoned: ";
    private const string Suffix = "; drop handle and reopen";

    /// <summary>Upstream's seed: Put a=1, Put b=22, fsync.</summary>
    private static RecordLog Seeded(TempDir dir)
    {
        var log = RecordLog.Open(dir.Path);
        log.AppendRecord(RecordType.Put, B("a"), B("1"));
        log.AppendRecord(RecordType.Put, B("b"), B("22"));
        log.Fsync();
        return log;
    }

    private static string Message(string reason) => Prefix + reason + Suffix;

    /// <summary>Every write entry point now throws the poison error with <paramref name="reason"/>, doing no I/O.</summary>
    private static void AssertWritesRefused(RecordLog log, FaultInjector faults, string reason)
    {
        int calls = faults.Calls.Count;
        using var batch = new RecordBatch();
        batch.Add(RecordType.Put, B("k"), B("v"));
        var errors = new[]
        {
            Assert.Throws<WriterPoisonedException>(() => log.Append(B("x")))!,
            Assert.Throws<WriterPoisonedException>(() => log.AppendRecord(RecordType.Put, B("k"), B("v")))!,
            Assert.Throws<WriterPoisonedException>(() => log.AppendRecord(RecordType.Delete, B("k"), []))!,
            Assert.Throws<WriterPoisonedException>(() => log.AppendBatch(batch))!,
            Assert.Throws<WriterPoisonedException>(() => log.Fsync())!,
            Assert.Throws<WriterPoisonedException>(() => log.Rotate())!,
            Assert.Throws<WriterPoisonedException>(() => log.AppendAsync(B("x")).AsTask().GetAwaiter().GetResult())!,
            Assert.Throws<WriterPoisonedException>(() => log.AppendRecordAsync(RecordType.Put, B("k"), B("v")).AsTask().GetAwaiter().GetResult())!,
            Assert.Throws<WriterPoisonedException>(() => log.AppendBatchAsync(batch).AsTask().GetAwaiter().GetResult())!,
            Assert.Throws<WriterPoisonedException>(() => log.FsyncAsync().AsTask().GetAwaiter().GetResult())!,
        };
        foreach (var e in errors)
        {
            Assert.That(e.Message, Is.EqualTo(Message(reason)));
            Assert.That(e.Reason, Is.EqualTo(reason));
            Assert.That(e, Is.InstanceOf<DataWalException>());
        }

        Assert.That(faults.Calls.Count, Is.EqualTo(calls), "a poisoned writer refuses before any system call");
        Assert.That(log.IsPoisoned, Is.True);
    }

    private static void AssertReadsWork(RecordLog log, TempDir dir, string[] keys)
    {
        Assert.That(log.IsPoisoned, Is.True);
        Assert.That(log.ActiveSegment, Is.EqualTo(1u));
        Assert.That(log.Directory, Is.EqualTo(dir.Path));
        Assert.That(log.RecoveryReport.FilesScanned, Is.EqualTo(1));
        Assert.That(log.ScanIter().Select(r => S(r.Key)), Is.EqualTo(keys));
        Assert.That(log.Scan().Select(r => S(r.Key)), Is.EqualTo(keys));
    }

    [Test]
    public void Fresh_log_is_not_poisoned()
    {
        using var dir = new TempDir();
        using var log = Seeded(dir);
        Assert.That(log.IsPoisoned, Is.False);
    }

    [Test]
    public void Append_failure_poisons_subsequent_writes_and_reads_keep_working()
    {
        using var dir = new TempDir();
        using var log = Seeded(dir);
        using var faults = FaultInjector.Install();
        faults.Fail(Call.Write, ErrorNumbers.EIO, times: 1);

        var first = Assert.Throws<DataWalException>(() => log.AppendRecord(RecordType.Put, B("c"), B("333")));
        Assert.That(first, Is.Not.InstanceOf<WriterPoisonedException>(), "the failing call reports the I/O error itself");
        Assert.That(first!.Message, Does.StartWith($"datawal: write_all to segment {Seg(dir.Path, 1)}: "));
        Assert.That(first.InnerException, Is.InstanceOf<SystemCallException>());
        Assert.That(((SystemCallException)first.InnerException!).ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
        Assert.That(log.IsPoisoned, Is.True);

        // The fault is gone, but the handle stays poisoned.
        AssertWritesRefused(log, faults, "append_record write_all failed");
        AssertReadsWork(log, dir, ["a", "b"]);
    }

    [Test]
    public void Poison_message_is_stable_format()
    {
        using var dir = new TempDir();
        using var log = Seeded(dir);
        using var faults = FaultInjector.Install();
        faults.Fail(Call.Write, ErrorNumbers.ENOSPC);
        Assert.Throws<DataWalException>(() => log.Append(B("x")));
        var e = Assert.Throws<WriterPoisonedException>(() => log.Append(B("y")));
        Assert.That(e!.Message, Is.EqualTo("datawal: writer poisoned: append_record write_all failed; drop handle and reopen"));
    }

    [Test]
    public void Reopen_after_drop_clears_poison_and_recovers_prefix()
    {
        using var dir = new TempDir();
        using (var log = Seeded(dir))
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Write, ErrorNumbers.EIO);
            Assert.Throws<DataWalException>(() => log.AppendRecord(RecordType.Put, B("c"), B("3")));
            Assert.That(log.IsPoisoned, Is.True);
        }

        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.IsPoisoned, Is.False);
        Assert.That(reopened.Scan().Select(r => S(r.Key)), Is.EqualTo(new[] { "a", "b" }));
        reopened.AppendRecord(RecordType.Put, B("c"), B("3"));
        reopened.Fsync();
        Assert.That(reopened.Scan().Select(r => (S(r.Key), r.TxId)), Is.EqualTo(new[] { ("a", 1UL), ("b", 2UL), ("c", 3UL) }));
    }

    [Test]
    public void A_torn_append_poisons_and_the_reopen_cuts_the_partial_frame()
    {
        using var dir = new TempDir();
        long goodLength;
        using (var log = Seeded(dir))
        {
            goodLength = new FileInfo(Seg(dir.Path, 1)).Length;
            using var faults = FaultInjector.Install();
            faults.ShortWrites(10, times: 1).Fail(Call.Write, ErrorNumbers.EIO);
            Assert.Throws<DataWalException>(() => log.Append(B("a payload that will be torn")));
            Assert.That(faults.Count(Call.Write), Is.EqualTo(2), "one short write, then the failing continuation");
            AssertWritesRefused(log, faults, "append_record write_all failed");
            Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.EqualTo(goodLength + 10));
            AssertReadsWork(log, dir, ["a", "b"]);
        }

        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.RecoveryReport, Is.EqualTo(new RecoveryReport
        {
            FilesScanned = 1,
            RecordsReplayed = 2,
            TailTruncated = 1,
            TailBytesDiscarded = 10,
            LastTxIdSeen = 2,
            TailCut = true,
        }));
        Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.EqualTo(goodLength));
        Assert.That(reopened.Append(B("next")), Is.EqualTo(new RecordRef(1, (ulong)goodLength, 32)));
        Assert.That(reopened.Scan().Select(r => r.TxId), Is.EqualTo(new ulong[] { 1, 2, 3 }));
    }

    [Test]
    public void Fsync_data_failure_poisons_with_fsync_sync_all_failed()
    {
        using var dir = new TempDir();
        using var log = Seeded(dir);
        log.Append(B("unsynced"));
        using var faults = FaultInjector.Install();
        faults.Fail(Call.FsyncData, ErrorNumbers.EIO, times: 1);
        var e = Assert.Throws<DataWalException>(() => log.Fsync());
        Assert.That(e, Is.Not.InstanceOf<WriterPoisonedException>());
        Assert.That(e!.Message, Does.StartWith($"datawal: fsync segment {Seg(dir.Path, 1)}: "));
        AssertWritesRefused(log, faults, "fsync sync_all failed");
        AssertReadsWork(log, dir, ["a", "b", ""]);
    }

    [Test]
    public void Fsync_directory_failure_on_the_first_fsync_after_open_poisons_with_fsync_fsync_dir_failed()
    {
        using var dir = new TempDir();
        using (Seeded(dir))
        {
        }

        using var log = RecordLog.Open(dir.Path);
        using var faults = FaultInjector.Install();
        faults.Fail(Call.FsyncDirectory, ErrorNumbers.EIO, times: 1);
        var e = Assert.Throws<DataWalException>(() => log.Fsync());
        Assert.That(e, Is.Not.InstanceOf<WriterPoisonedException>());
        Assert.That(e!.Message, Does.StartWith($"datawal: fsync log directory {dir.Path}: "));
        Assert.That(faults.Calls.Select(c => c.Call), Is.EqualTo(new[] { Call.FsyncData, Call.FsyncDirectory }));
        AssertWritesRefused(log, faults, "fsync fsync_dir failed");
        AssertReadsWork(log, dir, ["a", "b"]);
    }

    [Test]
    public void Rotate_failing_to_sync_the_previous_segment_poisons()
    {
        using var dir = new TempDir();
        using var log = Seeded(dir);
        using var faults = FaultInjector.Install();
        faults.Fail(Call.FsyncData, ErrorNumbers.EIO, times: 1);
        var e = Assert.Throws<DataWalException>(() => log.Rotate());
        Assert.That(e, Is.Not.InstanceOf<WriterPoisonedException>());
        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 1 }), "no new segment after the failed sync");
        AssertWritesRefused(log, faults, "rotate sync_all on previous segment failed");
        AssertReadsWork(log, dir, ["a", "b"]);
    }

    [Test]
    public void Rotate_failing_to_create_the_new_segment_poisons()
    {
        using var dir = new TempDir();
        using var log = Seeded(dir);
        using var faults = FaultInjector.Install();
        string next = Seg(dir.Path, 2);
        faults.Fail(Call.Open, ErrorNumbers.ENOSPC, path: p => p == next);
        var e = Assert.Throws<DataWalException>(() => log.Rotate());
        Assert.That(e!.Message, Does.StartWith($"datawal: create segment {next}: "));
        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 1 }));
        AssertWritesRefused(log, faults, "rotate create new segment failed");
        AssertReadsWork(log, dir, ["a", "b"]);
    }

    [Test]
    public void Rotate_failing_to_fsync_the_directory_after_creating_the_segment_poisons()
    {
        using var dir = new TempDir();
        using (var log = Seeded(dir))
        {
            using var faults = FaultInjector.Install();
            faults.Fail(Call.FsyncDirectory, ErrorNumbers.EIO, times: 1);
            var e = Assert.Throws<DataWalException>(() => log.Rotate());
            Assert.That(e!.Message, Does.StartWith($"datawal: fsync log directory {dir.Path}: "));
            Assert.That(faults.WriteSideCalls.Select(c => c.Call), Is.EqualTo(new[] { Call.FsyncData, Call.Open, Call.FsyncDirectory }));
            AssertWritesRefused(log, faults, "rotate fsync_dir after segment create failed");
            AssertReadsWork(log, dir, ["a", "b"]);
        }

        // The new segment may exist; a reopen makes it the (empty) active segment and loses nothing.
        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.IsPoisoned, Is.False);
        Assert.That(reopened.Scan().Select(r => S(r.Key)), Is.EqualTo(new[] { "a", "b" }));
        var written = reopened.AppendRecord(RecordType.Put, B("c"), B("3"));
        Assert.That((written.Segment, written.Offset), Is.EqualTo((reopened.ActiveSegment, 0UL)));
        Assert.That(reopened.Scan().Select(r => r.TxId), Is.EqualTo(new ulong[] { 1, 2, 3 }));
    }

    [Test]
    public void The_first_reason_sticks()
    {
        using var dir = new TempDir();
        using var log = Seeded(dir);
        using var faults = FaultInjector.Install();
        faults.Fail(Call.FsyncData, ErrorNumbers.EIO);
        log.Append(B("x"));
        Assert.Throws<DataWalException>(() => log.Fsync());
        faults.Clear();
        faults.Fail(Call.Write, ErrorNumbers.EIO);
        var e = Assert.Throws<WriterPoisonedException>(() => log.Append(B("y")));
        Assert.That(e!.Reason, Is.EqualTo("fsync sync_all failed"));
    }

    [Test]
    public void Oversize_append_is_an_error_but_not_poison()
    {
        using var dir = new TempDir();
        using var log = Seeded(dir);
        using var faults = FaultInjector.Install();
        Assert.Throws<RecordTooLargeException>(() => log.AppendRecord(RecordType.Put, new byte[65537], []));
        Assert.That(log.IsPoisoned, Is.False);
        Assert.That(faults.Count(Call.Write), Is.Zero, "nothing was written");
        log.Append(B("fine"));
        log.Fsync();
    }

    [Test]
    public void Txid_overflow_poisons_the_append_after_the_last_txid()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 1), WireFormat.Encode(RecordType.Raw, ulong.MaxValue - 1, [], B("almost")));
        using (var log = RecordLog.Open(dir.Path))
        {
            Assert.That(log.NextTxId, Is.EqualTo(ulong.MaxValue));
            log.Append(B("last"));
            Assert.That(log.IsPoisoned, Is.False, "the last txid is valid; the refusal comes with the next append");
            var e = Assert.Throws<WriterPoisonedException>(() => log.Append(B("overflow")));
            Assert.That(e!.Message, Is.EqualTo(Message("txid overflow")));
            Assert.That(log.IsPoisoned, Is.True);
            Assert.That(log.Scan().Select(r => r.TxId), Is.EqualTo(new[] { ulong.MaxValue - 1, ulong.MaxValue }));
        }

        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.RecoveryReport.LastTxIdSeen, Is.EqualTo(ulong.MaxValue));
        Assert.That(reopened.NextTxId, Is.EqualTo(0UL), "docs/design.md D18: no wrap to 1 (upstream wraps)");
    }
}
