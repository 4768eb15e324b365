using System.Text;
using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using SafeAtomic;
using TestSupport;

namespace DataWal.Reliability.Tests;

/// <summary>
/// The failing-syscall sweep of docs/reliability.md, systematically: a workload (KV puts with fsyncs, a rotation, a compaction and an export)
/// is run once to list every system call it makes through the seam; then, for each call in turn, it runs
/// again with exactly that call failing (EIO, ENOSPC), interrupted (EINTR) or cut short (a 1-byte write).
/// Afterwards: an interrupted or short call is invisible (the workload completes); a failed one is reported,
/// a failed write/fsync poisons the store with upstream's message while reads keep working, a reopen holds
/// every acknowledged put and nothing that was never written, the compaction target is empty or a valid
/// prefix of the sorted live set, the export is whole or absent, and no temp file is left behind.
/// </summary>
public class FailingSyscallSweepTests
{
    private const int Puts = 12;

    private sealed record Outcome(int Acked, Exception? Error, bool Completed);

    private static byte[] Key(int i) => Encoding.ASCII.GetBytes($"key{i:D3}");

    private static byte[] Value(int i) => Encoding.ASCII.GetBytes($"value-{i}-" + new string('v', i * 7));

    /// <summary>The workload; returns how many puts returned, and the error that stopped it (if any).</summary>
    private static Outcome Workload(string dir)
    {
        KvStore kv;
        try
        {
            kv = KvStore.Open(Path.Combine(dir, "store"));
        }
        catch (IOException e)
        {
            return new Outcome(0, e, false);
        }

        int acked = 0;
        using (kv)
        {
            try
            {
                for (int i = 0; i < Puts; i++)
                {
                    kv.Put(Key(i), Value(i));
                    acked++;
                    if (i % 3 == 2)
                    {
                        kv.Fsync();
                    }

                    if (i == 6)
                    {
                        kv.Rotate();
                    }
                }

                kv.Delete(Key(0));
                acked++;
                kv.Fsync();
            }
            catch (DataWalException e)
            {
                // A failed write, fsync or rotate step poisons the store with upstream's message; reads go on.
                Assert.That(kv.Log.IsPoisoned, Is.True, e.ToString());
                var poisoned = Assert.Throws<WriterPoisonedException>(() => kv.Put(Key(99), Value(99)));
                Assert.That(poisoned!.Message, Does.StartWith("datawal: writer poisoned: ").And.EndWith("; drop handle and reopen"));
                for (int i = 1; i < Math.Min(acked, Puts); i++)
                {
                    Assert.That(kv.Get(Key(i)), Is.EqualTo(Value(i)), "reads keep working on a poisoned store");
                }

                return new Outcome(acked, e, false);
            }

            try
            {
                kv.CompactTo(Path.Combine(dir, "compacted"));
                kv.ExportJsonl(Path.Combine(dir, "export.jsonl"));
            }
            catch (IOException e)
            {
                // The store itself is untouched by a failed compaction or export, and still usable.
                Assert.That(kv.Get(Key(1)), Is.EqualTo(Value(1)), "reads keep working after a failed compaction/export");
                return new Outcome(acked, e, false);
            }

            return new Outcome(acked, null, true);
        }
    }

