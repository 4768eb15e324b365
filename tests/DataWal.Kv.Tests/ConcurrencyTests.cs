using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// The store shared between threads (docs/design.md D8): concurrent readers never see an exception or a value
/// that was not put for the key, writes land in the keydir in log order, and the final state survives a
/// reopen. Every loop is bounded by an operation count, never by time.
/// </summary>
public class ConcurrencyTests
{
    private const int KeysPerWriter = 64;
    private const int WriterOps = 12_000;
    private const int Readers = 8;

    /// <summary>
    /// A self-checking value: key id, version, then filler bytes derived from both; its length varies with
    /// the version so frames of every size interleave.
    /// </summary>
    private static byte[] MakeValue(int keyId, int version)
    {
        var value = new byte[8 + (version * 7 % 300)];
        BinaryPrimitives.WriteInt32LittleEndian(value, keyId);
        BinaryPrimitives.WriteInt32LittleEndian(value.AsSpan(4), version);
        for (int i = 8; i < value.Length; i++)
        {
            value[i] = (byte)((keyId * 31) + (version * 17) + i);
        }

        return value;
    }

    /// <summary>Null when <paramref name="value"/> is a whole value for <paramref name="keyId"/>, else what is wrong.</summary>
    private static string? CheckValue(int keyId, ReadOnlySpan<byte> value, int maxVersion)
    {
        if (value.Length < 8)
        {
            return $"key {keyId}: value of {value.Length} bytes";
        }

        int id = BinaryPrimitives.ReadInt32LittleEndian(value);
        int version = BinaryPrimitives.ReadInt32LittleEndian(value[4..]);
        if (id != keyId)
        {
            return $"key {keyId}: value belongs to key {id}";
        }

        if (version < 1 || version > maxVersion)
        {
            return $"key {keyId}: version {version} was never put (issued up to {maxVersion})";
        }

        return value.SequenceEqual(MakeValue(keyId, version)) ? null : $"key {keyId}: version {version} has wrong bytes";
    }

    private static byte[] KeyOf(int keyId) => Encoding.ASCII.GetBytes($"key-{keyId:D4}");

