using NUnit.Framework;
using TestSupport;

namespace DataWal.Core.Tests;

/// <summary>Segment naming and discovery (docs/design.md U1.8, upstream segment.rs tests docs/design.md U7.1).</summary>
public class SegmentFilesTests
{
    [Test]
    public void Segment_path_zero_pads()
    {
        Assert.That(SegmentFiles.PathFor("/some/dir", 7), Is.EqualTo(Path.Combine("/some/dir", "00000007.dwal")));
        Assert.That(SegmentFiles.PathFor("/d", 12345678), Is.EqualTo(Path.Combine("/d", "12345678.dwal")));
        Assert.That(SegmentFiles.PathFor("/d", SegmentFiles.MaxId), Is.EqualTo(Path.Combine("/d", "99999999.dwal")));
        Assert.That((SegmentFiles.Extension, SegmentFiles.IdWidth, SegmentFiles.MaxId), Is.EqualTo(("dwal", 8, 99_999_999u)));
    }

    [TestCase("00000001.dwal", 1u)]
    [TestCase("12345678.dwal", 12345678u)]
    [TestCase("99999999.dwal", 99999999u)]
    [TestCase("00000000.dwal", 0u)]
    public void Parse_round_trip(string name, uint expected)
    {
        Assert.That(SegmentFiles.TryParseFileName(name, out uint id), Is.True);
        Assert.That(id, Is.EqualTo(expected));
        if (expected > 0)
        {
            Assert.That(Path.GetFileName(SegmentFiles.PathFor("/x", id)), Is.EqualTo(name));
        }
    }

    [TestCase("1.dwal")]
    [TestCase("00000001.txt")]
    [TestCase("0000000a.dwal")]
    [TestCase("000000001.dwal")]
    [TestCase("0000001.dwal")]
    [TestCase("00000001.DWAL")]
    [TestCase("00000001.dwal.tmp")]
    [TestCase("00000001dwal")]
    [TestCase("0000 001.dwal")]
    [TestCase("-0000001.dwal")]
    [TestCase("+0000001.dwal")]
    [TestCase("\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668.dwal")]
    [TestCase(".lock")]
    [TestCase("")]
    public void Parse_rejects_bad(string name)
    {
        Assert.That(SegmentFiles.TryParseFileName(name, out _), Is.False);
    }

    [Test]
    public void List_and_active()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["00000001.dwal"], []);
        File.WriteAllBytes(dir["00000003.dwal"], []);
        File.WriteAllText(dir["garbage.txt"], "x");
        File.WriteAllText(dir[".lock"], "1\n");
        File.WriteAllText(dir["1.dwal"], "x");
        File.WriteAllText(dir["000000004.dwal"], "x");
        File.WriteAllText(dir["00000005.dwal.tmp"], "x");

        var ids = SegmentFiles.List(dir.Path);
        Assert.That(ids, Is.EqualTo(new uint[] { 1, 3 }));
        Assert.That(ids[^1], Is.EqualTo(3u), "the active segment is the highest id");
    }

    [Test]
    public void List_ignores_directories_and_symlinks_with_segment_names()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["00000002.dwal"], []);
        Directory.CreateDirectory(dir["00000007.dwal"]);
        File.CreateSymbolicLink(dir["00000009.dwal"], dir["00000002.dwal"]);
        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 2 }));
    }

    [Test]
    public void List_sorts_numerically_and_allows_gaps()
    {
        using var dir = new TempDir();
        foreach (uint id in new uint[] { 10, 2, 99999999, 1, 100 })
        {
            File.WriteAllBytes(SegmentFiles.PathFor(dir.Path, id), []);
        }

        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 1, 2, 10, 100, 99999999 }));
    }

    [Test]
    public void List_of_an_empty_directory_is_empty()
    {
        using var dir = new TempDir();
        Assert.That(SegmentFiles.List(dir.Path), Is.Empty);
    }

    [Test]
    public void Next_id_starts_at_one()
    {
        Assert.That(SegmentFiles.NextId([]), Is.EqualTo(1u));
        Assert.That(SegmentFiles.NextId([1, 2, 5]), Is.EqualTo(6u));
        Assert.That(SegmentFiles.NextId([5, 2, 1]), Is.EqualTo(6u), "max, not last");
        Assert.That(SegmentFiles.NextId([SegmentFiles.MaxId - 1]), Is.EqualTo(SegmentFiles.MaxId));
    }

    [Test]
    public void Next_id_refuses_to_leave_eight_digits()
    {
        var e = Assert.Throws<DataWalException>(() => SegmentFiles.NextId([1, SegmentFiles.MaxId]));
        Assert.That(e!.Message, Is.EqualTo("datawal: segment id overflow: 99999999 is the last id an 8-digit segment name can hold"));
    }
}
