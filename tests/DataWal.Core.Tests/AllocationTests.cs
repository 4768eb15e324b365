using DataWal.Core;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Core.Tests;

/// <summary>The hot paths allocate nothing per record in steady state (measured on the calling thread).</summary>
public class AllocationTests
{
    private static long AllocatedBy(Action action)
    {
        action(); // warm up: JIT, scratch buffers, pools
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [TestCase(64)]
    [TestCase(1024)]
    public void Append_allocates_nothing_per_record(int payloadSize)
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        var payload = new byte[payloadSize];
        long allocated = AllocatedBy(() =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                log.Append(payload);
            }
        });
        Assert.That(allocated, Is.LessThan(1024), $"{allocated} bytes over 10,000 appends");
    }

    [Test]
    public void AppendRecord_and_a_reused_batch_allocate_nothing_per_record()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        using var batch = new RecordBatch();
        var key = new byte[16];
        var payload = new byte[100];
        long allocated = AllocatedBy(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                log.AppendRecord(RecordType.Put, key, payload);
                batch.Clear();
                for (int j = 0; j < 10; j++)
                {
                    batch.Add(RecordType.Put, key, payload);
                }

                log.AppendBatch(batch);
            }
        });
        Assert.That(allocated, Is.LessThan(1024), $"{allocated} bytes over 1,000 appends and 1,000 batches");
    }

    [Test]
    public void Fsync_with_nothing_new_allocates_nothing()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append("x"u8);
        log.Fsync();
        long allocated = AllocatedBy(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                log.Fsync();
            }
        });
        Assert.That(allocated, Is.LessThan(256));
    }

    [Test]
    public void An_uncontended_append_and_fsync_allocates_nothing()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        var payload = new byte[64];
        long allocated = AllocatedBy(() =>
        {
            for (int i = 0; i < 200; i++)
            {
                log.Append(payload);
                log.Fsync();
            }
        });
        Assert.That(allocated, Is.LessThan(256), $"{allocated} bytes over 200 append+fsync pairs");
    }
}