    [Test]
    public void Readers_see_only_put_values_while_two_writers_put_and_delete()
    {
        using var dir = new TempDir();
        var store = KvStore.Open(dir.Path);
        int keyCount = 2 * KeysPerWriter;
        var issued = new int[keyCount];                 // highest version handed to Put, per key
        var models = new Dictionary<int, byte[]>[2];    // each writer owns a disjoint key range
        var errors = new ConcurrentQueue<string>();
        int writersLeft = 2;
        long reads = 0;
        long hits = 0;

        var writers = Enumerable.Range(0, 2).Select(w => new Thread(() =>
        {
            var rng = new Random(100 + w);
            var model = models[w] = [];
            try
            {
                for (int op = 0; op < WriterOps; op++)
                {
                    int keyId = (w * KeysPerWriter) + rng.Next(KeysPerWriter);
                    if (rng.Next(4) == 0)
                    {
                        store.Delete(KeyOf(keyId));
                        model.Remove(keyId);
                    }
                    else
                    {
                        int version = Interlocked.Increment(ref issued[keyId]);
                        var value = MakeValue(keyId, version);
                        store.Put(KeyOf(keyId), value);
                        model[keyId] = value;
                    }

                    if (op % 1000 == 999)
                    {
                        store.Fsync();
                    }

                    if (w == 0 && op % 3000 == 2999)
                    {
                        store.Rotate();
                    }
                }
            }
            catch (Exception e)
            {
                errors.Enqueue($"writer {w}: {e}");
            }
            finally
            {
                Interlocked.Decrement(ref writersLeft);
            }
        })).ToList();

        var readers = Enumerable.Range(0, Readers).Select(r => new Thread(() =>
        {
            var rng = new Random(r);
            var buffer = new ArrayBufferWriter<byte>();
            try
            {
                // Bounded by the writers' operation counts: read until both writers are done.
                while (Volatile.Read(ref writersLeft) > 0 && errors.IsEmpty)
                {
                    int keyId = rng.Next(keyCount + 8);    // a few keys nobody writes
                    byte[] key = KeyOf(keyId);
                    byte[]? value;
                    switch (rng.Next(4))
                    {
                        case 0:
                            buffer.ResetWrittenCount();
                            value = store.TryGet(key, buffer) ? buffer.WrittenSpan.ToArray() : null;
                            break;
                        case 1:
                            _ = store.ContainsKey(key);
                            _ = store.RefOf(key);
                            _ = store.Count;
                            value = store.Get(key);
                            break;
                        default:
                            value = store.Get(key);
                            break;
                    }

                    Interlocked.Increment(ref reads);
                    if (value is null)
                    {
                        continue;
                    }

                    Interlocked.Increment(ref hits);
                    if (keyId >= keyCount)
                    {
                        errors.Enqueue($"reader {r}: key {keyId} was never written but has a value");
                    }
                    else if (CheckValue(keyId, value, Volatile.Read(ref issued[keyId])) is { } problem)
                    {
                        errors.Enqueue($"reader {r}: {problem}");
                    }
                }
            }
            catch (Exception e)
            {
                errors.Enqueue($"reader {r}: {e}");
            }
        })).ToList();

        readers.ForEach(t => t.Start());
        writers.ForEach(t => t.Start());
        writers.ForEach(t => t.Join());
        readers.ForEach(t => t.Join());

        Assert.That(errors, Is.Empty);
        Assert.That(Interlocked.Read(ref reads), Is.Positive);
        Assert.That(Interlocked.Read(ref hits), Is.Positive);
        TestContext.Out.WriteLine($"{reads} reads, {hits} hits");

        var expected = HexMap(models.SelectMany(m => m).Select(p => new KeyValuePair<byte[], byte[]>(KeyOf(p.Key), p.Value)));
        Assert.That(DumpByGet(store), Is.EqualTo(expected), "live state");
        store.Dispose();

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(Dump(reopened), Is.EqualTo(expected), "after reopen");
        Assert.That(reopened.RecoveryReport.FilesScanned, Is.EqualTo(1 + (WriterOps / 3000)));
    }

