// Exhaustive damage, extending tests/DataWal.Core.Tests/DamageTests.cs (which cuts the last segment at every
// offset and flips whole bytes with XOR 0xFF / 0x01): here EVERY BIT of every frame of every segment, and
// garbage of each kind appended to the last and to a sealed segment (docs/design.md D5, D6, D13).
// Env knobs: none (the case count is fixed by the log image: 8 × its size, plus the garbage cases).
using DataWal.Core;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Fuzz.Tests;

[NonParallelizable]
public class BitFlipDamageTests
{
    private readonly record struct Rec(RecordType Type, ulong TxId, byte[] Key, byte[] Payload, uint Segment, ulong Offset)
    {
        public static Rec Of(Record r) => new(r.Type, r.TxId, r.Key.ToArray(), r.Payload.ToArray(), r.Segment, r.Offset);

        public bool Same(Rec o) => Type == o.Type && TxId == o.TxId && Segment == o.Segment && Offset == o.Offset &&
                                   Key.AsSpan().SequenceEqual(o.Key) && Payload.AsSpan().SequenceEqual(o.Payload);

        public override string ToString() => $"{Type} txid={TxId} seg={Segment} off={Offset}";
    }

    private SortedDictionary<uint, byte[]> _image = null!;
    private List<Rec> _records = null!;
    private uint _last;

    [OneTimeSetUp]
    public void Build()
    {
        using var dir = new TempDir("bitflip-src");
        var big = new byte[1500];
        new Random(5).NextBytes(big);
        using (var log = RecordLog.Open(dir.Path))
        {
            log.AppendRecord(RecordType.Put, "a"u8, "1"u8);
            log.Append(default);                                   // Raw, empty payload
            log.AppendRecord(RecordType.Put, default, "v"u8);      // empty key
            log.AppendRecord(RecordType.Delete, "a"u8, default);
            log.Rotate();
            log.AppendRecord(RecordType.Put, "big"u8, big);        // a larger frame
            log.Append("x"u8);
            log.AppendRecord(RecordType.Put, "k"u8, default);      // empty value
            log.Rotate();
            log.AppendRecord(RecordType.Delete, "k"u8, default);
            log.Append("hello"u8);
            log.AppendRecord(RecordType.Put, "z"u8, "last"u8);
            log.AppendRecord(RecordType.Put, default, default);    // empty key and payload
        }

        _image = [];
        foreach (uint id in SegmentFiles.List(dir.Path))
        {
            _image[id] = File.ReadAllBytes(SegmentFiles.PathFor(dir.Path, id));
        }

        _records = RecordLogReader.Open(dir.Path).ScanIter().Select(Rec.Of).ToList();
        _last = _image.Keys.Max();
        Assert.That(_image.Keys, Is.EqualTo(new uint[] { 1, 2, 3 }));
        Assert.That(_records, Has.Count.EqualTo(11));
    }

    private void WriteAll(string dir)
    {
        foreach (var file in Directory.EnumerateFiles(dir))
        {
            File.Delete(file);
        }

        foreach (var (id, bytes) in _image)
        {
            File.WriteAllBytes(SegmentFiles.PathFor(dir, id), bytes);
        }
    }

    private static (List<Rec> Records, RecoveryReport Report, Exception? Error) Read(string dir)
    {
        var records = new List<Rec>();
        var it = RecordLogReader.Open(dir).ScanIter();
        try
        {
            foreach (var r in it)
            {
                records.Add(Rec.Of(r));
            }
        }
        catch (Exception e)
        {
            return (records, it.RecoveryReport, e);
        }

        return (records, it.RecoveryReport, null);
    }

    private List<Rec> Before(uint segment, ulong offset) =>
        _records.Where(r => r.Segment < segment || (r.Segment == segment && r.Offset < offset)).ToList();

    private static void AssertPrefix(List<Rec> actual, List<Rec> expected, string at)
    {
        Assert.That(actual, Has.Count.EqualTo(expected.Count), $"{at}: record count");
        for (int i = 0; i < actual.Count; i++)
        {
            if (!actual[i].Same(expected[i]))
            {
                Assert.Fail($"{at}: WRONG RECORD {i}: {actual[i]} vs {expected[i]}");
            }
        }
    }

