using System.Text;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// <see cref="KvStore.OpenReadOnly"/> (docs/design.md D12): no lock, creates and changes nothing, a missing store
/// is an error, writes throw, and it works beside a live writer in this process and in another one.
/// </summary>
public class ReadOnlyTests
{
    private static SortedDictionary<string, string> TreeOf(TempDir dir) => Tree(dir.Path);

    [Test]
    public void Missing_directory_throws_and_creates_nothing()
    {
        using var dir = new TempDir();
        string missing = Path.Combine(dir.Path, "no", "store");

        var e = Assert.Throws<StoreNotFoundException>(() => KvStore.OpenReadOnly(missing));
        Assert.That(e!.Message, Does.Contain(missing).And.Contain("the directory does not exist"));
        Assert.That(e.Directory, Is.EqualTo(missing));
        Assert.That(Directory.Exists(Path.Combine(dir.Path, "no")), Is.False);
        Assert.That(dir.Entries(), Is.Empty);
    }

    [Test]
    public void A_file_path_throws()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["file"], "not a store");

        var e = Assert.Throws<DataWalException>(() => KvStore.OpenReadOnly(dir["file"]));
        Assert.That(e!.Message, Does.Contain("not a directory"));
        Assert.That(File.ReadAllText(dir["file"]), Is.EqualTo("not a store"));
    }

    [Test]
    public void Empty_directory_opens_as_an_empty_store_and_stays_empty()
    {
        using var dir = new TempDir();
        using (var ro = KvStore.OpenReadOnly(dir.Path))
        {
            Assert.That(ro.Count, Is.Zero);
            Assert.That(ro.Get("k"u8), Is.Null);
            Assert.That(ro.RecoveryReport.FilesScanned, Is.Zero);
        }

        Assert.That(dir.Entries(), Is.Empty, "no segment, no .lock");
    }

    [Test]
    public void Creates_and_changes_nothing()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("delete_tombstone", dir.Path);   // a store without a .lock file
        File.AppendAllText(Seg(dir.Path, 1), "\u00aa\u00bb");   // plus a damaged (unsynced) tail, which a writer would cut
        var before = TreeOf(dir);

        using (var ro = KvStore.OpenReadOnly(dir.Path))
        {
            Assert.That(S(ro.Get("alpha"u8)), Is.EqualTo("3"));
            Assert.That(ro.RecoveryReport.TailTruncated, Is.EqualTo(1));
            Assert.That(ro.RecoveryReport.TailCut, Is.False);
            ro.Items();
        }

        Assert.That(TreeOf(dir), Is.EqualTo(before), "no .lock, no new segment, the tail is not cut");
        Assert.That(dir.Entries(), Is.EqualTo(new[] { "00000001.dwal" }));
    }

    [Test]
    public void Writes_throw_invalid_operation()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put("k"u8, "v"u8);
        }

        var before = TreeOf(dir);
        using (var ro = KvStore.OpenReadOnly(dir.Path))
        {
            Assert.That(ro.IsReadOnly, Is.True);
            Assert.Throws<InvalidOperationException>(() => ro.Put("k"u8, "w"u8));
            Assert.Throws<InvalidOperationException>(() => ro.Delete("k"u8));
            Assert.Throws<InvalidOperationException>(() => ro.Fsync());
            Assert.Throws<InvalidOperationException>(() => ro.Rotate());
            Assert.Throws<InvalidOperationException>(() => ro.Apply(new KvBatch()));

            // The log view reads; it never writes (there is nothing on it to write with).
            Assert.That(ro.Log.IsPoisoned, Is.False);
            Assert.That(ro.Log.NextTxId, Is.EqualTo(2UL));
            Assert.That(ro.Log.ActiveSegment, Is.EqualTo(1u));
            Assert.That(ro.Log.Scan().Select(r => r.TxId), Is.EqualTo(new[] { 1UL }));
            Assert.That(S(ro.Get("k"u8)), Is.EqualTo("v"));
            Assert.That(ro.Count, Is.EqualTo(1));
        }

        Assert.That(TreeOf(dir), Is.EqualTo(before));
    }

    [Test]
    public void Takes_no_lock_in_either_order()
    {
        using var dir = new TempDir();
        using (var seed = KvStore.Open(dir.Path))
        {
            seed.Put("k"u8, "v1"u8);
        }

        // A reader first, then a writer.
        using (var ro = KvStore.OpenReadOnly(dir.Path))
        {
            using var writer = KvStore.Open(dir.Path);
            writer.Put("k"u8, "v2"u8);
            writer.Put("new"u8, "n"u8);
            Assert.That(S(ro.Get("k"u8)), Is.EqualTo("v1"), "the reader keeps the view it opened with");
            Assert.That(ro.ContainsKey("new"u8), Is.False);
        }

        // A writer first, then readers (while the writer holds the lock and appends).
        using (var writer = KvStore.Open(dir.Path))
        {
            writer.Put("k"u8, "v3"u8);   // not fsynced: visible to a reader anyway
            using (var ro = KvStore.OpenReadOnly(dir.Path))
            {
                Assert.That(S(ro.Get("k"u8)), Is.EqualTo("v3"));
                Assert.That(S(ro.Get("new"u8)), Is.EqualTo("n"));
                writer.Delete("new"u8);
                Assert.That(S(ro.Get("new"u8)), Is.EqualTo("n"), "values are append-only on disk, so an old view stays readable");
            }

            using var second = KvStore.OpenReadOnly(dir.Path);
            Assert.That(second.ContainsKey("new"u8), Is.False);
            Assert.Throws<StoreLockedException>(() => KvStore.Open(dir.Path), "the writer's lock is still exclusive among writers");
        }
    }

    [Test]
    public void Reader_sees_segments_a_writer_rotated_into_before_it_opened()
    {
        using var dir = new TempDir();
        using var writer = KvStore.Open(dir.Path);
        for (int i = 0; i < 30; i++)
        {
            writer.Put(B($"k{i:D2}"), B($"v{i}"));
            if (i % 7 == 6)
            {
                writer.Rotate();
            }
        }

        using var ro = KvStore.OpenReadOnly(dir.Path);
        Assert.That(ro.RecoveryReport.FilesScanned, Is.EqualTo(5));
        Assert.That(Dump(ro), Is.EqualTo(Dump(writer)));
    }

    [Test]
    public void Corrupt_sealed_segment_is_a_hard_error()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put("a"u8, "1"u8);
            kv.Rotate();
            kv.Put("b"u8, "2"u8);
        }

        FlipByte(Seg(dir.Path, 1), WireFormat.HeaderLength + 1);
        var e = Assert.Throws<CorruptRecordException>(() => KvStore.OpenReadOnly(dir.Path));
        Assert.That(e!.Segment, Is.EqualTo(1u));
    }

    [Test]
    public void Works_beside_a_live_writer_in_another_process()
    {
        using var dir = new TempDir();
        using var child = ChildProcess.Start("kv-writer", dir.Path, "1000");
        long lastAcked = WaitForAck(child, 0);

        var maxSeen = new List<int>();
        for (int round = 0; round < 10; round++)
        {
            lastAcked = Math.Max(lastAcked, DrainAcks(child));
            long ackedBeforeOpen = lastAcked;
            int seen;
            using (var ro = KvStore.OpenReadOnly(dir.Path))
            {
                seen = CheckPrefix(ro, ackedBeforeOpen, $"round {round}");
            }

            maxSeen.Add(seen);
            lastAcked = WaitForAck(child, lastAcked);   // let the writer move on before the next open
        }

        Assert.That(child.HasExited, Is.False, "the writer kept running: " + child.StandardError);
        Assert.That(maxSeen, Is.Ordered, "later opens never see fewer keys");
        child.Kill();

        long finalAcked = Math.Max(lastAcked, DrainAcks(child));
        using var after = KvStore.Open(dir.Path);
        int recovered = CheckPrefix(after, finalAcked, "after the kill");
        TestContext.Out.WriteLine($"reader views: {string.Join(", ", maxSeen)}; acked {finalAcked}; recovered {recovered}");
    }

    /// <summary>
    /// Asserts the store holds exactly k000000..k(M-1) for some M ≥ <paramref name="acked"/>, each with its
    /// self-checking value; returns M.
    /// </summary>
    private static int CheckPrefix(KvStore store, long acked, string when)
    {
        int count = store.Count;
        Assert.That(count, Is.GreaterThanOrEqualTo(acked), $"{when}: every acknowledged key is visible");
        for (int i = 0; i < count; i++)
        {
            byte[] key = Encoding.ASCII.GetBytes($"k{i:D6}");
            var value = store.Get(key);
            if (value is null || !value.AsSpan().SequenceEqual(ExpectedValue(key)))
            {
                Assert.Fail($"{when}: key {S(key)} of {count} has value {S(value)}");
            }
        }

        Assert.That(store.ContainsKey(Encoding.ASCII.GetBytes($"k{count:D6}")), Is.False, $"{when}: the keys form a prefix");
        return count;
    }

    private static byte[] ExpectedValue(byte[] key)
    {
        var reversed = key.Reverse().ToArray();
        return [.. reversed, (byte)'=', .. key];
    }

    /// <summary>Waits for an <c>acked N</c> line with N &gt; <paramref name="above"/>; returns N.</summary>
    private static long WaitForAck(ChildProcess child, long above)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            string? line = child.ReadLine(deadline - DateTime.UtcNow);
            if (line is null)
            {
                break;
            }

            if (line.StartsWith("acked ", StringComparison.Ordinal) && long.Parse(line[6..], System.Globalization.CultureInfo.InvariantCulture) is var n && n > above)
            {
                return n;
            }
        }

        Assert.Fail($"the writer acknowledged nothing above {above}; stderr: {child.StandardError}");
        return 0;
    }

    /// <summary>The largest acknowledgement among the lines already printed (0 if none).</summary>
    private static long DrainAcks(ChildProcess child)
    {
        long max = 0;
        while (child.ReadLine(TimeSpan.Zero) is { } line)
        {
            if (line.StartsWith("acked ", StringComparison.Ordinal))
            {
                max = Math.Max(max, long.Parse(line[6..], System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return max;
    }
}