    [Test]
    public void Concurrent_reads_survive_evictions_of_a_tiny_handle_pool()
    {
        const int segments = 8;
        const int readsPerThread = 20_000;
        using var dir = new TempDir();
        using (var writer = KvStore.Open(dir.Path))
        {
            for (int k = 0; k < segments; k++)
            {
                writer.Put(KeyOf(k), MakeValue(k, 1));
                writer.Rotate();
            }
        }

        // Capacity 1 with readers spread over 8 segments: nearly every read evicts a handle another thread
        // may be about to read through.
        using var store = KvStore.Open(dir.Path, new KvStoreOptions { ReadHandleCapacity = 1 });
        var errors = new ConcurrentQueue<string>();
        var threads = Enumerable.Range(0, Readers).Select(r => new Thread(() =>
        {
            var rng = new Random(r);
            for (int i = 0; i < readsPerThread && errors.IsEmpty; i++)
            {
                int k = rng.Next(segments);
                try
                {
                    if (CheckValue(k, store.Get(KeyOf(k)), 1) is { } problem)
                    {
                        errors.Enqueue(problem);
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue($"reader {r}, read {i}: {e}");
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.That(errors, Is.Empty);
    }

    [Test]
    public void Racing_writes_to_the_same_keys_land_in_the_keydir_in_log_order()
    {
        const int keys = 16;
        const int threads = 4;
        const int opsPerThread = 3_000;
        using var dir = new TempDir();
        var errors = new ConcurrentQueue<string>();
        using (var store = KvStore.Open(dir.Path))
        {
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                var rng = new Random(t);
                try
                {
                    for (int i = 0; i < opsPerThread; i++)
                    {
                        byte[] key = KeyOf(rng.Next(keys));
                        if (rng.Next(5) == 0)
                        {
                            store.Delete(key);
                        }
                        else
                        {
                            store.Put(key, Encoding.ASCII.GetBytes($"t{t}-op{i}"));
                        }
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue(e.ToString());
                }
            })).ToList();
            workers.ForEach(t => t.Start());
            workers.ForEach(t => t.Join());
            Assert.That(errors, Is.Empty);

            // The last record of each key in the log decides; the in-memory keydir must agree with it.
            var lastInLog = new Dictionary<string, Record>();
            foreach (var record in Records(dir.Path))
            {
                lastInLog[Hex(record.Key.Span)] = record;
            }

            Assert.That(lastInLog, Has.Count.EqualTo(keys));
            var expected = HexMap(lastInLog.Values.Where(r => r.Type == RecordType.Put)
                .Select(r => new KeyValuePair<byte[], byte[]>(r.Key.ToArray(), r.Payload.ToArray())));
            Assert.That(DumpByGet(store), Is.EqualTo(expected), "live keydir = last record per key in the log");
            foreach (var record in lastInLog.Values.Where(r => r.Type == RecordType.Put))
            {
                Assert.That(store.RefOf(record.Key.Span), Is.EqualTo(record.Ref));
            }

            store.Fsync();
            store.Dispose();

            using var reopened = KvStore.Open(dir.Path);
            Assert.That(Dump(reopened), Is.EqualTo(expected), "after reopen");
        }
    }

    [Test]
    public void Export_and_compaction_during_writes_produce_whole_values()
    {
        const int keys = 200;
        using var dir = new TempDir();
        string source = dir["src"];
        var issued = new int[keys];
        var errors = new ConcurrentQueue<string>();
        using var store = KvStore.Open(source);
        for (int k = 0; k < keys; k++)
        {
            store.Put(KeyOf(k), MakeValue(k, issued[k] = 1));
        }

        int done = 0;
        var writer = new Thread(() =>
        {
            var rng = new Random(5);
            try
            {
                for (int i = 0; i < 20_000 && Volatile.Read(ref done) == 0; i++)
                {
                    int k = rng.Next(keys);
                    int version = Interlocked.Increment(ref issued[k]);
                    store.Put(KeyOf(k), MakeValue(k, version));
                    if (i % 5000 == 4999)
                    {
                        store.Rotate();
                    }
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e.ToString());
            }
        });
        writer.Start();
        try
        {
            for (int round = 0; round < 4; round++)
            {
                string export = dir[$"export-{round}.jsonl"];
                store.ExportJsonl(export);
                var lines = File.ReadAllLines(export);
                Assert.That(lines, Has.Length.EqualTo(keys), "every key is live throughout");
                foreach (string line in lines)
                {
                    using var json = System.Text.Json.JsonDocument.Parse(line);
                    var key = Convert.FromBase64String(json.RootElement.GetProperty("key_b64").GetString()!);
                    var value = Convert.FromBase64String(json.RootElement.GetProperty("value_b64").GetString()!);
                    int k = int.Parse(Encoding.ASCII.GetString(key)[4..], System.Globalization.CultureInfo.InvariantCulture);
                    Assert.That(CheckValue(k, value, Volatile.Read(ref issued[k])), Is.Null, $"export {round}");
                }

                string compacted = dir[$"compacted-{round}"];
                var stats = store.CompactTo(compacted);
                Assert.That(stats.LiveKeys, Is.EqualTo(keys));
                using var result = KvStore.OpenReadOnly(compacted);
                Assert.That(result.Count, Is.EqualTo(keys));
                for (int k = 0; k < keys; k++)
                {
                    Assert.That(CheckValue(k, result.Get(KeyOf(k)), Volatile.Read(ref issued[k])), Is.Null, $"compaction {round}");
                }
            }
        }
        finally
        {
            Volatile.Write(ref done, 1);
            writer.Join();
        }

        Assert.That(errors, Is.Empty);
    }
}
