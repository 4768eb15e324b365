using System.Buffers;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Kv.Tests;

/// <summary>
/// Put of an existing key and TryGet allocate nothing in steady state, and Get only the array it returns (measured on
/// the calling thread).
/// </summary>
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

    [TestCase(true)]
    [TestCase(false)]
    public void Get_allocates_only_the_value_it_returns(bool map)
    {
        const int Keys = 1000;
        const int ValueLength = 100;
        using var dir = new TempDir();
        var options = new KvStoreOptions { Log = new DataWal.Core.RecordLogOptions { MaxSegmentBytes = 16 * 1024 }, MapSealedSegments = map };
        using var kv = KvStore.Open(dir.Path, options);
        var keys = Enumerable.Range(0, Keys).Select(i => BitConverter.GetBytes((long)i).Concat(new byte[8]).ToArray()).ToArray();
        foreach (var key in keys)
        {
            kv.Put(key, new byte[ValueLength]);
        }

        Assert.That(kv.SealedBelow, Is.GreaterThan(2u), "the gets span sealed segments and the active one");
        long lengths = 0;

        void Round()
        {
            foreach (var key in keys)
            {
                lengths += kv.Get(key)!.Length;
            }
        }

        Round();
        Assert.That(kv.ReadPool.MappedCount > 0, Is.EqualTo(map && MappedSegment.Supported));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++)
        {
            Round();
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // A byte[100] is 24 bytes of header and length plus 100 rounded up to 8: 128 bytes on 64-bit.
        long arrays = 5L * Keys * (IntPtr.Size == 8 ? 128 : 112);
        Assert.That(lengths, Is.EqualTo(6L * Keys * ValueLength));
        // Slack for the runtime's own incidental allocations, far below one more object per get (5,000 × 24 bytes).
        Assert.That(allocated, Is.InRange(arrays, arrays + 2048), $"{allocated} bytes over {5 * Keys} gets of {ValueLength}-byte values");
    }
}
