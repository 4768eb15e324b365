using DataWal.Core;
using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary><see cref="KvStore.Compact"/>: compaction in the store's own directory (docs/design.md D15).</summary>
public class OnlineCompactionTests
{
    private static readonly KvStoreOptions SmallSegments = new() { Log = new RecordLogOptions { MaxSegmentBytes = 2048 } };

    /// <summary>Overwrites and deletes over a bounded key set, recorded in <paramref name="model"/>.</summary>
    private static void Churn(KvStore kv, Dictionary<string, string> model, int count, int seed)
    {
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            string key = $"k{random.Next(60)}";
            if (random.Next(8) == 0)
            {
                kv.Delete(B(key));
                model.Remove(key);
            }
            else
            {
                string value = $"v{seed}-{i}-{new string('x', random.Next(40))}";
                kv.Put(B(key), B(value));
                model[key] = value;
            }
        }
    }

    private static void AssertMatches(KvStore kv, Dictionary<string, string> model)
    {
        Assert.That(kv.Count, Is.EqualTo(model.Count), "live keys");
        foreach (var (key, value) in model)
        {
            Assert.That(S(kv.Get(B(key))), Is.EqualTo(value), key);
        }
    }

    /// <summary>The segments' total size; one a background compaction deletes meanwhile counts 0.</summary>
    private static long StoreBytes(string directory) =>
        SegmentFiles.List(directory).Sum(id => new FileInfo(SegmentFiles.PathFor(directory, id)) is { Exists: true } file ? file.Length : 0);

    [Test]
    public void Compact_keeps_every_value_reclaims_dead_bytes_and_survives_reopen_read_only_and_a_second_compaction()
    {
        using var dir = new TempDir();
        var model = new Dictionary<string, string>();
        using (var kv = KvStore.Open(dir.Path, SmallSegments))
        {
            Churn(kv, model, 2000, 1);
            long before = StoreBytes(dir.Path);
            uint activeBefore = kv.Log.ActiveSegment;
            ulong nextTxId = kv.Log.NextTxId;

            var result = kv.Compact();

            Assert.That(result.SegmentsCompacted, Is.GreaterThan(5));
            Assert.That(result.SegmentsDeleted, Is.EqualTo(result.SegmentsCompacted - 1));
            Assert.That(result.LiveKeys, Is.EqualTo(model.Count));
            Assert.That(result.BytesAfter, Is.LessThan(result.BytesBefore));
            Assert.That(StoreBytes(dir.Path), Is.LessThan(before / 4), "dead bytes went back to the file system");
            Assert.That(kv.Log.ActiveSegment, Is.GreaterThan(activeBefore), "the active segment was sealed first");
            Assert.That(kv.Log.NextTxId, Is.EqualTo(nextTxId), "txids go on where they were");
            Assert.That(Directory.GetFiles(dir.Path, "*.tmp"), Is.Empty);
            AssertMatches(kv, model);

            Churn(kv, model, 500, 2);
            AssertMatches(kv, model);
            kv.Compact();
            AssertMatches(kv, model);
            Churn(kv, model, 100, 3);
        }

        using (var reopened = KvStore.Open(dir.Path, SmallSegments))
        {
            AssertMatches(reopened, model);
        }

        using var readOnly = KvStore.OpenReadOnly(dir.Path);
        AssertMatches(readOnly, model);
    }

    [Test]
    public void The_image_keeps_original_txids_in_ascending_order_and_ends_with_the_highest_txid()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put(B("a"), B("1"));   // txid 1, overwritten
            kv.Put(B("b"), B("2"));   // txid 2, live
            kv.Put(B("a"), B("3"));   // txid 3, live
            kv.Put(B("c"), B("4"));   // txid 4
            kv.Delete(B("c"));        // txid 5: the newest record is a tombstone
            kv.Rotate();
            kv.Compact();
        }

        var records = RecordLogReader.Open(dir.Path).ScanIter().ToList();
        Assert.That(records.Select(r => (r.TxId, r.Type)), Is.EqualTo(new[] { (2UL, RecordType.Put), (3UL, RecordType.Put), (5UL, RecordType.Raw) }));
        using var reopened = KvStore.Open(dir.Path);
        Assert.That(reopened.Log.NextTxId, Is.EqualTo(6UL), "txids never go back after a reopen (D18)");
        Assert.That(S(reopened.Get(B("a"))), Is.EqualTo("3"));
        Assert.That(reopened.ContainsKey(B("c")), Is.False);
    }

    [Test]
    public void A_store_with_nothing_sealed_compacts_to_nothing_and_an_empty_one_stays_empty()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        var nothing = kv.Compact();
        Assert.That(nothing.SegmentsCompacted, Is.Zero);
        kv.Put(B("k"), B("v"));
        kv.Delete(B("k"));
        var all = kv.Compact();
        Assert.That(all.LiveKeys, Is.Zero);
        Assert.That(kv.IsEmpty, Is.True);
        kv.Put(B("k"), B("w"));
        Assert.That(S(kv.Get(B("k"))), Is.EqualTo("w"));
        Assert.That(kv.Log.NextTxId, Is.EqualTo(4UL));
    }

    [Test]
    public async Task Cancellation_before_the_install_leaves_the_store_exactly_as_it_was()
    {
        using var dir = new TempDir();
        var model = new Dictionary<string, string>();
        using var kv = KvStore.Open(dir.Path, SmallSegments);
        Churn(kv, model, 2_000, 4);
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p =>
        {
            if (p.KeysWritten > 0)
            {
                cts.Cancel();
            }
        });

        // Enough live keys that the copy reports progress before it ends.
        for (int i = 0; i < 10_000; i++)
        {
            kv.Put(B($"bulk{i}"), B($"value{i}"));
            model[$"bulk{i}"] = $"value{i}";
        }

        kv.Rotate();   // the active segment is empty: the compaction has nothing to seal, so nothing at all may change
        var before = Tree(dir.Path);
        Assert.That(async () => await kv.CompactAsync(progress, cts.Token), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(Tree(dir.Path), Is.EqualTo(before), "nothing changed");
        Assert.That(Directory.GetFiles(dir.Path, "*.tmp"), Is.Empty, "the unfinished image is removed");
        AssertMatches(kv, model);
        var result = await kv.CompactAsync();
        Assert.That(result.LiveKeys, Is.EqualTo(model.Count));
        AssertMatches(kv, model);
    }

    [Test]
    public void A_leftover_image_from_a_crash_is_removed_by_the_next_writer_open_and_ignored_by_readers()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put(B("k"), B("v"));
        }

        string leftover = Path.Combine(dir.Path, SegmentCompaction.TempFileName);
        File.WriteAllBytes(leftover, WireFormat.Encode(RecordType.Put, 1, B("k"), B("garbage")));
        using (var readOnly = KvStore.OpenReadOnly(dir.Path))
        {
            Assert.That(S(readOnly.Get(B("k"))), Is.EqualTo("v"));
        }

        Assert.That(File.Exists(leftover), Is.True, "a reader changes nothing");
        using var writer = KvStore.Open(dir.Path);
        Assert.That(File.Exists(leftover), Is.False);
        Assert.That(S(writer.Get(B("k"))), Is.EqualTo("v"));
    }

    [Test]
    public void Gets_and_writes_from_other_threads_during_compactions_never_see_a_value_the_key_did_not_have()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path, SmallSegments);

        // Each key's value is "key:version": a reader may see an older or newer version, never another key's or garbage,
        // and versions it sees for a key never go backwards.
        const int Keys = 200;
        var versions = new long[Keys];
        for (int k = 0; k < Keys; k++)
        {
            kv.Put(B($"key{k}"), B($"key{k}:0"));
        }

        using var stop = new CancellationTokenSource();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var writer = Task.Run(() =>
        {
            var random = new Random(5);
            while (!stop.IsCancellationRequested)
            {
                int k = random.Next(Keys);
                long v = Interlocked.Increment(ref versions[k]);
                kv.Put(B($"key{k}"), B($"key{k}:{v}"));
            }
        });
        var readers = Enumerable.Range(0, 2).Select(seed => Task.Run(() =>
        {
            var random = new Random(seed + 10);
            var seen = new long[Keys];
            long reads = 0;
            while (!stop.IsCancellationRequested)
            {
                int k = random.Next(Keys);
                try
                {
                    string value = S(kv.Get(B($"key{k}")));
                    string[] parts = value.Split(':');
                    if (parts.Length != 2 || parts[0] != $"key{k}" || !long.TryParse(parts[1], out long v))
                    {
                        failures.Enqueue($"key{k} read {value}");
                        continue;
                    }

                    if (v < seen[k])
                    {
                        failures.Enqueue($"key{k} went back from {seen[k]} to {v}");
                    }

                    seen[k] = v;
                    reads++;
                }
                catch (DataWalException e)
                {
                    failures.Enqueue($"key{k}: {e.Message}");
                }
            }

            return reads;
        })).ToArray();

        int compactions = 0;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(4);
        while (DateTime.UtcNow < until && failures.IsEmpty)
        {
            kv.Compact();
            compactions++;
        }

        stop.Cancel();
        writer.Wait();
        long totalReads = readers.Sum(r => r.Result);
        Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(10)));
        Assert.That(compactions, Is.GreaterThan(3));
        Assert.That(totalReads, Is.GreaterThan(1000));
        for (int k = 0; k < Keys; k++)
        {
            Assert.That(S(kv.Get(B($"key{k}"))), Is.EqualTo($"key{k}:{versions[k]}"));
        }

        TestContext.Out.WriteLine($"{compactions} compactions, {totalReads} reads, {versions.Sum()} writes");
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void A_scan_paused_inside_the_compacted_range_ends_with_the_same_view_deletes_included(int pausedSegment)
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        var model = new Dictionary<string, string>();
        for (int s = 1; s <= 4; s++)
        {
            if (s > 1)
            {
                kv.Rotate();
            }

            // Every segment puts some keys and deletes some put earlier, so a reader paused in one segment has read
            // puts whose deletes are still ahead of it.
            for (int i = 0; i < 10; i++)
            {
                kv.Put(B($"s{s}k{i}"), B($"v{s}-{i}"));
                model[$"s{s}k{i}"] = $"v{s}-{i}";
            }

            for (int earlier = 1; earlier < s; earlier++)
            {
                kv.Delete(B($"s{earlier}k{s}"));
                model.Remove($"s{earlier}k{s}");
                kv.Put(B($"s{earlier}k0"), B($"again{s}"));
                model[$"s{earlier}k0"] = $"again{s}";
            }
        }

        kv.Fsync();
        var view = new Dictionary<string, string>();
        ulong last = 0;
        using (var iterator = RecordLogReader.Open(dir.Path).ScanIter().GetEnumerator())
        {
            bool Step()
            {
                if (!iterator.MoveNext())
                {
                    return false;
                }

                var record = iterator.Current;
                Assert.That(record.TxId, Is.GreaterThan(last), "strictly increasing txids, nothing twice");
                last = record.TxId;
                if (record.Type == RecordType.Put)
                {
                    view[S(record.Key.ToArray())] = S(record.Payload.ToArray());
                }
                else if (record.Type == RecordType.Delete)
                {
                    view.Remove(S(record.Key.ToArray()));
                }

                return true;
            }

            while (Step() && iterator.Current.Ref.Segment < (uint)pausedSegment)
            {
            }

            for (int i = 0; i < 5; i++)
            {
                Step();
            }

            var result = kv.Compact();
            Assert.That(result.SegmentsDeleted, Is.EqualTo(3));
            while (Step())
            {
            }
        }

        Assert.That(view, Is.EquivalentTo(model), "last-write-wins over what the paused scan returned equals the store");
        AssertMatches(kv, model);
    }

    [Test]
    public void A_read_only_store_opened_before_a_compaction_elsewhere_still_reads_its_keys()
    {
        using var dir = new TempDir();
        var model = new Dictionary<string, string>();
        using var kv = KvStore.Open(dir.Path, SmallSegments);
        Churn(kv, model, 1000, 6);
        kv.Rotate();
        using var readOnly = KvStore.OpenReadOnly(dir.Path);
        kv.Compact();
        AssertMatches(readOnly, model);
    }

    [Test]
    public void Auto_compaction_keeps_disk_use_bounded_under_overwrites()
    {
        using var dir = new TempDir();
        var options = new KvStoreOptions
        {
            Log = new RecordLogOptions { MaxSegmentBytes = 16 * 1024 },
            AutoCompaction = new KvAutoCompaction { DeadFraction = 0.5, MinDeadBytes = 32 * 1024 },
        };
        var model = new Dictionary<string, string>();
        long peak = 0;
        using (var kv = KvStore.Open(dir.Path, options))
        {
            for (int round = 0; round < 40; round++)
            {
                Churn(kv, model, 500, 100 + round);
                peak = Math.Max(peak, StoreBytes(dir.Path));
                SpinWait.SpinUntil(() => kv.AutoCompactionError is not null, 5);
            }

            Assert.That(kv.AutoCompactionError, Is.Null);
            AssertMatches(kv, model);
        }

        // 20,000 writes of ~60 bytes (about 1.5 MB) over 60 keys: without compaction the store holds all of it.
        Assert.That(peak, Is.LessThan(400 * 1024), "disk use stayed bounded");
        using var reopened = KvStore.Open(dir.Path);
        AssertMatches(reopened, model);
    }

    [Test]
    public void Auto_compaction_options_are_checked_when_set()
    {
        Assert.That(() => new KvAutoCompaction { DeadFraction = 0 }, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("DeadFraction"));
        Assert.That(() => new KvAutoCompaction { DeadFraction = 1.5 }, Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => new KvAutoCompaction { MinDeadBytes = -1 }, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("MinDeadBytes"));
        var policy = new KvAutoCompaction { DeadFraction = 0.5, MinDeadBytes = 10 };
        Assert.That(policy.ShouldCompact(100, 40), Is.True);
        Assert.That(policy.ShouldCompact(100, 60), Is.False);
        Assert.That(policy.ShouldCompact(15, 0), Is.True);
        Assert.That(policy.ShouldCompact(8, 0), Is.False);
    }

    [Test]
    public void A_read_only_store_cannot_compact()
    {
        using var dir = new TempDir();
        using (KvStore.Open(dir.Path))
        {
        }

        using var readOnly = KvStore.OpenReadOnly(dir.Path);
        Assert.That(() => readOnly.Compact(), Throws.InstanceOf<InvalidOperationException>());
    }

    [Test]
    public void LiveBytes_counts_the_latest_puts_frames()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put(B("a"), B("12345"));
        long one = WireFormat.FrameSize(1, 5);
        Assert.That(kv.LiveBytes, Is.EqualTo(one));
        kv.Put(B("a"), B("1"));
        Assert.That(kv.LiveBytes, Is.EqualTo(WireFormat.FrameSize(1, 1)));
        kv.Put(B("bb"), B("22"));
        kv.Delete(B("a"));
        Assert.That(kv.LiveBytes, Is.EqualTo(WireFormat.FrameSize(2, 2)));
    }

    /// <summary>Reports on the caller's thread (<see cref="Progress{T}"/> posts to the pool, too late to cancel).</summary>
    private sealed class SyncProgress(Action<KvCompactionProgress> report) : IProgress<KvCompactionProgress>
    {
        public void Report(KvCompactionProgress value) => report(value);
    }
}
