// A concurrent model test of online compaction (docs/design.md D15).
// Env knobs:
//   DATAWAL_MODEL_SEED      the seed (default: a new one each run, printed; rerun with it to repeat each thread's operations)
//   DATAWAL_MODEL_SECONDS   how long to run (default 3)
using System.Collections.Concurrent;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// Random puts, deletes and gets from writer threads, against a dictionary model, while other threads compact,
/// rotate, get and snapshot the store; reopened at quiescent points. The model is exact although everything runs
/// at once: each writer thread owns a disjoint key range, so a key's history is its owner's program order, and a
/// get of an owned key must return exactly the owner's last write. Other threads check what they read is a value
/// the key's owner wrote. After each round the whole store must equal the union of the models, before and after
/// a reopen.
/// </summary>
[NonParallelizable]
public class OnlineCompactionModelTests
{
    private const int Writers = 3;
    private const int KeysPerWriter = 40;

    [Test]
    public void Random_operations_beside_online_compactions_rotations_and_reopens_match_the_model_exactly()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("DATAWAL_MODEL_SEED"), out int s) ? s : Random.Shared.Next();
        double seconds = double.TryParse(Environment.GetEnvironmentVariable("DATAWAL_MODEL_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out double d) && d > 0 ? d : 3;
        TestContext.Out.WriteLine($"seed {seed} (rerun with DATAWAL_MODEL_SEED={seed}), {seconds} s");
        TestContext.Progress.WriteLine($"OnlineCompactionModelTests seed {seed}");

        using var dir = new TempDir("kv-model");
        var options = new KvStoreOptions { Log = new RecordLogOptions { MaxSegmentBytes = 2048 } };
        var models = Enumerable.Range(0, Writers).Select(_ => new Dictionary<string, string>(StringComparer.Ordinal)).ToArray();
        var written = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);   // every value ever put (for non-owners)
        long ops = 0, gets = 0, foreignGets = 0, snapshots = 0, compactions = 0, rotations = 0, reopens = 0, reclaimed = 0;
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        var random = new Random(seed);
        for (int round = 0; DateTime.UtcNow < deadline || round < 2; round++)
        {
            using (var kv = KvStore.Open(dir.Path, options))
            {
                AssertStore(kv, models, $"round {round} after reopen");
                var roundEnd = DateTime.UtcNow.AddMilliseconds(random.Next(200, 600));
                var failures = new ConcurrentQueue<Exception>();
                var threads = new List<Thread>();
                for (int t = 0; t < Writers; t++)
                {
                    int owner = t;
                    var r = new Random(HashCode.Combine(seed, round, owner));
                    threads.Add(new Thread(() => Guard(failures, () =>
                    {
                        var model = models[owner];
                        for (long i = 0; DateTime.UtcNow < roundEnd; i++)
                        {
                            string key = $"t{owner}-{r.Next(KeysPerWriter):D2}";
                            int op = r.Next(10);
                            if (op < 5)
                            {
                                string value = $"{key}={round}.{i}." + new string((char)('a' + owner), r.Next(60));
                                written[value] = 0;
                                kv.Put(B(key), B(value));
                                model[key] = value;
                            }
                            else if (op < 7)
                            {
                                kv.Delete(B(key));
                                model.Remove(key);
                            }
                            else
                            {
                                string? got = kv.Get(B(key)) is { } bytes ? S(bytes) : null;
                                Assert.That(got, Is.EqualTo(model.GetValueOrDefault(key)), $"round {round}: owner's get of {key}");
                                Interlocked.Increment(ref gets);
                            }

                            Interlocked.Increment(ref ops);
                        }
                    })));
                }

                var mr = new Random(HashCode.Combine(seed, round, -1));
                threads.Add(new Thread(() => Guard(failures, () =>
                {
                    while (DateTime.UtcNow < roundEnd)
                    {
                        if (mr.Next(3) == 0)
                        {
                            kv.Rotate();
                            Interlocked.Increment(ref rotations);
                        }
                        else
                        {
                            var result = kv.Compact();
                            Interlocked.Increment(ref compactions);
                            Interlocked.Add(ref reclaimed, result.BytesReclaimed);
                        }
                    }
                })));

                var gr = new Random(HashCode.Combine(seed, round, -2));
                threads.Add(new Thread(() => Guard(failures, () =>
                {
                    while (DateTime.UtcNow < roundEnd)
                    {
                        if (gr.Next(20) == 0)
                        {
                            foreach (var (key, value) in kv.Items())
                            {
                                AssertForeign(written, S(key), S(value), $"round {round}: snapshot");
                            }

                            Interlocked.Increment(ref snapshots);
                        }
                        else
                        {
                            string key = $"t{gr.Next(Writers)}-{gr.Next(KeysPerWriter):D2}";
                            if (kv.Get(B(key)) is { } bytes)
                            {
                                AssertForeign(written, key, S(bytes), $"round {round}: get from another thread");
                            }

                            Interlocked.Increment(ref foreignGets);
                        }
                    }
                })));

                threads.ForEach(th => th.Start());
                threads.ForEach(th => th.Join());
                if (!failures.IsEmpty)
                {
                    throw new AggregateException($"seed {seed}, round {round}", failures);
                }

                Assert.That(kv.IsPoisoned, Is.False);
                AssertStore(kv, models, $"seed {seed}, round {round} at the end");
                if (random.Next(2) == 0)
                {
                    kv.Compact();   // also once at a quiescent point
                    compactions++;
                    AssertStore(kv, models, $"seed {seed}, round {round} after a quiescent compaction");
                }
            }

            using (var ro = KvStore.OpenReadOnly(dir.Path))
            {
                AssertStore(ro, models, $"seed {seed}, round {round} read-only");
            }

            reopens++;
        }

        TestContext.Out.WriteLine($"{ops} writer ops ({gets} owner gets), {foreignGets} gets and {snapshots} snapshots from another thread, {compactions} compactions (reclaimed {reclaimed} B), {rotations} rotations, {reopens} reopens");
        Assert.That(compactions, Is.GreaterThan(0));
        Assert.That(rotations, Is.GreaterThan(0));
        Assert.That(reclaimed, Is.GreaterThan(0), "no compaction reclaimed anything");
    }

    private static void Guard(ConcurrentQueue<Exception> failures, Action body)
    {
        try
        {
            body();
        }
        catch (Exception e)
        {
            failures.Enqueue(e);
        }
    }

    private static void AssertForeign(ConcurrentDictionary<string, byte> written, string key, string value, string at)
    {
        Assert.That(value, Does.StartWith(key + "="), $"{at}: {key} holds another key's value");
        Assert.That(written.ContainsKey(value), Is.True, $"{at}: {key} holds a value never put: {value}");
    }

    private static void AssertStore(KvStore kv, Dictionary<string, string>[] models, string at)
    {
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var model in models)
        {
            foreach (var (key, value) in model)
            {
                expected[key] = value;
            }
        }

        var items = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in kv.Items())
        {
            items[S(key)] = S(value);
        }

        Assert.That(items, Is.EqualTo(expected), at + ": items");
        Assert.That(kv.Count, Is.EqualTo(expected.Count), at + ": count");
        for (int t = 0; t < Writers; t++)
        {
            for (int k = 0; k < KeysPerWriter; k++)
            {
                string key = $"t{t}-{k:D2}";
                Assert.That(kv.Get(B(key)) is { } b ? S(b) : null, Is.EqualTo(expected.GetValueOrDefault(key)), $"{at}: get {key}");
            }
        }
    }
}
