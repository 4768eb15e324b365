using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// A writer's get probes the key directory by hash alone and lets the key in the frame confirm the entry: two keys
/// whose 32-bit hashes collide must still each read their own value, a key that is not live must still miss, and
/// damage to the colliding key's frame must not leak into the other key's get.
/// </summary>
public class GetProbeTests
{
    /// <summary>Two different 8-byte keys with the same <see cref="KeyDirectory.Hash"/> (a birthday search: ~2^16 tries on average).</summary>
    private static (byte[] First, byte[] Second) Collision()
    {
        var seen = new Dictionary<uint, long>();
        var key = new byte[8];
        for (long i = 0; ; i++)
        {
            BitConverter.TryWriteBytes(key, i);
            uint hash = KeyDirectory.Hash(key);
            if (seen.TryGetValue(hash, out long other))
            {
                return (BitConverter.GetBytes(other), BitConverter.GetBytes(i));
            }

            seen[hash] = i;
        }
    }

    [Test]
    public void Keys_whose_hashes_collide_each_read_their_own_value()
    {
        var (first, second) = Collision();
        Assert.That(first, Is.Not.EqualTo(second));
        Assert.That(KeyDirectory.Hash(first), Is.EqualTo(KeyDirectory.Hash(second)));

        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put(first, "first value"u8);
        Assert.That(kv.Get(second), Is.Null, "the other key's entry is found by hash, and its frame tells it is not this key");
        Assert.That(kv.TryGet(second, new System.Buffers.ArrayBufferWriter<byte>()), Is.False);

        kv.Put(second, "second value"u8);
        Assert.That(S(kv.Get(first)), Is.EqualTo("first value"));
        Assert.That(S(kv.Get(second)), Is.EqualTo("second value"));

        // Damage to the first key's frame (the entry the hash probe meets first) is the first key's error only.
        var at = kv.RefOf(first)!.Value;
        FlipByte(Seg(dir.Path, at.Segment), (long)at.Offset + at.Length - 1);
        Assert.That(S(kv.Get(second)), Is.EqualTo("second value"));
        var e = Assert.Throws<CorruptRecordException>(() => kv.Get(first))!;
        Assert.That(e.Kind, Is.EqualTo(CorruptionKind.CrcMismatch));

        kv.Delete(first);
        Assert.That(kv.Get(first), Is.Null);
        Assert.That(S(kv.Get(second)), Is.EqualTo("second value"));
    }

    [Test]
    public void A_directory_probed_by_hash_agrees_with_the_exact_lookup_through_growth_and_removals()
    {
        var keys = new KeyDirectory();
        var model = new Dictionary<long, RecordRef>();
        var rng = new Random(7);
        var key = new byte[8];
        for (int step = 0; step < 60_000; step++)
        {
            long k = rng.Next(20_000);
            BitConverter.TryWriteBytes(key, k);
            if (rng.Next(4) == 0)
            {
                Assert.That(keys.Remove(key), Is.EqualTo(model.Remove(k)));
            }
            else
            {
                var at = new RecordRef((uint)(step % 7 + 1), (ulong)step * 64, 40);
                keys.Set(key, at);
                model[k] = at;
            }
        }

        Assert.That(keys.Count, Is.EqualTo(model.Count));
        var hashes = Enumerable.Range(0, 20_000).Select(k => KeyDirectory.Hash(BitConverter.GetBytes((long)k))).ToHashSet();
        Assert.That(hashes, Has.Count.EqualTo(20_000), "these keys' hashes are distinct, so a hash names one key");
        for (long k = 0; k < 20_000; k++)
        {
            BitConverter.TryWriteBytes(key, k);
            bool live = model.TryGetValue(k, out var expected);
            Assert.That(keys.TryGet(key, out var exact), Is.EqualTo(live), $"key {k}");
            if (live)
            {
                Assert.That(exact, Is.EqualTo(expected));

                Assert.That(keys.TryGetCandidate(KeyDirectory.Hash(key), out var candidate), Is.True);
                Assert.That(candidate, Is.EqualTo(expected));
            }
        }
    }
}
