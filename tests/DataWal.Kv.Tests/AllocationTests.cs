using System.Buffers;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Kv.Tests;

/// <summary>Put of an existing key and TryGet allocate nothing in steady state (measured on the calling thread).</summary>
public class AllocationTests
{
    [Test]
    public void Overwriting_puts_deletes_and_TryGet_allocate_nothing_per_operation()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        var keys = Enumerable.Range(0, 1000).Select(i => BitConverter.GetBytes((long)i).Concat(new byte[8]).ToArray()).ToArray();
        var value = new byte[100];
        var writer = new ArrayBufferWriter<byte>(256);

        void Round()
        {
            foreach (var key in keys)
            {
                kv.Put(key, value);
                writer.ResetWrittenCount();
                kv.TryGet(key, writer);
            }
        }

        Round();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++)
        {
            Round();
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.LessThan(2048), $"{allocated} bytes over 5,000 puts and 5,000 reads");
    }
}
