using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// Which system calls appends, fsyncs, rotations and opens make (docs/design.md D7: fdatasync of the segment,
/// directory fsync only when entries changed), recorded at SafeAtomic's seam.
/// </summary>
public class FsyncTests
{
    private static readonly Call[] SyncCalls = [Call.Fsync, Call.FsyncData, Call.FsyncDirectory];

    /// <summary>The durability-relevant calls made by <paramref name="action"/>.</summary>
    private static List<ObservedCall> CallsOf(FaultInjector faults, Action action, params Call[] kinds)
    {
        int before = faults.Calls.Count;
        action();
        var filter = kinds.Length == 0 ? SyncCalls : kinds;
        return faults.Calls.Skip(before).Where(c => filter.Contains(c.Call)).ToList();
    }

    [Test]
    public void Fsync_calls_follow_what_changed()
    {
        using var dir = new TempDir();
        using var faults = FaultInjector.Install();   // before the open: it names the handles it sees opened
        using var log = RecordLog.Open(dir.Path);
        string seg1 = Seg(dir.Path, 1);
        string seg2 = Seg(dir.Path, 2);

        Assert.That(CallsOf(faults, log.Fsync), Is.EqualTo(new[] { new ObservedCall(Call.FsyncData, seg1), new ObservedCall(Call.FsyncDirectory, dir.Path) }),
            "the first Fsync after open syncs the segment and the directory");
        Assert.That(CallsOf(faults, log.Fsync), Is.Empty, "nothing changed");

        Assert.That(CallsOf(faults, () => log.Append(B("a")), Call.Write), Is.EqualTo(new[] { new ObservedCall(Call.Write, seg1) }), "one frame, one write");
        Assert.That(CallsOf(faults, log.Fsync), Is.EqualTo(new[] { new ObservedCall(Call.FsyncData, seg1) }), "only data changed");
        Assert.That(CallsOf(faults, log.Fsync), Is.Empty);

        Assert.That(CallsOf(faults, log.Rotate, Call.FsyncData, Call.Fsync, Call.FsyncDirectory, Call.Open), Is.EqualTo(new[]
        {
            new ObservedCall(Call.FsyncData, seg1), new ObservedCall(Call.Open, seg2), new ObservedCall(Call.FsyncDirectory, dir.Path),
        }), "rotate seals the old segment, creates the new one and makes its entry durable");
        Assert.That(CallsOf(faults, log.Fsync), Is.Empty, "rotate left nothing to sync");

        log.Append(B("b"));
        Assert.That(CallsOf(faults, log.Fsync), Is.EqualTo(new[] { new ObservedCall(Call.FsyncData, seg2) }), "after rotate only the new segment's data");
        Assert.That(faults.Count(Call.Fsync), Is.Zero, "appends are made durable with fdatasync");
        Assert.That(log.FsyncCount, Is.EqualTo(4).And.EqualTo(faults.Count(Call.FsyncData)), "FsyncCount counts every data fsync, rotation's included");
    }

    [Test]
    public void Every_append_mode_syncs_each_append_and_the_directory_only_when_it_changed()
    {
        using var dir = new TempDir();
        using var faults = FaultInjector.Install();
        using var log = RecordLog.Open(dir.Path, new RecordLogOptions { Durability = DurabilityMode.EveryAppend });
        string seg1 = Seg(dir.Path, 1);
        string seg2 = Seg(dir.Path, 2);
        Call[] kinds = [Call.Write, Call.FsyncData, Call.FsyncDirectory, Call.Fsync];

        Assert.That(CallsOf(faults, () => log.Append(B("a")), kinds), Is.EqualTo(new[]
        {
            new ObservedCall(Call.Write, seg1), new ObservedCall(Call.FsyncData, seg1), new ObservedCall(Call.FsyncDirectory, dir.Path),
        }));
        Assert.That(CallsOf(faults, () => log.Append(B("b")), kinds), Is.EqualTo(new[] { new ObservedCall(Call.Write, seg1), new ObservedCall(Call.FsyncData, seg1) }));
        Assert.That(CallsOf(faults, log.Fsync, kinds), Is.Empty, "already durable");
        log.Rotate();
        Assert.That(CallsOf(faults, () => log.Append(B("c")), kinds), Is.EqualTo(new[] { new ObservedCall(Call.Write, seg2), new ObservedCall(Call.FsyncData, seg2) }));
    }

