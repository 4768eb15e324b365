using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// Disposing a writer that owes a last fsync (EveryAppend, Grouped): <see cref="RecordLog.DisposeAsync"/>
/// awaits it; a failed last fsync is thrown after the handle is closed and the lock released (as FileStream does);
/// an already poisoned writer throws nothing; double and concurrent disposes are safe.
/// </summary>
[NonParallelizable]
public class DisposeTests
{
    /// <summary>Grouped with an interval long enough that only the dispose's fsync covers the last append.</summary>
    private static readonly RecordLogOptions Grouped = new() { Durability = DurabilityMode.Grouped, GroupCommitInterval = TimeSpan.FromHours(1) };

    private static void AssertReleased(string directory, int records)
    {
        using var reopened = RecordLog.Open(directory);   // the lock was released
        Assert.That(reopened.Scan(), Has.Count.EqualTo(records));
    }

    [Test]
    public void Dispose_runs_the_last_fsync_under_Grouped()
    {
        using var dir = new TempDir();
        var log = RecordLog.Open(dir.Path, Grouped);
        log.Append(B("a"));
        using (var faults = FaultInjector.Install())
        {
            log.Dispose();
            Assert.That(faults.Count(Call.FsyncData), Is.EqualTo(1));
        }

        AssertReleased(dir.Path, 1);
    }

    [Test]
    public async Task DisposeAsync_runs_the_last_fsync_under_Grouped()
    {
        using var dir = new TempDir();
        var log = RecordLog.Open(dir.Path, Grouped);
        log.Append(B("a"));
        using (var faults = FaultInjector.Install())
        {
            await log.DisposeAsync();
            Assert.That(faults.Count(Call.FsyncData), Is.EqualTo(1));
        }

        AssertReleased(dir.Path, 1);
    }

    [Test]
    public async Task A_failed_last_fsync_is_thrown_after_everything_is_released([Values] bool async)
    {
        using var dir = new TempDir();
        var log = RecordLog.Open(dir.Path, Grouped);
        log.Append(B("a"));
        using (var faults = FaultInjector.Install().Fail(Call.FsyncData, ErrorNumbers.EIO))
        {
            var e = async
                ? await Assert.ThrowsAsync<DataWalException>(async () => await log.DisposeAsync())
                : Assert.Throws<DataWalException>(log.Dispose);
            Assert.That(e!.InnerException, Is.InstanceOf<SafeAtomicException>(), "the fsync's own error");
            Assert.That(e.Message, Does.Contain("fsync").IgnoreCase);
            Assert.That(log.IsPoisoned, Is.True);
            Assert.Throws<ObjectDisposedException>(() => log.Append(B("b")));
        }

        AssertReleased(dir.Path, 1);   // the record itself was written; only its durability is in doubt
        Assert.DoesNotThrow(log.Dispose, "a second dispose is a no-op");
        await log.DisposeAsync();
    }

    [Test]
    public async Task A_poisoned_writer_disposes_silently([Values] bool async)
    {
        using var dir = new TempDir();
        var log = RecordLog.Open(dir.Path, new RecordLogOptions { Durability = DurabilityMode.EveryAppend });
        using (var faults = FaultInjector.Install().Fail(Call.FsyncData, ErrorNumbers.EIO))
        {
            Assert.Throws<DataWalException>(() => log.Append(B("a")));   // the failure is thrown here, once
            Assert.That(log.IsPoisoned, Is.True);
            int fsyncs = faults.Count(Call.FsyncData);
            if (async)
            {
                await log.DisposeAsync();
            }
            else
            {
                log.Dispose();
            }

            Assert.That(faults.Count(Call.FsyncData), Is.EqualTo(fsyncs), "no last fsync on a poisoned writer");
        }

        AssertReleased(dir.Path, 1);
    }

    [Test]
    public void Manual_runs_no_fsync_at_dispose_and_cannot_fail_there()
    {
        using var dir = new TempDir();
        var log = RecordLog.Open(dir.Path);
        log.Append(B("a"));
        using (var faults = FaultInjector.Install().Fail(Call.FsyncData, ErrorNumbers.EIO))
        {
            Assert.DoesNotThrow(log.Dispose);
            Assert.That(faults.Count(Call.FsyncData), Is.Zero);
        }

        AssertReleased(dir.Path, 1);
    }

    [Test]
    public void EveryAppend_owes_nothing_at_dispose_so_a_failing_disk_is_not_touched()
    {
        using var dir = new TempDir();
        var log = RecordLog.Open(dir.Path, new RecordLogOptions { Durability = DurabilityMode.EveryAppend });
        log.Append(B("a"));   // durable when it returned
        using (var faults = FaultInjector.Install().Fail(Call.FsyncData, ErrorNumbers.EIO))
        {
            Assert.DoesNotThrow(log.Dispose);
            Assert.That(faults.Count(Call.FsyncData), Is.Zero);
        }

        AssertReleased(dir.Path, 1);
    }

    [Test]
    public async Task Concurrent_disposes_close_once_one_throws_and_all_return_after_the_release()
    {
        for (int round = 0; round < 20; round++)
        {
            using var dir = new TempDir();
            var log = RecordLog.Open(dir.Path, Grouped);
            log.Append(B("a"));
            using var faults = FaultInjector.Install().Fail(Call.FsyncData, ErrorNumbers.EIO);
            using var start = new Barrier(4);
            var reopen = new object();
            var calls = Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
            {
                start.SignalAndWait();
                try
                {
                    if (i % 2 == 0)
                    {
                        log.Dispose();
                    }
                    else
                    {
                        await log.DisposeAsync();
                    }
                }
                catch (DataWalException)
                {
                    return 1;
                }

                lock (reopen)
                {
                    using var reopened = RecordLog.Open(dir.Path);   // every caller returns only once the lock is released
                }

                return 0;
            })).ToArray();

            // Each returning caller reopens and closes in turn; StoreLockedException would mean one returned too early.
            int[] thrown = await Task.WhenAll(calls);

            Assert.That(thrown.Sum(), Is.EqualTo(1), "the failure is thrown to the one call that ran the fsync");
            Assert.That(faults.Count(Call.FsyncData), Is.EqualTo(1));
        }
    }
}
