using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>
/// docs/design.md D13, widened (docs/reliability.md, round 2): 1–4 bytes of the next frame's magic (or any torn prefix of its
/// header) then zeros to the end of the last segment is a damaged tail — exit 2, never 3 — and the KV store
/// opens over it, read-only and as a writer.
/// </summary>
public class TornHeaderTailTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-torn-header");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    /// <summary>A KV store (a, b) whose last segment then holds <paramref name="prefix"/> and <paramref name="zeros"/> zero bytes.</summary>
    private string TornStore(byte[] prefix, int zeros)
    {
        string store = Stores.Kv(_dir, ("a", "1"), ("b", "2"));
        var segments = SegmentFiles.List(store);
        using var file = new FileStream(SegmentFiles.PathFor(store, segments[^1]), FileMode.Append, FileAccess.Write);
        file.Write(prefix);
        file.Write(new byte[zeros]);
        return store;
    }

    private static byte[] NextHeaderPrefix(int k) => WireFormat.Encode(RecordType.Put, 3, "c"u8, "3"u8)[..k];

    [TestCase("scan", 1)]
    [TestCase("scan", 4)]
    [TestCase("verify", 2)]
    [TestCase("verify", 4)]
    [TestCase("check", 3)]
    [TestCase("check", 4)]
    [TestCase("report", 4)]
    public void A_torn_magic_then_zeros_exits_2_not_3(string command, int k)
    {
        string store = TornStore(NextHeaderPrefix(k), 4096 - k);
        var before = DirectorySnapshot.Capture(store);
        var human = Cli.Run(command, store);
        Assert.That(human.Code, Is.EqualTo(2), human.ToString());
        var json = Cli.Run("--json", command, store);
        Assert.That(json.Code, Is.EqualTo(2), json.ToString());
        if (command != "scan")
        {
            Assert.That(json.Out, Does.Contain("\"tail_bytes_discarded\":4096"), json.ToString());   // scan lists only records
        }
        Assert.That(DirectorySnapshot.Capture(store), Is.EqualTo(before), "the read-only commands cut nothing");
    }

    [Test]
    public void Garbage_that_cannot_start_a_header_then_zeros_still_exits_3()
    {
        string store = TornStore("DWAX"u8.ToArray(), 4096);
        foreach (var command in new[] { "scan", "verify", "check" })
        {
            var r = Cli.Run(command, store);
            Assert.That(r.Code, Is.EqualTo(3), $"{command}: {r}");
        }
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(13)]
    public void KvStore_opens_over_a_torn_header_prefix_tail_read_only_and_as_a_writer(int k)
    {
        string store = TornStore(NextHeaderPrefix(k), 100);
        using (var view = KvStore.OpenReadOnly(store))
        {
            Assert.That(view.RecoveryReport.TailTruncated, Is.EqualTo(1));
            Assert.That(view.RecoveryReport.TailBytesDiscarded, Is.EqualTo(k + 100));
            Assert.That(view.Get("a"u8), Is.EqualTo("1"u8.ToArray()));
            Assert.That(view.Get("b"u8), Is.EqualTo("2"u8.ToArray()));
        }

        using (var kv = KvStore.Open(store))
        {
            Assert.That(kv.RecoveryReport.TailCut, Is.True);
            Assert.That(kv.Get("a"u8), Is.EqualTo("1"u8.ToArray()));
            kv.Put("c"u8, "3"u8);
        }

        using (var kv = KvStore.Open(store))
        {
            Assert.That(kv.RecoveryReport.TailTruncated, Is.Zero);
            Assert.That(kv.Get("b"u8), Is.EqualTo("2"u8.ToArray()));
            Assert.That(kv.Get("c"u8), Is.EqualTo("3"u8.ToArray()));
        }

        Assert.That(Cli.Run("check", store).Code, Is.Zero);
    }
}