    [Test]
    public void First_fsync_after_reopening_an_existing_log_syncs_data_and_directory()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("a"));
            log.Fsync();
        }

        using var reopened = RecordLog.Open(dir.Path);
        using var faults = FaultInjector.Install();
        Assert.That(CallsOf(faults, reopened.Fsync).Select(c => c.Call), Is.EqualTo(new[] { Call.FsyncData, Call.FsyncDirectory }));
        Assert.That(CallsOf(faults, reopened.Fsync), Is.Empty);
    }

    [Test]
    public void Rotate_without_appends_still_syncs_and_fsync_after_it_needs_nothing()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var faults = FaultInjector.Install();
        Assert.That(CallsOf(faults, log.Rotate).Select(c => c.Call), Is.EqualTo(new[] { Call.FsyncData, Call.FsyncDirectory }));
        Assert.That(CallsOf(faults, log.Fsync), Is.Empty);
    }

    [Test]
    public void Each_append_is_exactly_one_write_of_the_whole_frame()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var faults = FaultInjector.Install();
        long size = 0;
        foreach (int n in new[] { 0, 1, 100, 5000, 2_000_000 })
        {
            var calls = CallsOf(faults, () => log.AppendRecord(RecordType.Put, B("key"), Pattern(n, n)), Call.Write);
            Assert.That(calls, Has.Count.EqualTo(1), $"{n}-byte payload");
            size += WireFormat.FrameSize(3, n);
            Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.EqualTo(size));
        }

        Assert.That(faults.Calls.Where(c => SyncCalls.Contains(c.Call)), Is.Empty, "appends never fsync implicitly");
    }

    [Test]
    public void Writer_open_cuts_a_damaged_tail_with_set_length_then_fsync()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("truncated_tail", dir.Path);
        string segment = Seg(dir.Path, 1);
        using var faults = FaultInjector.Install();
        var calls = CallsOf(faults, () => RecordLog.Open(dir.Path).Dispose(), Call.SetLength, Call.Fsync, Call.FsyncData, Call.Write)
            .Where(c => c.Path == segment);
        Assert.That(calls, Is.EqualTo(new[] { new ObservedCall(Call.SetLength, segment), new ObservedCall(Call.Fsync, segment) }));
    }

    [Test]
    public void Opening_a_clean_log_writes_nothing_to_its_segments_and_dispose_syncs_nothing()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("valid_log", dir.Path);
        using var faults = FaultInjector.Install();
        var log = RecordLog.Open(dir.Path);
        log.Append(B("unsynced"));
        int before = faults.WriteSideCalls.Count;
        log.Dispose();
        Assert.That(faults.WriteSideCalls.Skip(before), Is.Empty, "dispose makes no write-side system call through the seam");
        Assert.That(faults.WriteSideCalls.Where(c => c.Path is not null && c.Path.EndsWith(".dwal", StringComparison.Ordinal) && c.Call != Call.Open && c.Call != Call.Write), Is.Empty);
    }

    [Test]
    public void Opening_a_new_directory_makes_the_first_segment_durable()
    {
        using var dir = new TempDir();
        string store = dir["store"];
        using var faults = FaultInjector.Install();
        using var log = RecordLog.Open(store);
        var calls = faults.WriteSideCalls.Where(c => c.Call is Call.CreateDirectory or Call.FsyncDirectory || c.Path == Seg(store, 1)).ToList();
        Assert.That(calls, Is.EqualTo(new[]
        {
            new ObservedCall(Call.CreateDirectory, store),
            new ObservedCall(Call.FsyncDirectory, dir.Path),
            new ObservedCall(Call.Open, Seg(store, 1)),
            new ObservedCall(Call.FsyncDirectory, store),
            new ObservedCall(Call.Open, Seg(store, 1)),   // recovery reads it (through the seam, read-only)
        }));
    }

    [Test]
    public void A_failed_fsync_of_the_cut_fails_the_open_releases_the_lock_and_the_next_open_recovers()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("truncated_tail", dir.Path);
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Fsync, ErrorNumbers.EIO, path: p => p == Seg(dir.Path, 1));
            var e = Assert.Throws<DataWalException>(() => RecordLog.Open(dir.Path));
            Assert.That(e!.Message, Does.StartWith($"datawal: open record log {dir.Path}: "));
        }

        using var log = RecordLog.Open(dir.Path);
        Assert.That(log.RecoveryReport.RecordsReplayed, Is.EqualTo(2));
        Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.EqualTo(62));
        Assert.That(log.Append(B("three")), Is.EqualTo(new RecordRef(1, 62, 33)));
    }

    [Test]
    public void A_failed_cut_fails_the_open_and_changes_nothing()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("truncated_tail", dir.Path);
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.SetLength, ErrorNumbers.EIO, path: p => p == Seg(dir.Path, 1));
            Assert.Throws<DataWalException>(() => RecordLog.Open(dir.Path));
        }

        Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.EqualTo(90));
        Assert.DoesNotThrow(() => DirectoryLock.Acquire(dir.Path).Dispose());
    }
}
