// Salvage for the KV store (docs/design.md D16): a read-only salvage view over the intact records, and
// KvStore.SalvageTo into a fresh strict store. Writers stay strict.
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

public class SalvageTests
{
    /// <summary>A store over 3 segments; returns every record written, in order.</summary>
    private static List<Record> Build(string dir)
    {
        using (var kv = KvStore.Open(dir))
        {
            for (int segment = 0; segment < 3; segment++)
            {
                for (int i = 0; i < 20; i++)
                {
                    kv.Put(B($"k{i % 7}"), B($"v{segment}-{i}"));
                    if (i % 5 == 4)
                    {
                        kv.Delete(B($"k{(i + 1) % 7}"));
                    }
                }

                if (segment < 2)
                {
                    kv.Rotate();
                }
            }
        }

        return [.. RecordLogReader.Open(dir).ScanIter()];
    }

    /// <summary>Last write wins over the given records.</summary>
    private static SortedDictionary<string, string> View(IEnumerable<Record> records)
    {
        var view = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var r in records)
        {
            if (r.Type == RecordType.Put)
            {
                view[S(r.Key.ToArray())] = S(r.Payload.ToArray());
            }
            else if (r.Type == RecordType.Delete)
            {
                view.Remove(S(r.Key.ToArray()));
            }
        }

        return view;
    }

    private static SortedDictionary<string, string> Items(KvStore kv) =>
        new(kv.Items().ToDictionary(p => S(p.Key), p => S(p.Value)), StringComparer.Ordinal);

    [Test]
    public void One_flipped_byte_in_a_sealed_segment_no_longer_locks_the_user_out()
    {
        using var dir = new TempDir("kv-salvage");
        using var outDir = new TempDir("kv-salvage-out");
        var written = Build(dir.Path);
        var victim = written.First(r => r.Segment == 2 && r.Type == RecordType.Put && r.Offset > 0);
        var bytes = File.ReadAllBytes(Seg(dir.Path, 2));
        bytes[(int)victim.Offset + 26] ^= 0x04;   // inside the key
        File.WriteAllBytes(Seg(dir.Path, 2), bytes);
        var before = Tree(dir.Path);

        // Strict stays strict: writer and plain read-only opens refuse, with the way out in Hint.
        var e = Assert.Throws<CorruptRecordException>(() => KvStore.Open(dir.Path).Dispose())!;
        Assert.That(e.Hint, Does.Contain("ReadMode.Salvage"));
        Assert.Throws<CorruptRecordException>(() => KvStore.OpenReadOnly(dir.Path).Dispose());

        var intact = written.Where(r => r.Ref != victim.Ref).ToList();
        using (var kv = KvStore.OpenReadOnly(dir.Path, ReadMode.Salvage))
        {
            Assert.That(kv.IsReadOnly, Is.True);
            Assert.That(kv.Mode, Is.EqualTo(ReadMode.Salvage));
            Assert.That(kv.RecoveryReport.SkippedRanges.Single(), Is.EqualTo(new SkippedRange(2, (long)victim.Offset, victim.Length, CorruptionKind.CrcMismatch)));
            Assert.That(Items(kv), Is.EqualTo(View(intact)), "last write wins over the intact records");
            foreach (var (key, value) in View(intact))
            {
                Assert.That(S(kv.Get(B(key))), Is.EqualTo(value), key);
            }

            Assert.That(kv.Log.ScanIter().Count(), Is.EqualTo(intact.Count), "the store's log view reads in salvage mode too");
            Assert.Throws<InvalidOperationException>(() => kv.Put(B("x"), B("y")));
            kv.ExportJsonl(Path.Combine(outDir.Path, "export.jsonl"));
        }

        string target = Path.Combine(outDir.Path, "salvaged");
        var result = KvStore.SalvageTo(dir.Path, target);
        Assert.That(result.LiveKeys, Is.EqualTo(View(intact).Count));
        Assert.That(result.Report.SkippedRanges, Has.Count.EqualTo(1));
        Assert.That(Tree(dir.Path), Is.EqualTo(before), "the source is never modified");

        using (var salvaged = KvStore.Open(target))
        {
            Assert.That(salvaged.RecoveryReport.SkippedRanges, Is.Empty);
            Assert.That(Items(salvaged), Is.EqualTo(View(intact)));
        }

        var upstreamView = View(RecordLogReader.Open(target).ScanIter());
        Assert.That(upstreamView, Is.EqualTo(View(intact)), "a plain scan in id order (upstream's rule) gives the same view");
        Assert.Throws<DataWalException>(() => KvStore.SalvageTo(dir.Path, target), "a non-empty target is refused");
    }

    [Test]
    public void A_get_in_a_salvage_view_still_verifies_the_frame_it_reads()
    {
        using var dir = new TempDir("kv-salvage-get");
        Build(dir.Path);
        using var kv = KvStore.OpenReadOnly(dir.Path, ReadMode.Salvage);
        Assert.That(kv.RecoveryReport.SkippedRanges, Is.Empty);
        var location = kv.RefOf(B("k3"))!.Value;
        var bytes = File.ReadAllBytes(Seg(dir.Path, location.Segment));
        bytes[(int)location.Offset + (int)location.Length - 6] ^= 0x01;   // damaged after the open
        File.WriteAllBytes(Seg(dir.Path, location.Segment), bytes);
        Assert.Throws<CorruptRecordException>(() => kv.Get(B("k3")), "nothing wrong is ever returned as data");
    }

    [Test]
    public void A_key_whose_later_record_was_skipped_shows_its_last_intact_value_and_the_range_says_so()
    {
        using var dir = new TempDir("kv-salvage-lost");
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put(B("a"), B("old"));
            kv.Rotate();
            kv.Put(B("a"), B("new"));
            kv.Put(B("b"), B("1"));
        }

        var newer = RecordLogReader.Open(dir.Path).ScanIter().First(r => r.Segment == 2);
        var bytes = File.ReadAllBytes(Seg(dir.Path, 2));
        bytes[3] = (byte)'X';   // the magic of a's later put
        File.WriteAllBytes(Seg(dir.Path, 2), bytes);
        using var view = KvStore.OpenReadOnly(dir.Path, ReadMode.Salvage);
        Assert.That(S(view.Get(B("a"))), Is.EqualTo("old"), "not guessed: the last intact value");
        Assert.That(view.RecoveryReport.SkippedRanges.Single(), Is.EqualTo(new SkippedRange(2, 0, newer.Length, CorruptionKind.Structural)));
    }
}