    /// <summary>A damaged frame at (segment, frameOffset): hard error or tolerated tail, per docs/design.md D5.</summary>
    private void AssertDamageOutcome(string dir, uint segment, ulong frameOffset, bool structural, string at)
    {
        bool tolerated = segment == _last && !structural;
        var expected = Before(segment, frameOffset);

        var read = Read(dir);
        AssertPrefix(read.Records, expected, at + " (reader)");
        if (tolerated)
        {
            Assert.That(read.Error, Is.Null, at + " (reader)");
            Assert.That(read.Report.TailTruncated, Is.EqualTo(1), at + " (reader tail)");
        }
        else
        {
            AssertCorrupt(read.Error, segment, frameOffset, structural, at + " (reader)");
        }

        string path = SegmentFiles.PathFor(dir, segment);
        long before = new FileInfo(path).Length;
        try
        {
            using var log = RecordLog.Open(dir);
            Assert.That(tolerated, Is.True, $"{at}: the writer opened a log with damage recovery must refuse");
            Assert.That(log.RecoveryReport.TailCut, Is.True, at + " (writer)");
            Assert.That(new FileInfo(path).Length, Is.EqualTo((long)frameOffset), at + " (writer cut)");
            AssertPrefix(log.Scan().Select(Rec.Of).ToList(), expected, at + " (writer)");
        }
        catch (DataWalException e)
        {
            Assert.That(tolerated, Is.False, $"{at}: writer open failed on a tolerated tail: {e.Message}");
            AssertCorrupt(e, segment, frameOffset, structural, at + " (writer)");
            Assert.That(new FileInfo(path).Length, Is.EqualTo(before), at + " (a refused open changes nothing)");
        }
    }

    private static void AssertCorrupt(Exception? error, uint segment, ulong offset, bool structural, string at)
    {
        Assert.That(error, Is.TypeOf<CorruptRecordException>(), $"{at}: {error?.GetType().Name}: {error?.Message}");
        var c = (CorruptRecordException)error!;
        Assert.That(c.Segment, Is.EqualTo(segment), at + ": segment");
        Assert.That(c.Offset, Is.EqualTo(offset), at + ": offset");
        Assert.That(c.Kind == CorruptionKind.Structural, Is.EqualTo(structural), $"{at}: kind {c.Kind}");
        Assert.That(c.Message, Does.Contain($"segment {segment}").And.Contain($"offset {offset}"), at + ": message");
    }

    [Test]
    public void Every_bit_of_every_frame_of_every_segment_flipped_never_yields_a_wrong_record()
    {
        using var dir = new TempDir("bitflip");
        using var noSync = PowerLossRecorder.WithoutFsync();   // throwaway states: the writer's cut need not be durable
        WriteAll(dir.Path);
        int cases = 0;
        foreach (var (id, original) in _image)
        {
            string path = SegmentFiles.PathFor(dir.Path, id);
            var frames = _records.Where(r => r.Segment == id).ToList();
            foreach (var frame in frames)
            {
                int frameEnd = (int)frame.Offset + (int)WireFormat.FrameSize(frame.Key.Length, frame.Payload.Length);
                for (int at = (int)frame.Offset; at < frameEnd; at++)
                {
                    for (int bit = 0; bit < 8; bit++)
                    {
                        var bytes = (byte[])original.Clone();
                        bytes[at] ^= (byte)(1 << bit);
                        File.WriteAllBytes(path, bytes);
                        bool structural;
                        try
                        {
                            var d = WireFormat.Decode(bytes.AsSpan((int)frame.Offset));

                            // A length that runs past the end of a sealed segment is a damaged length field (docs/design.md
                            // D16), not a torn write; on the last segment it is a tail like any other.
                            structural = d.Status == DecodeStatus.Truncated && id != _last;
                            Assert.That(d.Status, Is.Not.EqualTo(DecodeStatus.Ok), $"seg {id} byte {at} bit {bit}: a flipped frame decoded Ok");
                        }
                        catch (InvalidFrameException)
                        {
                            structural = true;
                        }

                        AssertDamageOutcome(dir.Path, id, frame.Offset, structural, $"seg {id} byte {at} bit {bit} (frame at {frame.Offset})");
                        cases++;
                    }
                }
            }

            File.WriteAllBytes(path, original);
        }

        int expectedCases = 8 * _image.Values.Sum(b => b.Length);
        Assert.That(cases, Is.EqualTo(expectedCases), "every bit of every segment");
        TestContext.Out.WriteLine($"bit flips: {cases} cases (8 x {expectedCases / 8} bytes in {_image.Count} segments, {_records.Count} frames), each checked with a reader and a writer open");
    }

