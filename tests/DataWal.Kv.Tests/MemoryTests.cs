using System.Text;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// The keydir is compact (key bytes + a few dozen bytes per live key, values on disk) and memory is
/// O(live keys), not O(log size) (docs/design.md D9).
/// </summary>
public class MemoryTests
{
    private const int KeyLength = 16;

    private static byte[] Key(int i) => Encoding.ASCII.GetBytes($"key-{i:D12}");

    /// <summary>Writes puts (and optionally deletes) straight into a log with large batches: fast set-up.</summary>
    private static void WriteLog(string directory, int count, Func<int, IEnumerable<(RecordType Type, byte[] Key, byte[] Value)>> records)
    {
        using var log = RecordLog.Open(directory);
        using var batch = new RecordBatch(4 * 1024 * 1024);
        for (int i = 0; i < count; i++)
        {
            foreach (var (type, key, value) in records(i))
            {
                batch.Add(type, key, value);
            }

            if (batch.Length > 3 * 1024 * 1024)
            {
                log.AppendBatch(batch);
                batch.Clear();
            }
        }

        log.AppendBatch(batch);
        log.Fsync();
    }

    [Test]
    public void Keydir_of_200k_keys_costs_at_most_key_length_plus_40_bytes_per_key()
    {
        const int n = 200_000;
        using var dir = new TempDir();
        WriteLog(dir.Path, n, i => [(RecordType.Put, Key(i), BitConverter.GetBytes(i))]);

        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        using var kv = KvStore.Open(dir.Path);
        long heapAfter = GC.GetTotalMemory(forceFullCollection: true);

        Assert.That(kv.Count, Is.EqualTo(n));
        Assert.That(Key(0), Has.Length.EqualTo(KeyLength));
        double perKey = (double)kv.KeyDirectoryBytes / kv.Count;
        double heapPerKey = (double)(heapAfter - heapBefore) / kv.Count;
        TestContext.Out.WriteLine($"keydir {kv.KeyDirectoryBytes} B = {perKey:F1} B/key; heap growth {heapAfter - heapBefore} B = {heapPerKey:F1} B/key");

        Assert.That(perKey, Is.LessThanOrEqualTo(KeyLength + 40), "reported keydir bytes per key (the entry array is trimmed after an open)");
        // The report must not hide memory: what the open actually retained is of the same order.
        Assert.That(heapPerKey, Is.LessThanOrEqualTo(KeyLength + 40 + 8), "heap retained by the open, per key");

        foreach (int i in new[] { 0, 1, 99_999, n - 1 })
        {
            Assert.That(BitConverter.ToInt32(kv.Get(Key(i))), Is.EqualTo(i));
        }

        Assert.That(kv.Get(Key(n)), Is.Null);
        GC.KeepAlive(kv);
    }

    [Test]
    public void Keydir_memory_follows_live_keys_not_log_size()
    {
        // 300k distinct keys are put and deleted again (about 6 MB of key bytes pass through the keydir)
        // while at most 1000 are live at a time: the keydir must not keep the dead keys' bytes.
        const int n = 300_000;
        const int window = 1_000;
        using var dir = new TempDir();
        WriteLog(dir.Path, n, i => i < window
            ? [(RecordType.Put, Key(i), [])]
            : [(RecordType.Put, Key(i), []), (RecordType.Delete, Key(i - window), [])]);

        using var kv = KvStore.Open(dir.Path);
        Assert.That(kv.Count, Is.EqualTo(window));
        Assert.That(kv.ContainsKey(Key(n - 1)) && !kv.ContainsKey(Key(n - window - 1)), Is.True);
        TestContext.Out.WriteLine($"keydir {kv.KeyDirectoryBytes} B for {kv.Count} live keys after {n} puts");
        Assert.That(kv.KeyDirectoryBytes, Is.LessThan(4L * 1024 * 1024), "dead key bytes are reclaimed");

        // The same churn through the live API.
        for (int i = n; i < n + 20_000; i++)
        {
            kv.Put(Key(i), []);
            kv.Delete(Key(i - window));
        }

        Assert.That(kv.Count, Is.EqualTo(window));
        Assert.That(kv.KeyDirectoryBytes, Is.LessThan(4L * 1024 * 1024));
        Assert.That(kv.Get(Key(n + 20_000 - 1)), Is.Empty);
        Assert.That(Dump(kv), Has.Count.EqualTo(window));
    }
}
