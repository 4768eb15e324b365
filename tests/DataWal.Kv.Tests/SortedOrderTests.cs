using DataWal.Core;
using NUnit.Framework;

namespace DataWal.Kv.Tests;

/// <summary>
/// Export and CompactTo write keys in bytewise order; the key directory radix-sorts 8-byte prefixes and breaks ties
/// by full comparison. Checked against a plain ordinal sort on key sets built to hit every branch: fewer keys than
/// the radix threshold, shared prefixes (constant bytes skipped), short and empty keys (zero padding), long ties.
/// </summary>
public class SortedOrderTests
{
    private static IEnumerable<TestCaseData> KeySets()
    {
        var rng = new Random(20261206);
        byte[] RandomKey(int maxLength)
        {
            var key = new byte[rng.Next(maxLength + 1)];
            rng.NextBytes(key);
            return key;
        }

        yield return new TestCaseData(Enumerable.Range(0, 100).Select(_ => RandomKey(12)).ToList()).SetName("few random keys (comparison sort)");
        yield return new TestCaseData(Enumerable.Range(0, 5000).Select(_ => RandomKey(20)).ToList()).SetName("random keys of 0-20 bytes");
        yield return new TestCaseData(Enumerable.Range(0, 5000).Select(i => BitConverter.GetBytes((long)i).Concat(new byte[8]).ToArray()).ToList()).SetName("little-endian counters (the benchmarks' keys)");
        yield return new TestCaseData(Enumerable.Range(0, 5000).Select(i => System.Text.Encoding.ASCII.GetBytes($"user:{i % 97:D3}:{i}")).ToList()).SetName("shared prefixes and long ties");
        yield return new TestCaseData(Enumerable.Range(0, 3000).Select(i => new byte[] { (byte)(i % 7), 0, (byte)(i % 3) }.Take(1 + (i % 3)).ToArray()).Distinct(new BytesComparer()).Concat([[]]).ToList()).SetName("short keys, zero bytes and the empty key");
        yield return new TestCaseData(Enumerable.Range(0, 4000).Select(i => Enumerable.Repeat((byte)0xFF, 8).Concat(BitConverter.GetBytes(i)).ToArray()).ToList()).SetName("all prefixes equal");
    }

    [TestCaseSource(nameof(KeySets))]
    public void Sorted_order_is_bytewise_key_order(List<byte[]> keys)
    {
        var directory = new KeyDirectory();
        for (int i = 0; i < keys.Count; i++)
        {
            directory.Set(keys[i], new RecordRef(1, (ulong)i * 10, 10));
        }

        var actual = directory.SortedOrder().Select(i => Convert.ToHexString(directory.KeyAt(i))).ToList();
        var expected = keys.Distinct(new BytesComparer()).Select(Convert.ToHexString).OrderBy(k => k, StringComparer.Ordinal).ToList();
        Assert.That(actual, Is.EqualTo(expected));
    }

    [Test]
    public void Radix_sort_sorts_and_permutes_alongside()
    {
        var rng = new Random(7);
        foreach (int n in new[] { 0, 1, 511, 512, 10_000 })
        {
            var keys = Enumerable.Range(0, n).Select(_ => (ulong)rng.NextInt64() >> rng.Next(64)).ToArray();
            var items = Enumerable.Range(0, n).ToArray();
            var original = keys.ToArray();
            RadixSort.Sort(ref keys, ref items);
            Assert.That(keys, Is.Ordered, $"n = {n}");
            Assert.That(items.Select(i => original[i]), Is.EqualTo(keys), $"n = {n}: items follow their keys");
            Assert.That(items.Order(), Is.EqualTo(Enumerable.Range(0, n)), $"n = {n}: a permutation");
        }
    }

    [Test]
    public void A_snapshot_gives_back_every_key_and_location_across_chunk_boundaries()
    {
        // Keys of 0 B to 64 KiB (the largest a frame takes), enough of them to fill several 1 MiB chunks.
        var rng = new Random(11);
        var keys = Enumerable.Range(0, 200).Select(i => new byte[i % 5 == 0 ? 0 : rng.Next(i % 3 == 0 ? 65_536 : 40)]).ToList();
        keys.ForEach(rng.NextBytes);
        var snapshot = new KeySnapshot(keys.Count);
        for (int i = 0; i < keys.Count; i++)
        {
            snapshot.Add(keys[i], new RecordRef((uint)i, (ulong)i * 7, (uint)i + 20));
        }

        Assert.That(snapshot.Count, Is.EqualTo(keys.Count));
        for (int i = 0; i < keys.Count; i++)
        {
            Assert.That(snapshot.KeyAt(i).ToArray(), Is.EqualTo(keys[i]), $"key {i}");
            Assert.That(snapshot.RefAt(i), Is.EqualTo(new RecordRef((uint)i, (ulong)i * 7, (uint)i + 20)), $"location {i}");
        }
    }

    private sealed class BytesComparer : IEqualityComparer<byte[]>
    {
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => Convert.ToHexString(obj).GetHashCode(StringComparison.Ordinal);
    }
}
