using Microsoft.Win32.SafeHandles;
using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// Readers while the writer's retention deletes sealed segments and online compaction renames an image over
/// the lowest segment L of a range L..N and then deletes L+1..N in ascending order (docs/design.md D15),
/// simulated by hand: scans and replay paused at every point of the range and resumed at every intermediate
/// state, the follower across both, start positions in removed history, and the file identity seam.
/// </summary>
[NonParallelizable]
public class SegmentRemovalReaderTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private const uint L = 2;
    private const uint N = 4;

    /// <summary>Six segments of puts and deletes over a few keys (1..5 sealed, 6 active); returns every record.</summary>
    private static List<Rec> WriteLog(string directory, RecordLog? keepOpen = null)
    {
        var log = keepOpen ?? RecordLog.Open(directory);
        try
        {
            for (uint segment = 1; segment <= 6; segment++)
            {
                for (int i = 0; i < 5; i++)
                {
                    string key = "k" + ((segment * 3) + (uint)i) % 5;
                    if ((segment + (uint)i) % 4 == 0)
                    {
                        log.AppendRecord(RecordType.Delete, B(key), []);
                    }
                    else
                    {
                        log.AppendRecord(RecordType.Put, B(key), B($"v{segment}.{i}"));
                    }
                }

                if (segment < 6)
                {
                    log.Rotate();
                }
            }
        }
        finally
        {
            if (keepOpen is null)
            {
                log.Dispose();
            }
        }

        return ReadAll(directory);
    }

    /// <summary>
    /// The image of <paramref name="first"/>..<paramref name="last"/>: each key's last record of the range (a
    /// tombstone included: a reader behind the compaction may hold an older value of that key) with its original
    /// txid, ascending, then an empty Raw record carrying the range's maximum txid unless the last one already does.
    /// </summary>
    private static byte[] Image(List<Rec> records, uint first, uint last)
    {
        var range = records.Where(r => r.Segment >= first && r.Segment <= last).ToList();
        var latest = range.Where(r => r.Type != RecordType.Raw).GroupBy(r => r.Key).Select(g => g.Last()).OrderBy(r => r.TxId).ToList();
        var bytes = new List<byte>();
        foreach (var r in latest)
        {
            bytes.AddRange(WireFormat.Encode(r.Type, r.TxId, FromHex(r.Key), FromHex(r.Payload)));
        }

        ulong max = range.Max(r => r.TxId);
        if (latest.Count == 0 || latest[^1].TxId != max)
        {
            bytes.AddRange(WireFormat.Encode(RecordType.Raw, max, [], []));
        }

        return [.. bytes];
    }

    /// <summary>Step 0 renames the image over <paramref name="first"/>; step i deletes <paramref name="first"/>+i.</summary>
    private static void CompactStep(string directory, List<Rec> records, uint first, uint last, int step)
    {
        if (step == 0)
        {
            string temp = Path.Combine(directory, "compact.tmp");
            File.WriteAllBytes(temp, Image(records, first, last));
            File.Move(temp, Seg(directory, first), overwrite: true);
        }
        else
        {
            File.Delete(Seg(directory, first + (uint)step));
        }
    }

    private static Dictionary<string, string> Lww(IEnumerable<Rec> records)
    {
        var view = new Dictionary<string, string>();
        foreach (var r in records)
        {
            if (r.Type == RecordType.Put)
            {
                view[r.Key] = r.Payload;
            }
            else if (r.Type == RecordType.Delete)
            {
                view.Remove(r.Key);
            }
        }

        return view;
    }

    private static void AssertConsistent(List<Rec> yielded, List<Rec> original, string context)
    {
        var txids = yielded.Select(r => r.TxId).ToList();
        for (int i = 1; i < txids.Count; i++)
        {
            Assert.That(txids[i], Is.GreaterThan(txids[i - 1]), $"{context}: txids strictly increase ({string.Join(",", txids)})");
        }

        Assert.That(Lww(yielded), Is.EquivalentTo(Lww(original)), context + ": last-write-wins view");
        Assert.That(txids[^1], Is.EqualTo(original[^1].TxId), context + ": reached the end");
    }

    private static IEnumerable<(uint Pause, int Steps)> PausePointsAndStates()
    {
        for (uint pause = L; pause <= N; pause++)
        {
            for (int steps = 1; steps <= (int)(N - L) + 1; steps++)
            {
                yield return (pause, steps);
            }
        }
    }

    // ---------------------------------------------------------------- 1. scans across a compaction

    [Test]
    public void ScanIter_paused_in_each_compacted_segment_and_resumed_at_each_intermediate_state_is_consistent()
    {
        foreach (var (pause, steps) in PausePointsAndStates())
        {
            using var dir = new TempDir();
            var original = WriteLog(dir.Path);
            var reader = RecordLogReader.Open(dir.Path);
            var yielded = new List<Rec>();
            bool compacted = false;
            foreach (var record in reader.ScanIter())
            {
                yielded.Add(Rec.Of(record));
                if (!compacted && record.Segment == pause)
                {
                    compacted = true;
                    for (int step = 0; step < steps; step++)
                    {
                        CompactStep(dir.Path, original, L, N, step);
                    }
                }
            }

            AssertConsistent(yielded, original, $"paused in {pause}, {steps} steps");
        }
    }

    [Test]
    public void Replay_paused_in_each_compacted_segment_and_resumed_at_each_intermediate_state_is_consistent()
    {
        foreach (var (pause, steps) in PausePointsAndStates())
        {
            using var dir = new TempDir();
            var original = WriteLog(dir.Path);
            var visitor = new CompactingVisitor(dir.Path, original, pause, steps);
            var report = RecordLogReader.Open(dir.Path).Replay(visitor);
            AssertConsistent(visitor.Yielded, original, $"replay paused in {pause}, {steps} steps");
            Assert.That(report.RecordsReplayed, Is.EqualTo(visitor.Yielded.Count));
        }
    }

    [Test]
    public void A_scan_that_keeps_meeting_vanished_segments_gives_up_with_a_typed_error()
    {
        using var dir = new TempDir();
        WriteLog(dir.Path);
        var reader = RecordLogReader.Open(dir.Path);
        using (SafeAtomic.Internal.SystemCalls.Use(new SegmentsVanishAtOpen()))
        {
            var e = Assert.Throws<DataWalException>(() => reader.ScanIter().ToList());
            Assert.That(e!.Message, Does.StartWith("datawal: segments of ").And.Contain("keep vanishing"));
        }
    }

    /// <summary>Every segment is listed, yet gone when opened: a directory whose segments keep vanishing.</summary>
    private sealed class SegmentsVanishAtOpen : PassThroughCalls
    {
        private static bool IsSegment(string path) => path.EndsWith(".dwal", StringComparison.Ordinal);

        public override SafeFileHandle OpenRegular(string path, FileAccess access, bool create, UnixFileMode? createMode) =>
            IsSegment(path) ? throw new SystemCallException("open", path, ErrorNumbers.ENOENT, "ENOENT") : Platform.OpenRegular(path, access, create, createMode);

        public override FileKind GetFileKind(string path) => IsSegment(path) ? FileKind.Missing : Platform.GetFileKind(path);
    }


    private sealed class CompactingVisitor(string directory, List<Rec> original, uint pause, int steps) : IFrameVisitor
    {
        private bool _compacted;

        public List<Rec> Yielded { get; } = [];

        public void Visit(LogFrame frame)
        {
            Yielded.Add(new Rec(frame.Type, frame.TxId, Hex(frame.Key), Hex(frame.Payload), frame.Ref.Segment, frame.Ref.Offset, frame.Ref.Length));
            if (!_compacted && frame.Ref.Segment == pause)
            {
                _compacted = true;
                for (int step = 0; step < steps; step++)
                {
                    CompactStep(directory, original, L, N, step);
                }
            }
        }
    }

    // ---------------------------------------------------------------- 2. scans across retention

    [Test]
    public void A_scan_paused_while_retention_deletes_segments_continues_at_the_next_existing_one()
    {
        using var dir = new TempDir();
        var original = WriteLog(dir.Path);
        var yielded = new List<Rec>();
        bool removed = false;
        foreach (var record in RecordLogReader.Open(dir.Path).ScanIter())
        {
            yielded.Add(Rec.Of(record));
            if (!removed && record.Segment == 2)
            {
                removed = true;
                for (uint id = 1; id <= 3; id++)
                {
                    File.Delete(Seg(dir.Path, id));
                }
            }
        }

        Assert.That(yielded, Is.EqualTo(original.Where(r => r.Segment != 3).ToList()), "segment 2 finished through its handle, 3 gone, then 4..6");
    }

    // ---------------------------------------------------------------- 3. the follower

    [Test]
    public async Task A_follower_inside_the_compacted_range_yields_the_image_records_above_its_position_then_the_rest()
    {
        const uint last = 5;   // compact 2..5 while the follower is in 4
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        var original = WriteLog(dir.Path, log);
        var options = new FollowOptions { PollInterval = TimeSpan.FromMilliseconds(20), WatchFileSystem = false };
        using var cts = new CancellationTokenSource(Patience);
        await using var follow = RecordLogReader.Open(dir.Path).FollowAsync(FollowPosition.Start, options, cts.Token).GetAsyncEnumerator(cts.Token);
        var yielded = new List<Rec>();
        while (yielded.Count == 0 || yielded[^1].Segment != 4)
        {
            Assert.That(await follow.MoveNextAsync(), Is.True);
            yielded.Add(Rec.Of(follow.Current));
        }

        ulong paused = yielded[^1].TxId;
        for (int step = 0; step <= (int)(last - L); step++)
        {
            CompactStep(dir.Path, original, L, last, step);
        }

        var image = ReadAll(dir.Path).Where(r => r.Segment == L).ToList();
        Assert.That(image.Count(r => r.TxId > original.Where(o => o.Segment == 4).Max(o => o.TxId)), Is.GreaterThan(0), "the image holds records the follower has not reached (jumping past it would miss them)");
        var appended = log.AppendRecord(RecordType.Put, B("k9"), B("new"));
        var expected = original.Where(r => r.TxId <= paused).Select(r => r.TxId)
            .Concat(original.Where(r => r.Segment == 4 && r.TxId > paused).Select(r => r.TxId))
            .Concat(image.Where(r => r.TxId > original.Where(o => o.Segment == 4).Max(o => o.TxId)).Select(r => r.TxId))
            .Concat(original.Where(r => r.Segment > last).Select(r => r.TxId))
            .Append(original[^1].TxId + 1)
            .ToList();
        while (yielded[^1].Segment != appended.Segment || yielded[^1].Offset != appended.Offset)
        {
            Assert.That(await follow.MoveNextAsync(), Is.True);
            yielded.Add(Rec.Of(follow.Current));
        }

        Assert.That(yielded.Select(r => r.TxId), Is.EqualTo(expected), "exactly once, strictly increasing, every image record above the position");
        Assert.That(image.Where(r => r.Type == RecordType.Put && r.TxId > paused).Select(r => r.TxId), Is.SubsetOf(yielded.Select(r => r.TxId)), "no live record of the range is missed");
        await cts.CancelAsync();
    }

    [Test]
    public async Task A_follower_asleep_on_a_segment_that_is_sealed_and_then_replaced_resumes_and_never_reads_the_new_file_at_the_old_offset()
    {
        using var dir = new TempDir();
        var original = WriteLog(dir.Path);   // 1..6, writer gone: 6 is where the follower sleeps
        var options = new FollowOptions { PollInterval = TimeSpan.FromHours(1), WatchFileSystem = false };
        using var cts = new CancellationTokenSource(Patience);
        await using var follow = RecordLogReader.Open(dir.Path).FollowAsync(FollowPosition.Start, options, cts.Token).GetAsyncEnumerator(cts.Token);
        var yielded = new List<Rec>();
        for (int i = 0; i < original.Count; i++)
        {
            Assert.That(await follow.MoveNextAsync(), Is.True);
            yielded.Add(Rec.Of(follow.Current));
        }

        var next = follow.MoveNextAsync();   // now asleep at the end of 6
        await Task.Delay(100);
        Assert.That(next.IsCompleted, Is.False);

        // A writer rotated (7 with two records) and compaction replaced 6 by a shorter image of itself.
        ulong tx = original[^1].TxId;
        File.WriteAllBytes(Seg(dir.Path, 7), [.. WireFormat.Encode(RecordType.Put, tx + 1, B("k7"), B("a")), .. WireFormat.Encode(RecordType.Put, tx + 2, B("k7"), B("b"))]);
        var first6 = original.First(r => r.Segment == 6);
        string temp = dir["compact.tmp"];
        File.WriteAllBytes(temp, [.. WireFormat.Encode(first6.Type, first6.TxId, FromHex(first6.Key), FromHex(first6.Payload)), .. WireFormat.Encode(RecordType.Raw, tx, [], [])]);
        File.Move(temp, Seg(dir.Path, 6), overwrite: true);
        Assert.That(new FileInfo(Seg(dir.Path, 6)).Length, Is.LessThan(original.Where(r => r.Segment == 6).Sum(r => r.Length)));
        var signal = LogSignal.Acquire(dir.Path);
        signal.Notify();
        signal.Release();

        Assert.That(await next, Is.True);
        yielded.Add(Rec.Of(follow.Current));
        Assert.That(await follow.MoveNextAsync(), Is.True);
        yielded.Add(Rec.Of(follow.Current));
        Assert.That(yielded.Skip(original.Count).Select(r => (r.Segment, r.TxId)), Is.EqualTo(new[] { (7u, tx + 1), (7u, tx + 2) }));
        await cts.CancelAsync();
    }

    [Test]
    public async Task A_start_position_in_removed_history_is_a_typed_error_or_starts_at_the_oldest_record()
    {
        using var dir = new TempDir();
        var original = WriteLog(dir.Path);
        var first = original[0];
        var inCompacted = original.First(r => r.Segment == 3);
        File.Delete(Seg(dir.Path, 1));                       // retention below 2
        CompactStep(dir.Path, original, 2, 3, 0);             // compaction of 2..3
        CompactStep(dir.Path, original, 2, 3, 1);
        var reader = RecordLogReader.Open(dir.Path);
        using var cts = new CancellationTokenSource(Patience);

        foreach (var (rec, what) in new[] { (first, "below the oldest"), (inCompacted, "compacted away") })
        {
            var position = FollowPosition.After(new RecordRef(rec.Segment, rec.Offset, rec.Length));
            var e = await Assert.ThrowsAsync<LogHistoryRemovedException>(async () =>
            {
                await foreach (var _ in reader.FollowAsync(position, null, cts.Token))
                {
                }
            });
            Assert.That(e!.Message, Does.StartWith("datawal: ").And.Contain("history was removed").And.Contain("StartAtOldestWhenRemoved"), what);
            Assert.That((e.Directory, e.RequestedSegment, e.OldestSegment), Is.EqualTo((dir.Path, rec.Segment, 2u)), what);

            await using var follow = reader.FollowAsync(position, new FollowOptions { StartAtOldestWhenRemoved = true }, cts.Token).GetAsyncEnumerator(cts.Token);
            Assert.That(await follow.MoveNextAsync(), Is.True);
            Assert.That(Rec.Of(follow.Current), Is.EqualTo(ReadAll(dir.Path)[0]), what + ": the oldest record kept");
        }

        var existing = original.First(r => r.Segment == 5);
        var bad = FollowPosition.After(new RecordRef(5, existing.Offset + 1, existing.Length));
        var notARecord = await Assert.ThrowsAsync<DataWalException>(async () =>
        {
            await foreach (var _ in reader.FollowAsync(bad, null, cts.Token))
            {
            }
        });
        Assert.That(notARecord!.Message, Does.Contain("does not name a whole record"));
        await cts.CancelAsync();
    }

    [Test]
    public async Task A_planted_directory_named_like_a_missing_segment_is_still_crossed_exactly_once()
    {
        using var dir = new TempDir();
        var original = WriteLog(dir.Path);
        var kept = original.Where(r => r.Segment != 3).ToList();
        File.Delete(Seg(dir.Path, 3));
        Directory.CreateDirectory(Seg(dir.Path, 3));
        var options = new FollowOptions { PollInterval = TimeSpan.FromMilliseconds(20), WatchFileSystem = false };
        using var cts = new CancellationTokenSource(Patience);
        await using var follow = RecordLogReader.Open(dir.Path).FollowAsync(FollowPosition.Start, options, cts.Token).GetAsyncEnumerator(cts.Token);
        var yielded = new List<Rec>();
        for (int i = 0; i < kept.Count; i++)
        {
            Assert.That(await follow.MoveNextAsync(), Is.True);
            yielded.Add(Rec.Of(follow.Current));
        }

        Assert.That(yielded, Is.EqualTo(kept));
        var more = follow.MoveNextAsync();
        await Task.Delay(200);
        Assert.That(more.IsCompleted, Is.False, "nothing yielded twice");
        await cts.CancelAsync();
        await Assert.CatchAsync<OperationCanceledException>(async () => await more);
    }

    // ---------------------------------------------------------------- 4. file identity

    [Test]
    public void File_identity_is_the_same_for_the_same_file_and_differs_after_a_rename_over_it()
    {
        using var dir = new TempDir();
        string path = dir["f"];
        File.WriteAllBytes(path, [1, 2, 3]);
        using var handle = FileSync.OpenRegular(path, FileAccess.Read);
        var byHandle = FileSync.GetIdentity(handle);
        Assert.That(FileSync.GetIdentity(path), Is.EqualTo(byHandle));
        Assert.That(byHandle.IsKnown, Is.EqualTo(!OperatingSystem.IsWindows()));

        File.WriteAllBytes(dir["g"], [4]);
        File.Move(dir["g"], path, overwrite: true);
        var now = FileSync.GetIdentity(path);
        Assert.That(now, Is.Not.Null);
        Assert.That(now!.Value.DiffersFrom(byHandle), Is.EqualTo(!OperatingSystem.IsWindows()));
        Assert.That(FileSync.GetIdentity(handle), Is.EqualTo(byHandle), "the handle still names the old file");
        Assert.That(FileSync.GetIdentity(dir["missing"]), Is.Null);
        Assert.That(FileIdentity.Unknown.DiffersFrom(byHandle), Is.False, "an unknown identity never reports a replacement");
    }

    [Test]
    public void A_failing_identity_call_surfaces_as_a_typed_error()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["f"], [1]);
        using var handle = FileSync.OpenRegular(dir["f"], FileAccess.Read);
        using var faults = FaultInjector.Install();
        faults.Fail(Call.GetIdentity, ErrorNumbers.EIO);
        var e = Assert.Throws<SystemCallException>(() => FileSync.GetIdentity(handle));
        Assert.That(e!.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
        Assert.Throws<SystemCallException>(() => FileSync.GetIdentity(dir["f"]));
    }
}
