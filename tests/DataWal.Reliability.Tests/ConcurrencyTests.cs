using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;
using static DataWal.Reliability.Tests.Reliability;

namespace DataWal.Reliability.Tests;

/// <summary>
/// Concurrency and locking (docs/reliability.md): writer-open races between processes, a reader following a live
/// rotating writer process, and many threads on one KvStore checked against a linearizable model.
/// </summary>
[NonParallelizable]
public class ConcurrencyTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [TestCase(2, 4)]
    [TestCase(4, 3)]
    [Platform(Exclude = "Win")]
    public void Processes_racing_to_open_one_store_as_writer_have_exactly_one_winner(int processes, int rounds)
    {
        using var root = new TempDir("rel-race");
        int late = 0;
        for (int round = 0; round < rounds; round++)
        {
            string dir = root[$"r{round}"];
            long start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 2000;
            var children = Enumerable.Range(0, processes)
                .Select(_ => ChildProcess.Start("rel-race", dir, start.ToString(CultureInfo.InvariantCulture), "600000"))
                .ToList();
            try
            {
                var outcomes = new List<string>();
                foreach (var child in children)
                {
                    string? line;
                    do
                    {
                        line = child.ReadLine(Timeout);
                        late += line == "late" ? 1 : 0;
                    }
                    while (line == "late");

                    Assert.That(line, Is.Not.Null, "no outcome; stderr: " + child.StandardError);
                    outcomes.Add(line!);
                }

                Assert.That(outcomes.Count(o => o == "won"), Is.EqualTo(1), $"round {round}: {string.Join(", ", outcomes)}");
                Assert.That(outcomes.Count(o => o == "locked"), Is.EqualTo(processes - 1), $"round {round}: {string.Join(", ", outcomes)}");
                for (int i = 0; i < processes; i++)
                {
                    if (outcomes[i] == "locked")
                    {
                        Assert.That(children[i].WaitForExit(Timeout), Is.Zero);
                    }
                }
            }
            finally
            {
                foreach (var child in children)
                {
                    child.Dispose();
                }
            }

            // The killed winner's lock does not block the next writer.
            using var log = RecordLog.Open(dir);
        }

        Figures($"writer race: {processes} processes x {rounds} rounds, exactly one winner each round, late starters {late}");
    }

    [TestCase(false, 50, 30000)]
    [TestCase(true, 7, 1000000)]
    [Platform(Exclude = "Win")]
    public void Reader_following_a_live_rotating_writer_process_always_sees_a_contiguous_prefix(bool fsync, int rotateEvery, int max)
    {
        using var dir = new TempDir("rel-follow");
        using var child = ChildProcess.Start("rel-append", dir.Path, fsync ? "1" : "0", rotateEvery.ToString(CultureInfo.InvariantCulture), max.ToString(CultureInfo.InvariantCulture));
        string ackPrefix = fsync ? "durable" : "acked";
        Assert.That(child.ReadLine(Timeout), Is.EqualTo($"{ackPrefix} 0"), child.StandardError);
        long lastAck = 0;
        bool done = false;
        int scans = 0, scansWhileLive = 0, tornTails = 0, maxSegments = 0;
        int previous = 0;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(3);
        while (DateTime.UtcNow < until)
        {
            // Everything acknowledged before the reader opens must be visible to it.
            while (child.ReadLine(TimeSpan.Zero) is { } line)
            {
                done |= line == "done";
                if (line.StartsWith(ackPrefix + " ", StringComparison.Ordinal))
                {
                    lastAck = long.Parse(line[(ackPrefix.Length + 1)..], CultureInfo.InvariantCulture);
                }
            }

            scansWhileLive += done ? 0 : 1;
            var (records, report) = ReadAll(dir.Path);
            string context = $"scan {scans} (acked {lastAck})";
            AssertContiguousPrefix(records, context);
            Assert.That(report.MidStreamErrors, Is.Zero, context);
            Assert.That(records.Count, Is.GreaterThan(lastAck), context + ": an acknowledged record is invisible to a new reader");
            Assert.That(records.Count, Is.GreaterThanOrEqualTo(previous), context + ": a later reader saw less");
            previous = records.Count;
            tornTails += report.TailTruncated > 0 ? 1 : 0;
            maxSegments = Math.Max(maxSegments, records.Count == 0 ? 0 : (int)records[^1].Segment);
            scans++;
        }

        child.Kill();
        Assert.That(scansWhileLive, Is.GreaterThan(0), "no scan ran while the writer was still appending");
        Assert.That(maxSegments, Is.GreaterThan(1), "the writer never rotated while followed");
        Figures($"reader following writer (fsync {fsync}, rotate every {rotateEvery}): scans {scans} ({scansWhileLive} while it appended), scans ending in a tail being written {tornTails}, " +
                $"records seen {previous}, segments {maxSegments}, non-prefix scans 0");
    }

    [Test]
    public void Many_threads_putting_getting_deleting_and_fsyncing_one_store_match_a_linearizable_model()
    {
        using var dir = new TempDir("rel-threads");
        const int Threads = 8, OpsPerThread = 2500, Keys = 24;
        var gate = new object();
        long seq = 0;                                                         // written under gate
        var history = new Dictionary<string, List<(long Seq, string? Value)>>(); // guarded by gate
        for (int k = 0; k < Keys; k++)
        {
            history[$"k{k:D2}"] = [(0, null)];
        }

        var unlockedGets = new ConcurrentBag<(string Key, long Before, long After, string? Got)>();
        var failures = new ConcurrentBag<string>();
        long lockedGets = 0, fsyncs = 0;
        using (var store = KvStore.Open(dir.Path))
        {
            var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                try
                {
                    var rnd = new Random(1000 + t);
                    for (int i = 0; i < OpsPerThread; i++)
                    {
                        string key = $"k{rnd.Next(Keys):D2}";
                        byte[] keyBytes = Encoding.ASCII.GetBytes(key);
                        int r = rnd.Next(100);
                        if (r < 35)
                        {
                            string value = $"t{t}-{i}-" + new string('x', rnd.Next(64));
                            lock (gate)
                            {
                                store.Put(keyBytes, Encoding.ASCII.GetBytes(value));
                                history[key].Add((++seq, value));
                            }
                        }
                        else if (r < 50)
                        {
                            lock (gate)
                            {
                                store.Delete(keyBytes);
                                history[key].Add((++seq, null));
                            }
                        }
                        else if (r < 60)
                        {
                            lock (gate)
                            {
                                var got = store.Get(keyBytes);
                                string? expected = history[key][^1].Value;
                                string? actual = got is null ? null : Encoding.ASCII.GetString(got);
                                if (actual != expected)
                                {
                                    failures.Add($"locked get {key} at seq {seq}: {actual ?? "<none>"} != {expected ?? "<none>"}");
                                }

                                Interlocked.Increment(ref lockedGets);
                            }
                        }
                        else if (r < 95)
                        {
                            // Concurrent with the writes: must return the state at some point during the call.
                            long before = Volatile.Read(ref seq);
                            var got = store.Get(keyBytes);
                            long after = Volatile.Read(ref seq);
                            unlockedGets.Add((key, before, after, got is null ? null : Encoding.ASCII.GetString(got)));
                        }
                        else
                        {
                            store.Fsync();
                            Interlocked.Increment(ref fsyncs);
                        }
                    }
                }
                catch (Exception e)
                {
                    failures.Add($"thread {t}: {e}");
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());

            Assert.That(failures, Is.Empty);
            var model = FinalModel(history);
            Assert.That(Items(store).ToList(), Is.EqualTo(model.ToList()));
        }

        // Every unlocked get saw a state that existed while it ran (ops are serialized by the gate, so at
        // most the one op after `after` can have been in flight).
        foreach (var (key, before, after, got) in unlockedGets)
        {
            var versions = history[key];
            bool ok = false;
            for (long v = before; v <= after + 1 && !ok; v++)
            {
                ok = versions.Last(h => h.Seq <= v).Value == got;
            }

            Assert.That(ok, Is.True, $"get {key} between seq {before} and {after} returned {got ?? "<none>"}, never the value then");
        }

        using (var reopened = KvStore.Open(dir.Path))
        {
            Assert.That(Items(reopened).ToList(), Is.EqualTo(FinalModel(history).ToList()), "after reopen");
        }

        Figures($"in-process KV threads: {Threads} threads x {OpsPerThread} ops, mutations {seq}, locked gets {lockedGets}, " +
                $"concurrent gets {unlockedGets.Count}, fsyncs {fsyncs}, model mismatches 0");
    }

    private static SortedDictionary<string, string> FinalModel(Dictionary<string, List<(long Seq, string? Value)>> history)
    {
        var model = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, versions) in history)
        {
            if (versions[^1].Value is { } value)
            {
                model[key] = value;
            }
        }

        return model;
    }
}
