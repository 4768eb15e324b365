using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>A store whose log rotates by itself (docs/design.md D15): keys point into many segments, all readable.</summary>
public class AutomaticRotationTests
{
    [Test]
    public void Puts_across_automatic_rotations_stay_readable_and_survive_a_reopen()
    {
        using var dir = new TempDir();
        var options = new KvStoreOptions { Log = new RecordLogOptions { MaxSegmentBytes = 1024 } };
        var model = new Dictionary<string, string>();
        using (var kv = KvStore.Open(dir.Path, options))
        {
            for (int i = 0; i < 500; i++)
            {
                string key = $"k{i % 37}", value = $"v{i}-{new string('x', i % 50)}";
                kv.Put(B(key), B(value));
                model[key] = value;
                if (i % 11 == 0)
                {
                    kv.Delete(B($"k{(i * 7) % 37}"));
                    model.Remove($"k{(i * 7) % 37}");
                }
            }

            Assert.That(kv.Log.ActiveSegment, Is.GreaterThan(10u), "the log rotated by itself");
            Assert.That(model.All(p => S(kv.Get(B(p.Key))) == p.Value), Is.True);
            Assert.That(kv.Count, Is.EqualTo(model.Count));
        }

        Assert.That(SegmentFiles.List(dir.Path).Select(id => new FileInfo(SegmentFiles.PathFor(dir.Path, id)).Length), Is.All.LessThanOrEqualTo(1024));
        using var reopened = KvStore.Open(dir.Path, options);
        Assert.That(reopened.Count, Is.EqualTo(model.Count));
        Assert.That(model.All(p => S(reopened.Get(B(p.Key))) == p.Value), Is.True);
        using var readOnly = KvStore.OpenReadOnly(dir.Path);
        Assert.That(model.All(p => S(readOnly.Get(B(p.Key))) == p.Value), Is.True);
    }
}
