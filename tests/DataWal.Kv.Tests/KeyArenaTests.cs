using System.Text;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Kv.Tests;

public class KeyArenaTests
{
    [TestCase(12)]   // 4 + 12 = 16-byte records: 65,536 fill a 1 MiB chunk exactly
    [TestCase(9)]    // 4 + 9 padded to 16: the same exact fill, with padding
    [TestCase(16)]   // 20-byte records: chunks end in a skipped tail
    [TestCase(60)]
    public void Keys_spanning_chunk_boundaries_read_back_exactly(int keyLength)
    {
        var arena = new KeyArena();
        int count = (3 * 1024 * 1024 / KeyArena.RecordSize(keyLength)) + 7;
        var positions = new uint[count];
        for (int i = 0; i < count; i++)
        {
            positions[i] = arena.Add(KeyOf(i, keyLength));
        }

        for (int i = 0; i < count; i++)
        {
            Assert.That(arena.Get(positions[i]).SequenceEqual(KeyOf(i, keyLength)), Is.True, $"key {i}");
        }
    }

    [Test]
    public void A_store_whose_keys_fill_a_chunk_exactly_reopens()
    {
        using var dir = new TempDir();
        const int Keys = 65_537;
        using (var kv = KvStore.Open(dir.Path))
        {
            using var batch = new KvBatch();
            for (int i = 0; i < Keys; i++)
            {
                batch.Put(Encoding.ASCII.GetBytes($"k{i:D8}"), "v"u8);
            }

            kv.Apply(batch);
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(reopened.Count, Is.EqualTo(Keys));
        Assert.That(reopened.Get(Encoding.ASCII.GetBytes($"k{Keys - 1:D8}")), Is.EqualTo("v"u8.ToArray()));
        using var readOnly = KvStore.OpenReadOnly(dir.Path);
        Assert.That(readOnly.Count, Is.EqualTo(Keys));
    }

    private static byte[] KeyOf(int i, int length)
    {
        var key = new byte[length];
        BitConverter.TryWriteBytes(key, i);
        for (int j = 4; j < length; j++)
        {
            key[j] = (byte)(i + j);
        }

        return key;
    }
}
