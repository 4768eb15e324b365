using NUnit.Framework;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>FollowReader, the follower's single-segment reader: passes that resume, a kept handle, tail reporting.</summary>
public class FollowReaderTests
{
    private static readonly byte[] First = WireFormat.Encode(RecordType.Put, 1, B("a"), B("1"));
    private static readonly byte[] Second = WireFormat.Encode(RecordType.Raw, 2, [], B("second"));
    private static readonly byte[] Third = WireFormat.Encode(RecordType.Delete, 3, B("a"), []);

    private static List<ulong> Pass(FollowReader reader)
    {
        var txIds = new List<ulong>();
        while (reader.MoveNext())
        {
            txIds.Add(reader.ToRecord().TxId);
        }

        return txIds;
    }

    [Test]
    public void A_pass_stops_before_a_frame_still_being_written_and_the_next_pass_reads_it_whole()
    {
        using var dir = new TempDir();
        string path = Seg(dir.Path, 1);
        File.WriteAllBytes(path, [.. First, .. Second, .. Third.AsSpan(0, Third.Length / 2)]);

        using var reader = new FollowReader(dir.Path, 1, 0, 64);
        Assert.That(Pass(reader), Is.EqualTo(new ulong[] { 1, 2 }));
        Assert.That(reader.EndedInTail, Is.True);
        Assert.That(reader.End, Is.EqualTo(First.Length + Second.Length));
        Assert.That(reader.MoveNext(), Is.False, "an ended pass stays ended until resumed");

        using (var file = new FileStream(path, FileMode.Append))
        {
            file.Write(Third.AsSpan(Third.Length / 2));
        }

        reader.Resume(reader.End, -1, sealedSegment: false);
        Assert.That(Pass(reader), Is.EqualTo(new ulong[] { 3 }));
        Assert.That(reader.EndedInTail, Is.False);
        Assert.That(reader.End, Is.EqualTo(First.Length + Second.Length + Third.Length));
    }

    [Test]
    public void A_bound_ends_the_pass_cleanly_and_a_sealed_pass_over_a_torn_remainder_throws()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 4), [.. First, .. Second, .. Third.AsSpan(0, 5)]);

        using var reader = new FollowReader(dir.Path, 4, First.Length, 64);
        reader.Resume(First.Length, First.Length + Second.Length, sealedSegment: false);
        Assert.That(Pass(reader), Is.EqualTo(new ulong[] { 2 }));
        Assert.That(reader.EndedInTail, Is.False);

        reader.Resume(reader.End, -1, sealedSegment: true);
        var e = Assert.Throws<CorruptRecordException>(() => reader.MoveNext());
        Assert.That(e!.Kind, Is.EqualTo(CorruptionKind.Truncated));
        Assert.That(e.Offset, Is.EqualTo((ulong)(First.Length + Second.Length)));
    }

    [Test]
    public void The_handle_is_kept_between_passes_until_CloseHandle()
    {
        Assume.That(OperatingSystem.IsWindows(), Is.False, "replaces a file that is open");
        using var dir = new TempDir();
        string path = Seg(dir.Path, 1);
        File.WriteAllBytes(path, First);

        using var reader = new FollowReader(dir.Path, 1, 0, 64);
        Assert.That(Pass(reader), Is.EqualTo(new ulong[] { 1 }));

        string replacement = Path.Combine(dir.Path, "replacement");
        File.WriteAllBytes(replacement, [.. First, .. Second]);
        File.Move(replacement, path, overwrite: true);

        reader.Resume(reader.End, -1, sealedSegment: false);
        Assert.That(Pass(reader), Is.Empty, "the kept handle still reads the replaced file");

        reader.CloseHandle();
        long end = reader.End;
        reader.Resume(end, -1, sealedSegment: false);
        Assert.That(Pass(reader), Is.Empty, "a reopen that finds another file reads nothing at the old offset");
        Assert.That(reader.Lost, Is.EqualTo(SegmentOpen.Replaced));

        // What the follower does when no newer segment exists (a restore of the segment being written).
        reader.Resume(end, -1, sealedSegment: false, tolerateLoss: false);
        Assert.That(Pass(reader), Is.EqualTo(new ulong[] { 2 }));
        Assert.That(reader.Lost, Is.Null);
    }
}
