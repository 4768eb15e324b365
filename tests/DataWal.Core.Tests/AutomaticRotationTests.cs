using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// <see cref="RecordLogOptions.MaxSegmentBytes"/> (docs/design.md D15): rotation before an append would pass the
/// limit, frames never split, batches never spanning segments, 0 = manual only, failures poisoning.
/// </summary>
public class AutomaticRotationTests
{
    // 24-byte header + 1-byte key + 10-byte payload + 4-byte CRC.
    private const int Frame = 39;

    private static byte[] Payload(int i) => B($"value-{i:D4}");

    private static Dictionary<uint, long> SegmentSizes(string directory) =>
        SegmentFiles.List(directory).ToDictionary(id => id, id => new FileInfo(Seg(directory, id)).Length);

    [Test]
    public void Appends_rotate_before_they_would_pass_the_limit_and_txids_continue()
    {
        using var dir = new TempDir();
        var options = new RecordLogOptions { MaxSegmentBytes = (3 * Frame) + 10 };
        var refs = new List<RecordRef>();
        using (var log = RecordLog.Open(dir.Path, options))
        {
            for (int i = 0; i < 10; i++)
            {
                refs.Add(log.AppendRecord(RecordType.Put, B("k"), Payload(i)));
            }

            Assert.That(log.ActiveSegment, Is.EqualTo(4u));
        }

        Assert.That(refs.Select(r => r.Segment), Is.EqualTo(new uint[] { 1, 1, 1, 2, 2, 2, 3, 3, 3, 4 }));
        Assert.That(refs.Select(r => r.Offset), Is.EqualTo(new ulong[] { 0, 39, 78, 0, 39, 78, 0, 39, 78, 0 }));
        Assert.That(SegmentSizes(dir.Path).Values, Is.All.LessThanOrEqualTo(options.MaxSegmentBytes));

        using var reopened = RecordLog.Open(dir.Path, options);
        var records = reopened.Scan();
        Assert.That(records.Select(r => r.TxId), Is.EqualTo(Enumerable.Range(1, 10).Select(i => (ulong)i)));
        Assert.That(records.Select(r => S(r.Payload)), Is.EqualTo(Enumerable.Range(0, 10).Select(i => S(Payload(i)))));
        Assert.That(reopened.AppendRecord(RecordType.Put, B("k"), Payload(10)).Segment, Is.EqualTo(4u), "a reopen keeps filling the active segment");
    }

    [Test]
    public void A_frame_larger_than_the_limit_goes_alone_into_a_fresh_segment_and_is_never_split()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path, new RecordLogOptions { MaxSegmentBytes = 100 });
        var small = log.Append(B("a"));
        var big = log.Append(new byte[500]);
        var after = log.Append(B("b"));

        Assert.That(small.Segment, Is.EqualTo(1u));
        Assert.That((big.Segment, big.Offset, big.Length), Is.EqualTo((2u, 0UL, 528u)), "whole, at the start of its own segment");
        Assert.That((after.Segment, after.Offset), Is.EqualTo((3u, 0UL)));
        Assert.That(log.Scan().Select(r => r.Payload.Length), Is.EqualTo(new[] { 1, 500, 1 }));
    }

    [Test]
    public void An_empty_active_segment_takes_any_append_without_rotating()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path, new RecordLogOptions { MaxSegmentBytes = 10 });
        var first = log.Append(new byte[100]);
        Assert.That(first.Segment, Is.EqualTo(1u), "no empty segment is left behind");
        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 1 }));
    }

    [Test]
    public void A_batch_never_spans_segments()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path, new RecordLogOptions { MaxSegmentBytes = 4 * Frame });
        log.AppendRecord(RecordType.Put, B("k"), Payload(0));
        log.AppendRecord(RecordType.Put, B("k"), Payload(1));
        using var batch = new RecordBatch();
        for (int i = 2; i < 5; i++)
        {
            batch.Add(RecordType.Put, B("k"), Payload(i));
        }

        log.AppendBatch(batch);
        Assert.That(Enumerable.Range(0, 3).Select(i => batch.RefAt(i).Segment), Is.All.EqualTo(2u), "2 + 3 frames would pass 4: the whole batch moved");

        using var huge = new RecordBatch();
        for (int i = 5; i < 11; i++)
        {
            huge.Add(RecordType.Put, B("k"), Payload(i));
        }

        log.AppendBatch(huge);
        Assert.That(Enumerable.Range(0, 6).Select(i => huge.RefAt(i).Segment), Is.All.EqualTo(3u), "a batch over the limit goes whole into a fresh segment");
        Assert.That(log.Scan().Select(r => r.TxId), Is.EqualTo(Enumerable.Range(1, 11).Select(i => (ulong)i)));
    }

    [Test]
    public void Zero_means_manual_rotation_only_and_the_default_is_128_MiB()
    {
        Assert.That(new RecordLogOptions().MaxSegmentBytes, Is.EqualTo(128L * 1024 * 1024));
        Assert.That(RecordLogOptions.DefaultMaxSegmentBytes, Is.EqualTo(128L * 1024 * 1024));
        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new RecordLogOptions { MaxSegmentBytes = -1 });
        Assert.That(refused!.ParamName, Is.EqualTo(nameof(RecordLogOptions.MaxSegmentBytes)));

        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path, new RecordLogOptions { MaxSegmentBytes = 0 });
        for (int i = 0; i < 50; i++)
        {
            log.Append(new byte[1000]);
        }

        Assert.That(log.ActiveSegment, Is.EqualTo(1u));
        log.Rotate();
        Assert.That(log.ActiveSegment, Is.EqualTo(2u));
    }

    [Test]
    public void A_failed_automatic_rotation_poisons_the_writer_and_writes_nothing()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path, new RecordLogOptions { MaxSegmentBytes = 2 * Frame });
        log.AppendRecord(RecordType.Put, B("k"), Payload(0));
        log.AppendRecord(RecordType.Put, B("k"), Payload(1));
        long before = new FileInfo(Seg(dir.Path, 1)).Length;
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.FsyncData, ErrorNumbers.EIO);
            Assert.Throws<DataWalException>(() => log.AppendRecord(RecordType.Put, B("k"), Payload(2)));
        }

        Assert.That(log.IsPoisoned, Is.True);
        var poisoned = Assert.Throws<WriterPoisonedException>(() => log.Append(B("x")));
        Assert.That(poisoned!.Reason, Is.EqualTo("rotate sync_all on previous segment failed"));
        Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.EqualTo(before), "the append that needed the rotation wrote nothing");
        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 1 }));
    }

    [Test]
    public async Task A_follower_crosses_automatic_rotations_and_yields_every_record_once()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path, new RecordLogOptions { MaxSegmentBytes = 5 * Frame });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var seen = new List<ulong>();
        var follow = Task.Run(async () =>
        {
            await foreach (var record in RecordLogReader.Open(dir.Path).FollowAsync(FollowPosition.Start, null, cts.Token))
            {
                seen.Add(record.TxId);
                if (seen.Count == 200)
                {
                    return;
                }
            }
        });
        for (int i = 0; i < 200; i++)
        {
            log.AppendRecord(RecordType.Put, B("k"), Payload(i));
        }

        await follow;
        Assert.That(seen, Is.EqualTo(Enumerable.Range(1, 200).Select(i => (ulong)i)));
        Assert.That(log.ActiveSegment, Is.EqualTo(40u));
    }
}
