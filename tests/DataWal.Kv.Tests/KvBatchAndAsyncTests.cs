using System.Text;
using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using SafeAtomic;
using TestSupport;

namespace DataWal.Kv.Tests;

public class KvBatchAndAsyncTests
{
    private static string Text(byte[]? value) => value is null ? "<none>" : Encoding.UTF8.GetString(value);

    [Test]
    public void Apply_writes_the_batch_with_one_write_and_projects_like_single_operations()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put("a"u8, "old"u8);
            using var batch = new KvBatch();
            batch.Put("a"u8, "1"u8);
            batch.Put("b"u8, "2"u8);
            batch.Delete("a"u8);
            batch.Put("c"u8, "3"u8);
            batch.Put("a"u8, "4"u8);
            batch.Delete("zzz"u8);

            using var faults = FaultInjector.Install();
            kv.Apply(batch);
            Assert.That(faults.Count(Call.Write), Is.EqualTo(1), "the whole batch is one write");
            Assert.That((Text(kv.Get("a"u8)), Text(kv.Get("b"u8)), Text(kv.Get("c"u8)), kv.Count), Is.EqualTo(("4", "2", "3", 3)));
            kv.Fsync();
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That((Text(reopened.Get("a"u8)), Text(reopened.Get("b"u8)), Text(reopened.Get("c"u8)), reopened.Count), Is.EqualTo(("4", "2", "3", 3)));
        var txids = reopened.Log.Scan().Select(r => r.TxId).ToList();
        Assert.That(txids, Is.EqualTo(Enumerable.Range(1, 7).Select(i => (ulong)i)), "consecutive txids");
    }

    [Test]
    public void A_failed_batch_leaves_the_key_directory_unchanged_and_poisons()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        kv.Put("a"u8, "1"u8);
        using var batch = new KvBatch();
        batch.Put("a"u8, "2"u8);
        batch.Put("b"u8, "2"u8);
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Write, ErrorNumbers.EIO);
            Assert.Throws<DataWalException>(() => kv.Apply(batch));
        }

        Assert.That((Text(kv.Get("a"u8)), kv.ContainsKey("b"u8)), Is.EqualTo(("1", false)));
        Assert.That(kv.Log.IsPoisoned, Is.True);
        Assert.Throws<WriterPoisonedException>(() => kv.Put("c"u8, "3"u8));
    }

    [Test]
    public async Task Async_puts_and_deletes_under_EveryAppend_are_durable_when_they_complete()
    {
        using var dir = new TempDir();
        using var faults = FaultInjector.Install();
        var options = new KvStoreOptions { Log = new RecordLogOptions { Durability = DurabilityMode.EveryAppend } };
        using (var kv = KvStore.Open(dir.Path, options))
        {
            await Task.WhenAll(Enumerable.Range(0, 16).Select(t => Task.Run(async () =>
            {
                for (int i = 0; i < 25; i++)
                {
                    var key = Encoding.UTF8.GetBytes($"t{t}-k{i}");
                    await kv.PutAsync(key, key);
                    if (i % 5 == 0)
                    {
                        await kv.DeleteAsync(key);
                    }
                }
            })));

            int syncs = faults.Count(Call.FsyncData);
            Assert.That(syncs, Is.GreaterThan(0));
            Assert.That(syncs, Is.LessThanOrEqualTo((16 * 30) + 1));
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(reopened.Count, Is.EqualTo(16 * 20));
        Assert.That(Text(reopened.Get("t3-k7"u8)), Is.EqualTo("t3-k7"));
        Assert.That(reopened.ContainsKey("t3-k5"u8), Is.False);
    }

    [Test]
    public void Put_under_EveryAppend_is_fsynced_before_it_returns()
    {
        using var dir = new TempDir();
        using var faults = FaultInjector.Install();
        using var kv = KvStore.Open(dir.Path, new KvStoreOptions { Log = new RecordLogOptions { Durability = DurabilityMode.EveryAppend } });
        int before = faults.Count(Call.FsyncData);
        kv.Put("k"u8, "v"u8);
        Assert.That(faults.Count(Call.FsyncData), Is.GreaterThan(before));
        before = faults.Count(Call.FsyncData);
        kv.Delete("k"u8);
        Assert.That(faults.Count(Call.FsyncData), Is.GreaterThan(before));
    }

    [Test]
    public async Task Async_compaction_and_export_match_the_synchronous_ones()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir["src"]);
        for (int i = 0; i < 500; i++)
        {
            kv.Put(Encoding.UTF8.GetBytes($"key{i:D4}"), Encoding.UTF8.GetBytes($"value{i}"));
        }

        var syncStats = kv.CompactTo(dir["sync"]);
        var asyncStats = await kv.CompactToAsync(dir["async"]);
        Assert.That(asyncStats, Is.EqualTo(syncStats));
        Assert.That(File.ReadAllBytes(Path.Combine(dir["async"], "00000001.dwal")), Is.EqualTo(File.ReadAllBytes(Path.Combine(dir["sync"], "00000001.dwal"))));

        kv.ExportJsonl(dir["sync.jsonl"]);
        await kv.ExportJsonlAsync(dir["async.jsonl"]);
        Assert.That(File.ReadAllBytes(dir["async.jsonl"]), Is.EqualTo(File.ReadAllBytes(dir["sync.jsonl"])));
    }

    [Test]
    public async Task Export_cancelled_at_any_moment_leaves_the_old_file_or_the_whole_new_one_and_no_temp([Values] bool overwrite)
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir["src"]);
        using (var batch = new KvBatch())
        {
            for (int i = 0; i < 20_000; i++)
            {
                batch.Put(Encoding.UTF8.GetBytes($"key{i:D6}"), new byte[64]);
            }

            kv.Apply(batch);
        }

        kv.ExportJsonl(dir["whole.jsonl"]);
        var whole = File.ReadAllBytes(dir["whole.jsonl"]);
        int cancelledMidway = 0;
        for (int attempt = 0; attempt < 12; attempt++)
        {
            // With overwrite an old file is replaced; without, the export goes through a temp file and a no-replace rename.
            if (overwrite)
            {
                File.WriteAllText(dir["out.jsonl"], "old");
            }
            else
            {
                File.Delete(dir["out.jsonl"]);
            }

            using var cts = new CancellationTokenSource();
            var export = kv.ExportJsonlAsync(dir["out.jsonl"], overwrite, cts.Token);
            await Task.Delay(attempt);
            cts.Cancel();
            try
            {
                await export;
                Assert.That(File.ReadAllBytes(dir["out.jsonl"]), Is.EqualTo(whole));
            }
            catch (OperationCanceledException)
            {
                cancelledMidway++;
                if (overwrite)
                {
                    Assert.That(File.ReadAllText(dir["out.jsonl"]), Is.EqualTo("old"));
                }
                else
                {
                    Assert.That(File.Exists(dir["out.jsonl"]), Is.False);
                }
            }

            Assert.That(AtomicFile.FindTempFiles(dir.Path), Is.Empty);
        }

        TestContext.Out.WriteLine($"cancelled before the rename in {cancelledMidway} of 12 attempts");
    }
}