    [TestCase(ErrorNumbers.EIO)]
    [TestCase(ErrorNumbers.ENOSPC)]
    [TestCase(ErrorNumbers.EINTR)]
    [TestCase(0)] // a short write (1 byte accepted) instead of an error
    public void Each_system_call_of_a_workload_fails_in_turn_and_nothing_acknowledged_is_lost(int errno)
    {
        List<ObservedCall> calls;
        using (var probe = new TempDir("sweep-probe"))
        {
            using var recorder = FaultInjector.Install();
            var clean = Workload(probe.Path);
            Assert.That(clean.Completed, Is.True, clean.Error?.ToString());
            calls = [.. recorder.Calls];
        }

        int injected = 0;
        for (int k = 0; k < calls.Count; k++)
        {
            var call = calls[k].Call;
            if (errno == 0 && call != Call.Write)
            {
                continue;
            }

            int nth = calls.Take(k).Count(c => c.Call == call);
            using var dir = new TempDir("sweep");
            Outcome outcome;
            using (var faults = FaultInjector.Install())
            {
                if (errno == 0)
                {
                    faults.ShortWrites(1, skip: nth, times: 1);
                }
                else
                {
                    faults.Fail(call, errno, skip: nth, times: 1);
                }

                outcome = Workload(dir.Path);
            }

            injected++;
            string what = $"call #{k} ({call} {calls[k].Path}) with {(errno == 0 ? "a short write" : ErrorNumbers.Name(errno))}";
            if (errno is ErrorNumbers.EINTR or 0)
            {
                Assert.That(outcome.Completed, Is.True, $"{what} must be retried transparently: {outcome.Error}");
            }

            CheckAfterwards(dir.Path, outcome, what);
        }

        TestContext.Out.WriteLine($"{injected} injected {(errno == 0 ? "short writes" : ErrorNumbers.Name(errno))} over a {calls.Count}-call workload; nothing acknowledged lost");
        Assert.That(injected, Is.GreaterThan(errno == 0 ? 10 : 30), "the sweep reached the calls it should");
    }

    private static void CheckAfterwards(string dir, Outcome outcome, string what)
    {
        string store = Path.Combine(dir, "store");
        if (!Directory.Exists(store) || SegmentFiles.List(store).Count == 0)
        {
            Assert.That(outcome.Acked, Is.Zero, $"{what}: acknowledged puts but no store");
            return;
        }

        using (var kv = KvStore.Open(store))
        {
            // Every put that returned is there with its value; the delete (op #Puts) too if it returned.
            for (int i = 0; i < Math.Min(outcome.Acked, Puts); i++)
            {
                if (i == 0 && outcome.Acked > Puts)
                {
                    Assert.That(kv.Get(Key(0)), Is.Null, $"{what}: the acknowledged delete");
                    continue;
                }

                Assert.That(kv.Get(Key(i)), Is.EqualTo(Value(i)), $"{what}: acknowledged put {i}");
            }

            // Nothing that was never written: at most the one operation in flight beyond the acknowledged ones.
            foreach (var key in kv.Keys())
            {
                int index = int.Parse(Encoding.ASCII.GetString(key)[3..], System.Globalization.CultureInfo.InvariantCulture);
                Assert.That(index, Is.LessThanOrEqualTo(outcome.Acked), $"{what}: key {index} was never acknowledged nor in flight");
                Assert.That(kv.Get(key), Is.EqualTo(Value(index)), $"{what}: value of key {index}");
            }

            string compacted = Path.Combine(dir, "compacted");
            if (Directory.Exists(compacted) && SegmentFiles.List(compacted).Count > 0)
            {
                var live = kv.Keys().Select(Encoding.ASCII.GetString).Order(StringComparer.Ordinal).ToList();
                var reader = RecordLogReader.Open(compacted);
                var keys = reader.ScanIter().Select(r => Encoding.ASCII.GetString(r.Key.Span)).ToList();
                Assert.That(keys, Is.EqualTo(live.Take(keys.Count)), $"{what}: the compaction output is a prefix of the sorted live keys");
            }
        }

        string export = Path.Combine(dir, "export.jsonl");
        if (File.Exists(export))
        {
            var lines = File.ReadAllLines(export);
            Assert.That(lines, Has.Length.EqualTo(Puts - 1), $"{what}: an export is whole or absent");
        }

        Assert.That(AtomicFile.FindTempFiles(dir), Is.Empty, $"{what}: temp file left in the work directory");
        Assert.That(AtomicFile.FindTempFiles(Path.Combine(dir, "store")), Is.Empty, $"{what}: temp file left in the store");
    }
}
