using DataWal.Core;
using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// <see cref="KvStore"/> is <see cref="IAsyncDisposable"/>; a failed last fsync (Grouped) is thrown after the
/// store is released; a poisoned store disposes silently; double and concurrent disposes are safe.
/// </summary>
[NonParallelizable]
public class DisposeTests
{
    private static readonly KvStoreOptions Grouped = new()
    {
        Log = new RecordLogOptions { Durability = DurabilityMode.Grouped, GroupCommitInterval = TimeSpan.FromHours(1) },
    };

    [Test]
    public async Task Await_using_makes_the_last_puts_durable_and_releases_the_store()
    {
        using var dir = new TempDir();
        using (var faults = FaultInjector.Install())
        {
            await using (var kv = KvStore.Open(dir.Path, Grouped))
            {
                await kv.PutAsync("k"u8.ToArray(), "v"u8.ToArray());
            }

            Assert.That(faults.Count(Call.FsyncData), Is.GreaterThanOrEqualTo(1), "the dispose's fsync");
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(reopened.GetString("k"), Is.EqualTo("v"));
    }

    [Test]
    public async Task A_failed_last_fsync_is_thrown_after_the_store_is_released([Values] bool async)
    {
        using var dir = new TempDir();
        var kv = KvStore.Open(dir.Path, Grouped);
        kv.Put("k", "v");
        using (FaultInjector.Install().Fail(Call.FsyncData, ErrorNumbers.EIO))
        {
            var e = async
                ? await Assert.ThrowsAsync<DataWalException>(async () => await kv.DisposeAsync())
                : Assert.Throws<DataWalException>(kv.Dispose);
            Assert.That(e!.InnerException, Is.InstanceOf<SafeAtomicException>());
        }

        using (var reopened = KvStore.Open(dir.Path))   // the lock was released
        {
            Assert.That(reopened.GetString("k"), Is.EqualTo("v"));
        }

        Assert.DoesNotThrow(kv.Dispose, "a second dispose is a no-op");
        await kv.DisposeAsync();
    }

    [Test]
    public async Task A_poisoned_store_disposes_silently_and_concurrent_disposes_are_safe()
    {
        using var dir = new TempDir();
        var kv = KvStore.Open(dir.Path, new KvStoreOptions { Log = new RecordLogOptions { Durability = DurabilityMode.EveryAppend } });
        using (FaultInjector.Install().Fail(Call.FsyncData, ErrorNumbers.EIO))
        {
            Assert.Throws<DataWalException>(() => kv.Put("k", "v"));
            Assert.That(kv.IsPoisoned, Is.True);
            await Task.WhenAll(
                Task.Run(kv.Dispose),
                Task.Run(async () => await kv.DisposeAsync()),
                Task.Run(kv.Dispose));
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(S(reopened.Get("k"u8)), Is.EqualTo("v"));
    }
}
