using NUnit.Framework;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// Exhaustive damage: truncation at every offset, every single-byte flip, zero-filled and garbage tails
/// (docs/design.md D5, D6, D9 and D13). The log is a 3-segment image rewritten into a work directory per case.
/// </summary>
public class DamageTests
{
    private SortedDictionary<uint, byte[]> _image = null!;
    private List<Rec> _records = null!;
    private SortedDictionary<uint, byte[]> _small = null!;
    private List<Rec> _smallRecords = null!;

    [OneTimeSetUp]
    public void BuildTemplates()
    {
        using (var dir = new TempDir())
        {
            using (var log = RecordLog.Open(dir.Path))
            {
                log.AppendRecord(RecordType.Put, B("a"), B("1"));
                log.Append(B("hello"));
                log.Rotate();
                log.Append(Pattern(10, 1));
                log.AppendRecord(RecordType.Delete, B("a"), []);
                log.AppendRecord(RecordType.Put, B("b"), B("2"));
                log.Rotate();
                log.Append(B("x"));
                log.AppendRecord(RecordType.Put, B("k1"), Pattern(40, 2));
                log.AppendRecord(RecordType.Delete, B("k1"), []);
                log.AppendRecord(RecordType.Put, [], []);
                log.Append(Pattern(100, 3));
                log.AppendRecord(RecordType.Put, B("key-5"), B("seventh"));
            }

            _image = Image(dir.Path);
            _records = ReadAll(dir.Path);
        }

        using (var dir = new TempDir())
        {
            using (var log = RecordLog.Open(dir.Path))
            {
                log.AppendRecord(RecordType.Put, B("k"), B("v"));
                log.Rotate();
                log.Append(B("mid"));
                log.Rotate();
                log.AppendRecord(RecordType.Delete, B("k"), []);
                log.Append(B("end"));
            }

            _small = Image(dir.Path);
            _smallRecords = ReadAll(dir.Path);
        }

        Assert.That(_image.Keys, Is.EqualTo(new uint[] { 1, 2, 3 }));
        Assert.That(_records.Count(r => r.Segment == 3), Is.EqualTo(6));
    }

    private static long End(Rec r) => (long)r.Offset + r.Length;

    /// <summary>The records of segments before <paramref name="segment"/> and the whole frames of it that end by <paramref name="cut"/>.</summary>
    private static List<Rec> Before(List<Rec> all, uint segment, long cut) =>
        all.Where(r => r.Segment < segment || (r.Segment == segment && End(r) <= cut)).ToList();

    private static long BoundaryAtOrBefore(List<Rec> all, uint segment, long cut) =>
        all.Where(r => r.Segment == segment && End(r) <= cut).Select(End).DefaultIfEmpty(0).Max();

    private static bool IsBoundary(List<Rec> all, uint segment, long offset) =>
        offset == 0 || all.Any(r => r.Segment == segment && End(r) == offset);

