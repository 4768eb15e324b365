using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary><see cref="RecordLog.DeleteSegmentsBefore"/> and <see cref="RecordLog.BeginCompaction"/>'s mechanism (docs/design.md D15).</summary>
[NonParallelizable]
public class RetentionTests
{
    /// <summary>A log with <paramref name="segments"/> segments of 3 records each (txids 1..3n), the last one active.</summary>
    private static RecordLog LogWithSegments(string directory, int segments)
    {
        var log = RecordLog.Open(directory);
        for (int s = 0; s < segments; s++)
        {
            if (s > 0)
            {
                log.Rotate();
            }

            for (int i = 0; i < 3; i++)
            {
                log.Append(B($"s{s}-r{i}"));
            }
        }

        return log;
    }

    [Test]
    public void Deletes_sealed_segments_below_the_position_in_ascending_order_and_fsyncs_the_directory()
    {
        using var dir = new TempDir();
        using var log = LogWithSegments(dir.Path, 5);
        using var faults = FaultInjector.Install();

        var deleted = log.DeleteSegmentsBefore(4);

        Assert.That(deleted, Is.EqualTo(new uint[] { 1, 2, 3 }));
        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 4, 5 }));
        var calls = faults.WriteSideCalls.Where(c => c.Call is Call.Unlink or Call.FsyncDirectory).ToList();
        Assert.That(calls.Select(c => c.Call), Is.EqualTo(new[] { Call.Unlink, Call.Unlink, Call.Unlink, Call.FsyncDirectory }));
        Assert.That(calls.Take(3).Select(c => Path.GetFileName(c.Path)), Is.EqualTo(new[] { "00000001.dwal", "00000002.dwal", "00000003.dwal" }));
        Assert.That(log.ScanIter().Select(r => r.TxId), Is.EqualTo(Enumerable.Range(10, 6).Select(i => (ulong)i)));
    }

    [Test]
    public void Never_deletes_the_active_segment_and_appends_go_on()
    {
        using var dir = new TempDir();
        using var log = LogWithSegments(dir.Path, 3);
        var deleted = log.DeleteSegmentsBefore(uint.MaxValue);
        Assert.That(deleted, Is.EqualTo(new uint[] { 1, 2 }));
        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 3 }));
        var next = log.Append(B("after"));
        Assert.That(next.Segment, Is.EqualTo(3u));
        Assert.That(log.DeleteSegmentsBefore(uint.MaxValue), Is.Empty);
    }

    [Test]
    public void While_the_active_segment_is_empty_the_segment_with_the_newest_record_stays_so_txids_continue_after_a_reopen()
    {
        using var dir = new TempDir();
        using (var log = LogWithSegments(dir.Path, 3))
        {
            log.Rotate();   // 4 is active and empty: the newest record (txid 9) is in 3
            log.Rotate();   // 5 active, 4 empty and sealed
            var deleted = log.DeleteSegmentsBefore(uint.MaxValue);
            Assert.That(deleted, Is.EqualTo(new uint[] { 1, 2, 4 }));
        }

        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.NextTxId, Is.EqualTo(10UL));
    }

    [Test]
    public void A_crash_part_way_leaves_a_log_that_opens_with_the_later_records()
    {
        using var dir = new TempDir();
        using (var log = LogWithSegments(dir.Path, 4))
        {
            using var faults = FaultInjector.Install();
            faults.Fail(Call.Unlink, ErrorNumbers.EIO, skip: 1, path: p => p?.EndsWith("00000002.dwal", StringComparison.Ordinal) == true || p?.EndsWith("00000001.dwal", StringComparison.Ordinal) == true);
            var error = Assert.Throws<DataWalException>(() => log.DeleteSegmentsBefore(4));
            Assert.That(error!.Message, Does.Contain("00000002.dwal").And.Contain("after deleting 1"));
            Assert.That(log.IsPoisoned, Is.False, "retention failing does not stop the writer");
            log.Append(B("still writing"));
        }

        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 2, 3, 4 }));
        Assert.That(reopened.ScanIter().Select(r => r.TxId).First(), Is.EqualTo(4UL));
        Assert.That(reopened.NextTxId, Is.EqualTo(14UL));
    }

    [Test]
    public void A_reader_inside_a_deleted_segment_finishes_it_from_its_handle()
    {
        using var dir = new TempDir();
        using var log = LogWithSegments(dir.Path, 3);
        using var iterator = RecordLogReader.Open(dir.Path).ScanIter().GetEnumerator();
        Assert.That(iterator.MoveNext(), Is.True);
        Assert.That(iterator.Current.TxId, Is.EqualTo(1UL));
        log.DeleteSegmentsBefore(2);
        var rest = new List<ulong>();
        while (iterator.MoveNext())
        {
            rest.Add(iterator.Current.TxId);
        }

        Assert.That(rest, Is.EqualTo(new ulong[] { 2, 3, 4, 5, 6, 7, 8, 9 }));
    }

    [Test]
    public void A_compaction_image_takes_frames_in_txid_order_only_and_abandoning_it_changes_nothing()
    {
        using var dir = new TempDir();
        using var log = LogWithSegments(dir.Path, 3);
        var before = SegmentFiles.List(dir.Path).ToDictionary(id => id, id => File.ReadAllBytes(Seg(dir.Path, id)));
        using (var compaction = log.BeginCompaction())
        {
            Assert.That(compaction, Is.Not.Null);
            Assert.That(compaction!.Segments, Is.EqualTo(new uint[] { 1, 2, 3 }), "the active segment was sealed first");
            Assert.That(compaction.LastTxId, Is.EqualTo(9UL));
            Assert.That(File.Exists(Path.Combine(dir.Path, SegmentCompaction.TempFileName)), Is.True);
            compaction.Add(WireFormat.Encode(RecordType.Raw, 5, default, B("x")));
            Assert.That(() => compaction.Add(WireFormat.Encode(RecordType.Raw, 5, default, B("x"))), Throws.ArgumentException.With.Message.Contains("ascending txid"));
            Assert.That(() => compaction.Add(WireFormat.Encode(RecordType.Raw, 10, default, B("x"))), Throws.ArgumentException);
            var torn = WireFormat.Encode(RecordType.Raw, 6, default, B("x"));
            torn[^1] ^= 1;
            Assert.That(() => compaction.Add(torn), Throws.ArgumentException.With.Message.Contains("whole valid frames"));
        }

        Assert.That(File.Exists(Path.Combine(dir.Path, SegmentCompaction.TempFileName)), Is.False);
        foreach (var (id, bytes) in before)
        {
            Assert.That(File.ReadAllBytes(Seg(dir.Path, id)), Is.EqualTo(bytes));
        }

        Assert.That(log.DeleteSegmentsBefore(2), Is.EqualTo(new uint[] { 1 }), "retention runs again once the compaction is abandoned");
    }

    [Test]
    public void A_committed_image_replaces_the_lowest_segment_and_the_others_go_in_ascending_order()
    {
        using var dir = new TempDir();
        using var log = LogWithSegments(dir.Path, 3);
        using var compaction = log.BeginCompaction()!;
        var kept = WireFormat.Encode(RecordType.Raw, 4, default, B("s1-r0"));
        var at = compaction.Add(kept);
        Assert.That(at, Is.EqualTo(new RecordRef(1, 0, (uint)kept.Length)));
        using var faults = FaultInjector.Install();
        bool installedBeforeDeletes = false;
        var deleted = compaction.Commit(() => installedBeforeDeletes = File.Exists(Seg(dir.Path, 2)));
        Assert.That(installedBeforeDeletes, Is.True);
        Assert.That(deleted, Is.EqualTo(new uint[] { 2, 3 }));
        var steps = faults.WriteSideCalls.Where(c => c.Call is Call.Fsync or Call.Rename or Call.Unlink or Call.FsyncDirectory).Select(c => c.Call == Call.Fsync ? "Fsync image" : $"{c.Call} {Path.GetFileName(c.Path)}").ToList();
        Assert.That(steps, Is.EqualTo(new[]
        {
            "Fsync image",   // its handle was opened before the injector, so the path is not known to it
            "Rename 00000001.dwal",
            $"FsyncDirectory {Path.GetFileName(dir.Path)}",
            "Unlink 00000002.dwal",
            "Unlink 00000003.dwal",
            $"FsyncDirectory {Path.GetFileName(dir.Path)}",
        }));
        Assert.That(log.ScanIter().Select(r => r.TxId), Is.EqualTo(new ulong[] { 4, 9 }), "the kept frame, then the txid watermark");
        Assert.That(() => compaction.Commit(), Throws.InvalidOperationException);
    }
}