    private static IEnumerable<(string Name, byte[] Garbage, bool Tolerated)> Garbage()
    {
        foreach (int n in new[] { 1, 2, 3, 23, 24, 25, 27, 28, 29, 100, 4095, 4096, 70_000, 300_000 })
        {
            yield return ($"{n} zero bytes", new byte[n], true);
        }

        var random = new Random(77);
        foreach (int n in new[] { 1, 5, 13, 23 })
        {
            var b = new byte[n];
            random.NextBytes(b);
            b[0] |= 1;
            yield return ($"{n} random bytes (shorter than a header: torn)", b, true);
        }

        foreach (int n in new[] { 24, 25, 64, 1000, 5000 })
        {
            var b = new byte[n];
            random.NextBytes(b);
            b[0] = (byte)(b[0] == (byte)'D' ? 'E' : b[0] | 1);
            yield return ($"{n} random non-zero-led bytes", b, false);
        }

        var z = new byte[50];
        z[49] = 1;
        yield return ("zeros then one non-zero byte", z, false);

        var frame = WireFormat.Encode(RecordType.Put, 12, "gk"u8, "garbage value"u8);
        var badCrc = (byte[])frame.Clone();
        badCrc[^1] ^= 0x5A;
        yield return ("a valid frame with a wrong CRC", badCrc, true);
        var badCrcTxid = (byte[])frame.Clone();
        badCrcTxid[8] ^= 1;
        yield return ("a valid frame whose txid changed after the CRC", badCrcTxid, true);
        yield return ("a valid header with a short body", frame[..(frame.Length - 5)], true);
        yield return ("a valid header alone", frame[..WireFormat.HeaderLength], true);
        var huge = (byte[])frame[..WireFormat.HeaderLength].Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(huge.AsSpan(20), WireFormat.MaxPayloadLength);
        yield return ("a header claiming a 64 MiB payload", huge, true);
        var over = (byte[])huge.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(over.AsSpan(20), WireFormat.MaxPayloadLength + 1);
        yield return ("a header claiming 64 MiB + 1", over, false);
        yield return ("a valid header with a short body, then zeros", [.. frame[..30], .. new byte[40]], true);
    }

    [Test]
    public void Garbage_of_each_kind_appended_to_the_last_segment_follows_decisions_5_and_13()
    {
        using var dir = new TempDir("garbage-last");
        using var noSync = PowerLossRecorder.WithoutFsync();
        int cases = 0;
        foreach (var (name, garbage, tolerated) in Garbage())
        {
            WriteAll(dir.Path);
            string path = SegmentFiles.PathFor(dir.Path, _last);
            ulong end = (ulong)_image[_last].Length;
            File.WriteAllBytes(path, [.. _image[_last], .. garbage]);
            string at = $"last segment + {name}";
            var read = Read(dir.Path);
            AssertPrefix(read.Records, _records, at);
            if (tolerated)
            {
                Assert.That(read.Error, Is.Null, at);
                Assert.That(read.Report.TailTruncated, Is.EqualTo(1), at);
                Assert.That(read.Report.TailBytesDiscarded, Is.EqualTo(garbage.Length), at);
                using (var log = RecordLog.Open(dir.Path))
                {
                    Assert.That(log.RecoveryReport.TailCut, Is.True, at);
                    Assert.That(new FileInfo(path).Length, Is.EqualTo((long)end), at + ": cut to the last valid frame");
                    log.Append("after"u8);
                }

                var again = Read(dir.Path);
                Assert.That(again.Error, Is.Null, at);
                Assert.That(again.Records, Has.Count.EqualTo(_records.Count + 1), at + ": the append after the cut survives");
            }
            else
            {
                AssertCorrupt(read.Error, _last, end, structural: true, at);
                var e = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path).Dispose(), at)!;
                Assert.That((e.Segment, e.Offset), Is.EqualTo((_last, end)), at);
                Assert.That(new FileInfo(path).Length, Is.EqualTo((long)end + garbage.Length), at + ": nothing cut");
            }

            cases++;
        }

        TestContext.Out.WriteLine($"garbage on the last segment: {cases} cases");
    }

    [Test]
    public void Any_garbage_appended_to_a_sealed_segment_is_corruption_naming_segment_and_offset()
    {
        using var dir = new TempDir("garbage-sealed");
        int cases = 0;
        foreach (uint sealedId in _image.Keys.Where(k => k != _last))
        {
            foreach (var (name, garbage, _) in Garbage())
            {
                WriteAll(dir.Path);
                string path = SegmentFiles.PathFor(dir.Path, sealedId);
                ulong end = (ulong)_image[sealedId].Length;
                File.WriteAllBytes(path, [.. _image[sealedId], .. garbage]);
                string at = $"sealed segment {sealedId} + {name}";
                var read = Read(dir.Path);
                AssertPrefix(read.Records, Before(sealedId + 1, 0), at);
                Assert.That(read.Error, Is.TypeOf<CorruptRecordException>(), at);
                var c = (CorruptRecordException)read.Error!;
                Assert.That((c.Segment, c.Offset), Is.EqualTo((sealedId, end)), at);
                var e = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path).Dispose(), at)!;
                Assert.That((e.Segment, e.Offset), Is.EqualTo((sealedId, end)), at);
                Assert.That(new FileInfo(path).Length, Is.EqualTo((long)end + garbage.Length), at + ": nothing cut");
                cases++;
            }
        }

        TestContext.Out.WriteLine($"garbage on sealed segments: {cases} cases");
    }
}