    private static Exception? Try(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    private static SortedDictionary<uint, byte[]> With(SortedDictionary<uint, byte[]> image, uint segment, Func<byte[], byte[]> change)
    {
        var copy = new SortedDictionary<uint, byte[]>(image.ToDictionary(kv => kv.Key, kv => (byte[])kv.Value.Clone()));
        copy[segment] = change(copy[segment]);
        return copy;
    }

    // ---- (a) the last segment cut at every offset ----

    [Test]
    public void Truncating_the_last_segment_at_every_offset_keeps_exactly_the_whole_frames_before_the_cut()
    {
        using var dir = new TempDir();
        int length = _image[3].Length;
        int cases = 0;
        for (int cut = 0; cut <= length; cut++)
        {
            var expected = Before(_records, 3, cut);
            long boundary = BoundaryAtOrBefore(_records, 3, cut);
            bool damaged = cut != boundary;
            var tail = new RecoveryReport
            {
                FilesScanned = 3,
                RecordsReplayed = expected.Count,
                TailTruncated = damaged ? 1 : 0,
                TailBytesDiscarded = cut - boundary,
                LastTxIdSeen = expected.Max(r => r.TxId),
            };
            string at = $"cut at {cut} of {length}";

            // A reader sees the prefix, reports the tail and changes nothing.
            var image = With(_image, 3, b => b[..cut]);
            WriteImage(dir.Path, image);
            var read = ReadUntilCorrupt(dir.Path);
            Assert.That(read.Error, Is.Null, at);
            Assert.That(read.Records, Is.EqualTo(expected), at);
            Assert.That(read.Report, Is.EqualTo(tail), at);
            Assert.That(new FileInfo(Seg(dir.Path, 3)).Length, Is.EqualTo(cut), at);

            // A writer open reports the same, cuts to the boundary, and an append after it survives a reopen.
            using (var log = RecordLog.Open(dir.Path))
            {
                Assert.That(log.RecoveryReport, Is.EqualTo(tail with { TailCut = damaged }), at);
                Assert.That(new FileInfo(Seg(dir.Path, 3)).Length, Is.EqualTo(boundary), at);
                Assert.That(Recs(log.Scan()), Is.EqualTo(expected), at);
                var written = log.Append(B("after the cut"));
                Assert.That(written, Is.EqualTo(new RecordRef(3, (ulong)boundary, 41)), at);
            }

            var reopened = ReadUntilCorrupt(dir.Path);
            Assert.That(reopened.Error, Is.Null, at);
            Assert.That(reopened.Records, Is.EqualTo(expected.Append(new Rec(RecordType.Raw, tail.LastTxIdSeen + 1, "", Hex(B("after the cut")), 3, (ulong)boundary, 41))), at);
            Assert.That(reopened.Report.TailTruncated, Is.Zero, at);
            cases++;
        }

        Assert.That(cases, Is.EqualTo(length + 1));
        TestContext.Out.WriteLine($"checked {cases} cut offsets of a {length}-byte last segment");
    }

    // ---- (b) a sealed segment cut anywhere but a frame boundary ----

    [TestCase(1u)]
    [TestCase(2u)]
    public void Truncating_a_sealed_segment_inside_a_frame_is_a_hard_error_naming_segment_and_offset(uint segment)
    {
        using var dir = new TempDir();
        int length = _image[segment].Length;
        int errors = 0;
        for (int cut = 0; cut < length; cut++)
        {
            string at = $"segment {segment} cut at {cut} of {length}";
            WriteImage(dir.Path, With(_image, segment, b => b[..cut]));
            var before = Before(_records, segment, cut);
            long torn = BoundaryAtOrBefore(_records, segment, cut);

            var read = ReadUntilCorrupt(dir.Path);
            var open = Try(() => RecordLog.Open(dir.Path).Dispose());
            if (IsBoundary(_records, segment, cut))
            {
                // A sealed segment cut exactly at a frame boundary is indistinguishable from a shorter segment.
                Assert.That(read.Error, Is.Null, at);
                Assert.That(read.Records, Is.EqualTo(before.Concat(_records.Where(r => r.Segment > segment))), at);
                Assert.That(open, Is.Null, at);
                continue;
            }

            // A cut inside a header is truncation; a whole header whose length runs past the cut is reported as what it
            // may also be in a sealed segment, a damaged length field (docs/design.md D16).
            long left = cut - torn;
            uint claimed = _records.First(r => r.Segment == segment && r.Offset == (ulong)torn).Length;
            var kind = left < WireFormat.HeaderLength ? CorruptionKind.Truncated : CorruptionKind.Structural;
            string message = kind == CorruptionKind.Truncated
                ? $"datawal: truncated record at offset {torn} of non-tail segment {segment} ({Seg(dir.Path, segment)}); refusing to silently drop data"
                : $"datawal: frame at offset {torn} of non-tail segment {segment} ({Seg(dir.Path, segment)}) claims {claimed} bytes but only {left} remain: a damaged length field or a cut sealed segment, not a torn write";
            Assert.That(read.Error, Is.Not.Null, at);
            Assert.That((read.Error!.Segment, read.Error.Offset, read.Error.Kind), Is.EqualTo((segment, (ulong)torn, kind)), at);
            Assert.That(read.Error.Message, Is.EqualTo(message), at);
            Assert.That(read.Records, Is.EqualTo(before), at);
            Assert.That(open, Is.InstanceOf<CorruptRecordException>(), at);
            Assert.That(open!.Message, Is.EqualTo(message), at);
            Assert.That(new FileInfo(Seg(dir.Path, segment)).Length, Is.EqualTo(cut), "nothing is cut in a sealed segment");
            errors++;
        }

        Assert.That(errors, Is.EqualTo(length - _records.Count(r => r.Segment == segment)));
        TestContext.Out.WriteLine($"segment {segment}: {errors} torn cuts rejected, {length - errors} boundary cuts");
    }

    // ---- (c) every single-byte flip ----

    [Test]
    public void Every_byte_flipped_with_ff_is_detected_or_cut_never_wrong_data()
    {
        int cases = CheckEveryFlip(_image, _records, 0xFF);
        Assert.That(cases, Is.EqualTo(_image.Values.Sum(b => b.Length)));
    }

    [Test]
    public void Every_byte_flipped_with_01_in_a_small_log_is_detected_or_cut_never_wrong_data()
    {
        int cases = CheckEveryFlip(_small, _smallRecords, 0x01);
        Assert.That(cases, Is.EqualTo(_small.Values.Sum(b => b.Length)));
    }

    private static int CheckEveryFlip(SortedDictionary<uint, byte[]> image, List<Rec> records, byte mask)
    {
        using var dir = new TempDir();
        uint last = image.Keys.Max();
        int cases = 0;
        int tails = 0;
        int hard = 0;
        foreach (var (segment, bytes) in image)
        {
            for (int position = 0; position < bytes.Length; position++)
            {
                string at = $"segment {segment} byte {position} ^ 0x{mask:X2}";
                var frame = records.Single(r => r.Segment == segment && (long)r.Offset <= position && position < End(r));
                var expectedPrefix = records.Where(r => r.Segment < segment || (r.Segment == segment && r.Offset < frame.Offset)).ToList();
                var damaged = With(image, segment, b =>
                {
                    b[position] ^= mask;
                    return b;
                });

                WriteImage(dir.Path, damaged);
                var read = ReadUntilCorrupt(dir.Path);
                Assert.That(read.Records, Is.EqualTo(expectedPrefix), at + ": only untouched records, in order");
                if (read.Error is { } e)
                {
                    Assert.That((e.Segment, e.Offset), Is.EqualTo((segment, frame.Offset)), at);
                    if (segment == last)
                    {
                        Assert.That(e.Kind, Is.EqualTo(CorruptionKind.Structural), at + ": only structural damage is fatal on the last segment");
                    }

                    hard++;
                }
                else
                {
                    Assert.That(segment, Is.EqualTo(last), at + ": damage in a sealed segment must be an error");
                    Assert.That((read.Report.TailTruncated, read.Report.TailBytesDiscarded), Is.EqualTo((1, bytes.Length - (long)frame.Offset)), at);
                    tails++;
                }

                // The writer classifies the same way; on a tolerated tail it cuts at the damaged frame.
                try
                {
                    using var log = RecordLog.Open(dir.Path);
                    Assert.That(read.Error, Is.Null, at + ": writer opened what the reader rejected");
                    Assert.That(Recs(log.Scan()), Is.EqualTo(expectedPrefix), at);
                    Assert.That(new FileInfo(Seg(dir.Path, segment)).Length, Is.EqualTo((long)frame.Offset), at);
                }
                catch (CorruptRecordException openError)
                {
                    Assert.That(read.Error, Is.Not.Null, at + ": writer rejected what the reader opened");
                    Assert.That(openError.Message, Is.EqualTo(read.Error!.Message), at);
                }

                cases++;
            }
        }

        TestContext.Out.WriteLine($"{cases} flips (^0x{mask:X2}): {hard} hard errors, {tails} tolerated tails, 0 wrong records");
        return cases;
    }

    // ---- (d) zero-filled and garbage tails ----

    [TestCase(1)]
    [TestCase(23)]
    [TestCase(24)]
    [TestCase(4096)]
    public void Zero_filled_tail_of_the_last_segment_is_tolerated_and_cut_by_a_writer(int zeros)
    {
        using var dir = new TempDir();
        int length = _image[3].Length;
        WriteImage(dir.Path, With(_image, 3, b => [.. b, .. new byte[zeros]]));
        var expectedTail = new RecoveryReport
        {
            FilesScanned = 3,
            RecordsReplayed = _records.Count,
            TailTruncated = 1,
            TailBytesDiscarded = zeros,
            LastTxIdSeen = _records[^1].TxId,
        };

        var read = ReadUntilCorrupt(dir.Path);
        Assert.That(read.Error, Is.Null);
        Assert.That(read.Records, Is.EqualTo(_records));
        Assert.That(read.Report, Is.EqualTo(expectedTail));
        Assert.That(new FileInfo(Seg(dir.Path, 3)).Length, Is.EqualTo(length + zeros), "the reader leaves the zeros");

        using (var log = RecordLog.Open(dir.Path))
        {
            Assert.That(log.RecoveryReport, Is.EqualTo(expectedTail with { TailCut = true }));
            Assert.That(new FileInfo(Seg(dir.Path, 3)).Length, Is.EqualTo(length));
            Assert.That(log.Append(B("z")), Is.EqualTo(new RecordRef(3, (ulong)length, 29)));
        }

        var reopened = ReadUntilCorrupt(dir.Path);
        Assert.That(reopened.Records, Has.Count.EqualTo(_records.Count + 1));
        Assert.That(reopened.Report.TailTruncated, Is.Zero);
    }

    [TestCase(1, CorruptionKind.Truncated)]
    [TestCase(24, CorruptionKind.Structural)]
    [TestCase(4096, CorruptionKind.Structural)]
    public void Zero_fill_at_the_end_of_a_sealed_segment_is_a_hard_error(int zeros, CorruptionKind kind)
    {
        using var dir = new TempDir();
        int length = _image[2].Length;
        WriteImage(dir.Path, With(_image, 2, b => [.. b, .. new byte[zeros]]));
        var read = ReadUntilCorrupt(dir.Path);
        Assert.That(read.Error, Is.Not.Null);
        Assert.That((read.Error!.Segment, read.Error.Offset, read.Error.Kind), Is.EqualTo((2u, (ulong)length, kind)));
        Assert.That(read.Records, Is.EqualTo(_records.Where(r => r.Segment < 3)));
        var open = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path));
        Assert.That(open!.Message, Is.EqualTo(read.Error.Message));
        Assert.That(new FileInfo(Seg(dir.Path, 2)).Length, Is.EqualTo(length + zeros));
    }

    [TestCase(24)]
    [TestCase(100)]
    public void Non_zero_garbage_of_24_bytes_or_more_on_the_last_segment_is_a_hard_structural_error(int count)
    {
        using var dir = new TempDir();
        int length = _image[3].Length;
        WriteImage(dir.Path, With(_image, 3, b => [.. b, .. Enumerable.Repeat((byte)0xAB, count)]));
        var read = ReadUntilCorrupt(dir.Path);
        Assert.That(read.Error, Is.Not.Null);
        Assert.That((read.Error!.Segment, read.Error.Offset, read.Error.Kind), Is.EqualTo((3u, (ulong)length, CorruptionKind.Structural)));
        Assert.That(read.Error.Message, Does.EndWith("datawal: bad magic, expected DWAL, got [171, 171, 171, 171]"));
        Assert.That(read.Records, Is.EqualTo(_records));
        Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path));
        Assert.That(new FileInfo(Seg(dir.Path, 3)).Length, Is.EqualTo(length + count), "a hard error cuts nothing");
    }

    [Test]
    public void Zeros_followed_by_anything_non_zero_are_garbage_not_a_zero_tail()
    {
        using var dir = new TempDir();
        int length = _image[3].Length;
        var frame = WireFormat.Encode(RecordType.Raw, 99, [], B("hidden"));
        foreach (var suffix in new[] { new byte[] { 1 }, frame })
        {
            WriteImage(dir.Path, With(_image, 3, b => [.. b, .. new byte[4096], .. suffix]));
            var read = ReadUntilCorrupt(dir.Path);
            Assert.That(read.Error, Is.Not.Null);
            Assert.That((read.Error!.Offset, read.Error.Kind), Is.EqualTo(((ulong)length, CorruptionKind.Structural)));
            Assert.That(read.Error.Message, Does.EndWith("datawal: bad magic, expected DWAL, got [0, 0, 0, 0]"));
        }
    }

    [Test]
    public void Short_non_zero_garbage_on_the_last_segment_is_a_torn_tail()
    {
        using var dir = new TempDir();
        WriteImage(dir.Path, With(_image, 3, b => [.. b, .. Enumerable.Repeat((byte)0xAB, 23)]));
        var read = ReadUntilCorrupt(dir.Path);
        Assert.That(read.Error, Is.Null);
        Assert.That((read.Report.TailTruncated, read.Report.TailBytesDiscarded), Is.EqualTo((1, 23L)));
    }

    [Test]
    public void An_all_zero_last_segment_is_an_empty_log_with_a_tail()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 1), new byte[512]);
        var read = ReadUntilCorrupt(dir.Path);
        Assert.That(read.Error, Is.Null);
        Assert.That(read.Report, Is.EqualTo(new RecoveryReport { FilesScanned = 1, TailTruncated = 1, TailBytesDiscarded = 512 }));
        using var log = RecordLog.Open(dir.Path);
        Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.Zero);
        Assert.That(log.Append(B("first")), Is.EqualTo(new RecordRef(1, 0, 33)));
        Assert.That(log.Scan().Single().TxId, Is.EqualTo(1UL));
    }

    // ---- docs/design.md D9: bounded memory against hostile lengths ----

    [Test]
    public void Hostile_header_in_a_100_byte_file_allocates_nothing_big()
    {
        using var dir = new TempDir();
        var file = new byte[100];
        WireFormat.Encode(RecordType.Put, 1, [], []).AsSpan(0, 24).CopyTo(file);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(16), 65536u);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(20), 67_108_864u);
        File.WriteAllBytes(Seg(dir.Path, 1), file);

        ReadUntilCorrupt(dir.Path);   // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        var read = ReadUntilCorrupt(dir.Path);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(read.Error, Is.Null);
        Assert.That((read.Report.TailTruncated, read.Report.TailBytesDiscarded), Is.EqualTo((1, 100L)));
        Assert.That(allocated, Is.LessThan(1024 * 1024), "a length read from disk must not size a buffer before it is checked");

        // As a sealed segment it is a hard error, still without the allocation.
        File.WriteAllBytes(Seg(dir.Path, 2), []);
        before = GC.GetAllocatedBytesForCurrentThread();
        read = ReadUntilCorrupt(dir.Path);
        allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That((read.Error?.Segment, read.Error?.Offset, read.Error?.Kind), Is.EqualTo(((uint?)1, (ulong?)0, (CorruptionKind?)CorruptionKind.Structural)), "a length past the end of a sealed segment");
        Assert.That(allocated, Is.LessThan(1024 * 1024));

        // A writer open cuts it, with a small read buffer.
        File.Delete(Seg(dir.Path, 2));
        before = GC.GetAllocatedBytesForCurrentThread();
        using (var log = RecordLog.Open(dir.Path, new RecordLogOptions { ReadBufferSize = 4096 }))
        {
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(log.RecoveryReport.TailBytesDiscarded, Is.EqualTo(100));
        }

        Assert.That(allocated, Is.LessThan(4 * 1024 * 1024));
        Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.Zero);
    }
}
