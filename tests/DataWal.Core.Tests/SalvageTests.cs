// Salvage (docs/design.md D16): ReadMode.Salvage resynchronises at the next intact frame, reports every
// skipped range, and never returns a frame whose CRC fails. The strict-mode versions of these sweeps are in
// tests/DataWal.Fuzz.Tests/BitFlipDamageTests.cs and HostileInputFuzzTests.cs.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.RegularExpressions;
using NUnit.Framework;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

[NonParallelizable]
public partial class SalvageTests
{
    private SortedDictionary<uint, byte[]> _image = null!;
    private List<Rec> _records = null!;
    private uint _last;

    [OneTimeSetUp]
    public void Build()
    {
        using var dir = new TempDir("salvage-src");
        var big = new byte[1500];
        new Random(5).NextBytes(big);
        using (var log = RecordLog.Open(dir.Path))
        {
            log.AppendRecord(RecordType.Put, "a"u8, "1"u8);
            log.Append(default);
            log.AppendRecord(RecordType.Put, default, "v"u8);
            log.AppendRecord(RecordType.Delete, "a"u8, default);
            log.Rotate();
            log.AppendRecord(RecordType.Put, "big"u8, big);        // larger than the direct-check limit
            log.Append("x"u8);
            log.AppendRecord(RecordType.Put, "k"u8, default);
            log.Rotate();
            log.AppendRecord(RecordType.Delete, "k"u8, default);
            log.Append("hello"u8);
            log.AppendRecord(RecordType.Put, "z"u8, "last"u8);
            log.AppendRecord(RecordType.Put, default, default);
        }

        _image = Image(dir.Path);
        _records = ReadAll(dir.Path);
        _last = _image.Keys.Max();
        Assert.That(_image.Keys, Is.EqualTo(new uint[] { 1, 2, 3 }));
        Assert.That(_records, Has.Count.EqualTo(11));
    }

    private static (List<Rec> Records, RecoveryReport Report) Salvage(string dir)
    {
        var reader = RecordLogReader.Open(dir, ReadMode.Salvage);
        Assert.That(reader.Mode, Is.EqualTo(ReadMode.Salvage));
        var it = reader.ScanIter();
        var records = Recs(it);
        return (records, it.RecoveryReport);
    }

    private static void AssertSame(List<Rec> actual, List<Rec> expected, string at)
    {
        for (int i = 0; i < Math.Min(actual.Count, expected.Count); i++)
        {
            if (actual[i] != expected[i])
            {
                Assert.Fail($"{at}: record {i} is {actual[i]}, expected {expected[i]}");
            }
        }

        Assert.That(actual, Has.Count.EqualTo(expected.Count), at + ": record count");
    }

    // ---- the CRC arithmetic and the header predicate the scanner relies on

    [Test]
    public void Crc_of_a_range_from_running_crcs_equals_the_crc_of_its_bytes()
    {
        var random = new Random(1);
        var data = new byte[5000];
        random.NextBytes(data);
        for (int i = 0; i < 500; i++)
        {
            int b = random.Next(0, 100);
            int c = random.Next(b, 3000);
            int e = random.Next(c, data.Length + 1);
            uint qc = WireFormat.Crc32C(data.AsSpan(b, c - b));
            uint qe = WireFormat.Crc32C(data.AsSpan(b, e - b));
            Assert.That(Crc32CCombine.Between(qc, qe, e - c), Is.EqualTo(WireFormat.Crc32C(data.AsSpan(c, e - c))), $"[{c},{e}) from base {b}");
            Assert.That(Crc32CCombine.Combine(qc, WireFormat.Crc32C(data.AsSpan(c, e - c)), e - c), Is.EqualTo(qe));
        }

        Assert.That(Crc32CCombine.Shift(0x12345678, 1L << 40), Is.Not.Zero, "long shifts stay in the table");
    }

    [Test]
    public void TryReadHeader_accepts_exactly_the_headers_ReadHeader_accepts()
    {
        var random = new Random(2);
        var header = new byte[WireFormat.HeaderLength];
        int accepted = 0;
        for (int i = 0; i < 200_000; i++)
        {
            random.NextBytes(header);
            "DWAL"u8.CopyTo(header);
            header[4] = (byte)random.Next(3);
            header[5] = (byte)(random.Next(8) == 0 ? 1 : 0);
            header[6] = (byte)random.Next(4);
            header[7] = (byte)(random.Next(4) == 0 ? 1 : 0);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), (uint)random.Next(WireFormat.MaxKeyLength - 2, WireFormat.MaxKeyLength + 3) * (uint)random.Next(2));
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), (uint)random.Next(WireFormat.MaxPayloadLength - 2, WireFormat.MaxPayloadLength + 3) * (uint)random.Next(2));
            if (random.Next(16) == 0)
            {
                header[random.Next(4)] ^= 0x20;
            }

            bool strict;
            try
            {
                WireFormat.ReadHeader(header);
                strict = true;
            }
            catch (InvalidFrameException)
            {
                strict = false;
            }

            Assert.That(WireFormat.TryReadHeader(header, out _), Is.EqualTo(strict), Convert.ToHexString(header));
            accepted += strict ? 1 : 0;
        }

        Assert.That(accepted, Is.GreaterThan(1000));
    }

    // ---- sweeps over a 3-segment log

    [Test]
    public void Every_bit_flipped_salvage_returns_every_record_outside_the_damaged_frame_and_never_a_wrong_one()
    {
        using var dir = new TempDir("salvage-bitflip");
        WriteImage(dir.Path, _image);
        int cases = 0;
        int ranges = 0;
        int tails = 0;
        foreach (var (id, original) in _image)
        {
            string path = Seg(dir.Path, id);
            foreach (var frame in _records.Where(r => r.Segment == id))
            {
                long frameEnd = (long)frame.Offset + frame.Length;
                var expected = _records.Where(r => r != frame).ToList();
                var next = _records.FirstOrDefault(r => r.Segment == id && r.Offset > frame.Offset);
                long rangeEnd = next == default ? original.Length : (long)next.Offset;
                for (long at = (long)frame.Offset; at < frameEnd; at++)
                {
                    for (int bit = 0; bit < 8; bit++)
                    {
                        var bytes = (byte[])original.Clone();
                        bytes[at] ^= (byte)(1 << bit);
                        File.WriteAllBytes(path, bytes);
                        string where = $"seg {id} byte {at} bit {bit} (frame at {frame.Offset})";
                        var (records, report) = Salvage(dir.Path);
                        AssertSame(records, expected, where);
                        if (id == _last && next == default && ReadUntilCorrupt(dir.Path).Error is null)
                        {
                            Assert.That(report.TailTruncated, Is.EqualTo(1), where + ": a damaged tail strict mode tolerates is reported as one");
                            Assert.That(report.TailBytesDiscarded, Is.EqualTo(frame.Length), where);
                            Assert.That(report.SkippedRanges, Is.Empty, where);
                            tails++;
                        }
                        else
                        {
                            Assert.That(report.TailTruncated, Is.Zero, where);
                            Assert.That(report.SkippedRanges, Has.Count.EqualTo(1), where);
                            var range = report.SkippedRanges[0];
                            Assert.That((range.Segment, range.Offset, range.Length), Is.EqualTo((id, (long)frame.Offset, rangeEnd - (long)frame.Offset)), where);
                            Assert.That(report.MidStreamErrors, Is.EqualTo(1), where);
                            long inFrame = at - (long)frame.Offset;
                            if (inFrame >= 8 && (inFrame < 16 || inFrame >= WireFormat.HeaderLength))
                            {
                                Assert.That(range.Reason, Is.EqualTo(CorruptionKind.CrcMismatch), where + ": txid, key, payload or CRC damaged");
                            }

                            if (inFrame >= 16 && inFrame < WireFormat.HeaderLength)
                            {
                                uint claimed = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)frame.Offset + 16)) + BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)frame.Offset + 20));
                                if ((long)frame.Offset + 28 + claimed > original.Length)
                                {
                                    // A length field pointing past the end is damage, not a truncated record.
                                    Assert.That(range.Reason, Is.EqualTo(CorruptionKind.Structural), where + ": damaged length field");
                                }
                            }

                            ranges++;
                        }

                        Assert.That(report.RecordsReplayed, Is.EqualTo(expected.Count), where);
                        cases++;
                    }
                }
            }

            File.WriteAllBytes(path, original);
        }

        int expectedCases = 8 * _image.Values.Sum(b => b.Length);
        Assert.That(cases, Is.EqualTo(expectedCases), "every bit of every frame");
        TestContext.Out.WriteLine($"salvage bit flips: {cases} cases ({ranges} skipped ranges, {tails} tails), each checked record by record");
    }

    [Test]
    public void Every_cut_of_every_segment_keeps_every_whole_frame_of_every_segment()
    {
        using var dir = new TempDir("salvage-cut");
        int cases = 0;
        foreach (var (id, original) in _image)
        {
            var frames = _records.Where(r => r.Segment == id).ToList();
            for (int cut = 0; cut < original.Length; cut++)
            {
                WriteImage(dir.Path, _image);
                File.WriteAllBytes(Seg(dir.Path, id), original[..cut]);
                string where = $"seg {id} cut at {cut}";
                var expected = _records.Where(r => r.Segment != id || (long)r.Offset + r.Length <= cut).ToList();
                var (records, report) = Salvage(dir.Path);
                AssertSame(records, expected, where);
                var torn = frames.FirstOrDefault(f => (long)f.Offset < cut && (long)f.Offset + f.Length > cut);
                if (torn == default)
                {
                    Assert.That(report.SkippedRanges, Is.Empty, where + ": a cut at a frame boundary is undetectable");
                    Assert.That(report.TailTruncated, Is.Zero, where);
                }
                else if (id == _last)
                {
                    Assert.That(report.TailTruncated, Is.EqualTo(1), where);
                    Assert.That(report.TailBytesDiscarded, Is.EqualTo(cut - (long)torn.Offset), where);
                    Assert.That(report.SkippedRanges, Is.Empty, where);
                }
                else
                {
                    var range = report.SkippedRanges.Single();
                    Assert.That((range.Segment, range.Offset, range.Length), Is.EqualTo((id, (long)torn.Offset, cut - (long)torn.Offset)), where);
                    var kind = cut - (long)torn.Offset < WireFormat.HeaderLength ? CorruptionKind.Truncated : CorruptionKind.Structural;
                    Assert.That(range.Reason, Is.EqualTo(kind), where + ": a sealed segment is fsynced whole, so a length past its end is damage");
                }

                cases++;
            }
        }

        TestContext.Out.WriteLine($"salvage cuts: {cases} cases");
    }

    private static IEnumerable<(string Name, byte[] Garbage, bool TailTolerated)> Garbage()
    {
        foreach (int n in new[] { 1, 2, 3, 23, 24, 25, 100, 4096, 70_000 })
        {
            yield return ($"{n} zero bytes", new byte[n], true);
        }

        var random = new Random(77);
        foreach (int n in new[] { 1, 5, 23, 24, 25, 64, 1000, 5000, 300_000 })
        {
            var b = new byte[n];
            random.NextBytes(b);
            b[0] = (byte)(b[0] == (byte)'D' ? 'E' : b[0] | 1);
            yield return ($"{n} random bytes", b, n < WireFormat.HeaderLength);
        }

        var frame = WireFormat.Encode(RecordType.Put, 12, "gk"u8, "garbage value"u8);
        var badCrc = (byte[])frame.Clone();
        badCrc[^1] ^= 0x5A;
        yield return ("a valid frame with a wrong CRC", badCrc, true);
        var bigBadCrc = WireFormat.Encode(RecordType.Put, 13, "gk"u8, new byte[5000]);
        bigBadCrc[^1] ^= 1;
        yield return ("a 5 KB frame with a wrong CRC", bigBadCrc, true);
        yield return ("a valid header with a short body", frame[..(frame.Length - 5)], true);
        yield return ("a valid header alone", frame[..WireFormat.HeaderLength], true);
        var huge = (byte[])frame[..WireFormat.HeaderLength].Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(huge.AsSpan(20), WireFormat.MaxPayloadLength);
        yield return ("a header claiming a 64 MiB payload", huge, true);
        var over = (byte[])huge.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(over.AsSpan(20), WireFormat.MaxPayloadLength + 1);
        yield return ("a header claiming 64 MiB + 1", over, false);
        yield return ("DWAL repeated", [.. Enumerable.Repeat("DWAL"u8.ToArray(), 300).SelectMany(x => x)], false);
    }

    [Test]
    public void Garbage_inserted_at_every_frame_boundary_is_one_skipped_range_and_every_record_survives()
    {
        using var dir = new TempDir("salvage-garbage");
        var content = _records.Select(r => (r.Type, r.TxId, r.Key, r.Payload)).ToList();
        int cases = 0;
        foreach (var (id, original) in _image)
        {
            var boundaries = _records.Where(r => r.Segment == id).Select(r => (int)r.Offset).Append(original.Length).ToList();
            foreach (int at in boundaries)
            {
                foreach (var (name, garbage, tailTolerated) in Garbage())
                {
                    WriteImage(dir.Path, _image);
                    File.WriteAllBytes(Seg(dir.Path, id), [.. original[..at], .. garbage, .. original[at..]]);
                    string where = $"seg {id} at {at}: {name}";
                    var (records, report) = Salvage(dir.Path);
                    Assert.That(records.Select(r => (r.Type, r.TxId, r.Key, r.Payload)).ToList(), Is.EqualTo(content), where);
                    bool atTail = id == _last && at == original.Length;
                    if (atTail && tailTolerated)
                    {
                        Assert.That((report.TailTruncated, report.TailBytesDiscarded), Is.EqualTo((1, (long)garbage.Length)), where);
                        Assert.That(report.SkippedRanges, Is.Empty, where);
                    }
                    else
                    {
                        Assert.That(report.TailTruncated, Is.Zero, where);
                        var range = report.SkippedRanges.Single();
                        Assert.That((range.Segment, range.Offset, range.Length), Is.EqualTo((id, (long)at, (long)garbage.Length)), where);
                    }

                    cases++;
                }
            }
        }

        TestContext.Out.WriteLine($"salvage garbage insertions: {cases} cases");
    }

    [Test]
    public void Strict_mode_is_unchanged_and_writers_stay_strict_with_a_hint_outside_the_message()
    {
        using var dir = new TempDir("salvage-strict");
        WriteImage(dir.Path, _image);
        var frame = _records.First(r => r.Segment == 2);
        XorByte(Seg(dir.Path, 2), (long)frame.Offset + 30, 0x01);
        var before = Image(dir.Path);

        var strict = ReadUntilCorrupt(dir.Path);
        Assert.That(strict.Error, Is.Not.Null);
        Assert.That(strict.Report.SkippedRanges, Is.Empty);
        var e = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path).Dispose())!;
        Assert.That(e.Message, Does.Not.Contain("ReadMode").And.Not.Contain("datawal salvage"), "pinned messages stay as they were");
        Assert.That(e.Hint, Does.Contain("ReadMode.Salvage").And.Contain("datawal salvage"));
        Assert.That(RecordLogReader.Open(dir.Path).Mode, Is.EqualTo(ReadMode.Strict));

        var (records, report) = Salvage(dir.Path);
        Assert.That(records, Has.Count.EqualTo(_records.Count - 1));
        Assert.That(report.SkippedRanges.Single(), Is.EqualTo(new SkippedRange(2, (long)frame.Offset, frame.Length, CorruptionKind.CrcMismatch)));

        var visited = new List<ulong>();
        var replayed = RecordLogReader.Open(dir.Path, ReadMode.Salvage).Replay(new Visitor(visited));
        Assert.That(visited, Is.EqualTo(records.Select(r => r.TxId)));
        Assert.That(replayed, Is.EqualTo(report).Using<RecoveryReport>((a, b) => a.RecordsReplayed == b.RecordsReplayed && a.SkippedRanges.SequenceEqual(b.SkippedRanges)));

        Assert.That(Image(dir.Path), Is.EqualTo(before), "readers change nothing");
    }

    private sealed class Visitor(List<ulong> txIds) : IFrameVisitor
    {
        public void Visit(LogFrame frame) => txIds.Add(frame.TxId);
    }

    // ---- hostile segments under a time and allocation watchdog

    private static readonly TimeSpan Pathological = TimeSpan.FromSeconds(10);

    /// <summary>Salvages one segment holding <paramref name="bytes"/>; asserts time and allocation bounds; returns the frames found.</summary>
    private static (List<Record> Records, RecoveryReport Report) Hostile(string name, byte[] bytes, long allocationBound = 4 * 1024 * 1024)
    {
        using var dir = new TempDir("salvage-hostile");
        File.WriteAllBytes(Seg(dir.Path, 1), bytes);
        File.WriteAllBytes(Seg(dir.Path, 2), WireFormat.Encode(RecordType.Put, ulong.MaxValue, "after"u8, "x"u8));
        var records = new List<Record>();
        var it = RecordLogReader.Open(dir.Path, ReadMode.Salvage).ScanIter();
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        foreach (var r in it)
        {
            records.Add(r);
        }

        clock.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore - records.Sum(r => 128 + r.Key.Length + r.Payload.Length);
        TestContext.Out.WriteLine($"{name}: {bytes.Length:N0} B in {clock.Elapsed.TotalMilliseconds:F0} ms, {allocated:N0} B allocated, {records.Count} frames, {it.RecoveryReport.SkippedRanges.Count} ranges");
        Assert.That(clock.Elapsed, Is.LessThan(Pathological), name + ": pathological time");
        Assert.That(allocated, Is.LessThan(allocationBound), name + ": memory must not follow the segment's size or its claimed lengths");
        Assert.That(records[^1].Key.ToArray(), Is.EqualTo("after"u8.ToArray()), name + ": the next segment is still read");
        return (records[..^1], it.RecoveryReport);
    }

    [Test]
    public void Random_garbage_larger_than_the_memory_bound_is_streamed_and_planted_frames_are_found()
    {
        var random = new Random(3);
        var bytes = new byte[12 * 1024 * 1024];
        random.NextBytes(bytes);
        var planted = new List<byte[]>();
        for (int i = 0; i < 40; i++)
        {
            var payload = new byte[random.Next(0, i % 4 == 0 ? 300_000 : 2000)];
            random.NextBytes(payload);
            var frame = WireFormat.Encode((RecordType)(i % 3), (ulong)i + 1, i % 3 == 0 ? [] : [(byte)i], payload);
            int at = (bytes.Length / 41 * (i + 1)) + random.Next(100);
            frame.CopyTo(bytes, at);
            planted.Add(frame);
        }

        var (records, report) = Hostile("12 MiB random garbage with 40 planted frames", bytes, 4 * 1024 * 1024 + 400_000);
        Assert.That(records.Select(r => r.TxId), Is.EqualTo(Enumerable.Range(1, 40).Select(i => (ulong)i)));
        for (int i = 0; i < planted.Count; i++)
        {
            Assert.That(WireFormat.Encode(records[i].Type, records[i].TxId, records[i].Key.Span, records[i].Payload.Span), Is.EqualTo(planted[i]));
        }

        Assert.That(report.SkippedRanges, Has.Count.EqualTo(41));
        Assert.That(report.SkippedRanges.Sum(r => r.Length) + planted.Sum(f => f.Length), Is.EqualTo(bytes.Length), "every byte is a frame or skipped");
    }

    [Test]
    public void All_DWAL_bytes_are_one_structural_range()
    {
        var bytes = Enumerable.Repeat("DWAL"u8.ToArray(), 1024 * 1024).SelectMany(x => x).ToArray();
        var (records, report) = Hostile("4 MiB of DWAL", bytes);
        Assert.That(records, Is.Empty);
        Assert.That(report.SkippedRanges.Single(), Is.EqualTo(new SkippedRange(1, 0, bytes.Length, CorruptionKind.Structural)));
    }

    [Test]
    public void Dense_valid_headers_each_claiming_to_the_end_of_the_file_cost_linear_time()
    {
        // A header every 24 bytes, each claiming (nearly) the rest of the file with every byte present: checking
        // each by reading its claimed frame would read ~ L²/48 bytes (≈ 90 GB here); the running CRC reads each once.
        const int size = 3 * 1024 * 1024;
        var bytes = new byte[size];
        var valid = WireFormat.Encode(RecordType.Put, 7, "real"u8, "value"u8);
        int end = size - valid.Length;
        for (int at = 0; at + WireFormat.HeaderLength <= end; at += WireFormat.HeaderLength)
        {
            "DWAL"u8.CopyTo(bytes.AsSpan(at));
            bytes[at + 4] = 1;
            bytes[at + 6] = 1;
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at + 8), (ulong)at);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at + 20), (uint)Math.Min(WireFormat.MaxPayloadLength, size - at - 28 - (at % 7)));
        }

        valid.CopyTo(bytes, end);
        var (records, report) = Hostile("3 MiB of valid headers claiming to the end", bytes, 8 * 1024 * 1024);
        Assert.That(records.Select(r => r.TxId), Is.EqualTo(new ulong[] { 7 }));
        Assert.That(report.SkippedRanges.Single(), Is.EqualTo(new SkippedRange(1, 0, end, CorruptionKind.CrcMismatch)));
    }

    [Test]
    public void Headers_claiming_64_MiB_in_a_small_file_allocate_nothing_big()
    {
        var random = new Random(4);
        var output = new List<byte>();
        for (int i = 0; i < 2000; i++)
        {
            var h = new byte[WireFormat.HeaderLength];
            "DWAL"u8.CopyTo(h);
            h[4] = 1;
            h[6] = (byte)random.Next(3);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(16), i % 5 == 0 ? WireFormat.MaxKeyLength : 0u);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(20), WireFormat.MaxPayloadLength);
            output.AddRange(h);
            output.AddRange(new byte[random.Next(0, 40)]);
        }

        var valid = WireFormat.Encode(RecordType.Put, 9, "k"u8, "v"u8);
        output.AddRange(valid);
        var (records, report) = Hostile("2000 headers claiming 64 MiB", [.. output], 2 * 1024 * 1024);
        Assert.That(records.Single().TxId, Is.EqualTo(9ul));
        Assert.That(report.SkippedRanges.Single().Reason, Is.EqualTo(CorruptionKind.Structural), "a sealed segment: a length past its end is damage");
    }

    [Test]
    public void A_payload_holding_a_whole_valid_frame_is_found_as_a_frame_when_resync_lands_inside_it()
    {
        // Documented limit of resync (ReadMode.Salvage): it cannot tell a nested frame from a record.
        var inner = WireFormat.Encode(RecordType.Put, 1000, "inner"u8, "carried"u8);
        var outer = WireFormat.Encode(RecordType.Put, 2, "outer"u8, [.. "xx"u8, .. inner, .. "yy"u8]);
        var first = WireFormat.Encode(RecordType.Put, 1, "a"u8, "1"u8);
        var third = WireFormat.Encode(RecordType.Put, 3, "c"u8, "3"u8);

        var intact = Hostile("nested, intact", [.. first, .. outer, .. third]).Records;
        Assert.That(intact.Select(r => r.TxId), Is.EqualTo(new ulong[] { 1, 2, 3 }), "an intact outer frame is read whole: its payload is not searched");

        var damaged = (byte[])outer.Clone();
        damaged[0] ^= 0xFF;
        var (records, report) = Hostile("nested, outer header damaged", [.. first, .. damaged, .. third]);
        Assert.That(records.Select(r => r.TxId), Is.EqualTo(new ulong[] { 1, 1000, 3 }), "the carried frame surfaces");
        Assert.That(report.SkippedRanges, Has.Count.EqualTo(2));
    }

    // ---- SalvageToAsync: progress and cancellation

    [Test]
    public async Task SalvageToAsync_reports_bytes_scanned_up_to_the_source_size()
    {
        using var dir = new TempDir("salvage-progress");
        using (var log = RecordLog.Open(dir["log"]))
        {
            for (int i = 0; i < 10_000; i++)
            {
                log.Append(B($"record {i}"));
                if (i == 5_000)
                {
                    log.Rotate();
                }
            }
        }

        long size = Directory.GetFiles(dir["log"], "*.dwal").Sum(f => new FileInfo(f).Length);
        var reports = new List<LogSalvageProgress>();
        var result = await RecordLogReader.Open(dir["log"]).SalvageToAsync(dir["out"], new Reports<LogSalvageProgress>(reports.Add));
        Assert.That(result.RecordsWritten, Is.EqualTo(10_000));
        Assert.That(reports, Has.Count.GreaterThanOrEqualTo(3));
        Assert.That(reports.Select(r => r.BytesTotal).Distinct(), Is.EqualTo(new[] { size }));
        Assert.That(reports.Select(r => r.BytesScanned), Is.Ordered.Ascending);
        Assert.That(reports.Select(r => r.RecordsWritten), Is.Ordered.Ascending);
        Assert.That(reports[^1], Is.EqualTo(new LogSalvageProgress(size, size, 10_000)));
        Assert.That(reports[0].BytesScanned, Is.GreaterThan(0).And.LessThan(size));
    }

    [Test]
    public void SalvageToAsync_stops_when_cancelled()
    {
        using var dir = new TempDir("salvage-cancel");
        using (var log = RecordLog.Open(dir["log"]))
        {
            for (int i = 0; i < 10_000; i++)
            {
                log.Append(B($"record {i}"));
            }
        }

        using var cts = new CancellationTokenSource();
        var reports = new List<LogSalvageProgress>();
        var reader = RecordLogReader.Open(dir["log"]);
        Assert.That(
            async () => await reader.SalvageToAsync(dir["out"], new Reports<LogSalvageProgress>(p => { reports.Add(p); cts.Cancel(); }), cts.Token),
            Throws.InstanceOf<OperationCanceledException>());
        Assert.That(reports, Has.Count.EqualTo(1));
        Assert.That(reports[0].RecordsWritten, Is.LessThan(10_000));
    }

    private sealed class Reports<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    // ---- SalvageTo

    [Test]
    public void SalvageTo_writes_every_intact_record_byte_for_byte_into_a_strict_upstream_compatible_log()
    {
        using var dir = new TempDir("salvage-to-src");
        using var outDir = new TempDir("salvage-to-out");
        WriteImage(dir.Path, _image);
        var damaged = _records.First(r => r.Segment == 2);
        XorByte(Seg(dir.Path, 2), (long)damaged.Offset + 17, 0x10);   // a length field
        var source = Image(dir.Path);
        string target = Path.Combine(outDir.Path, "new");

        var result = RecordLogReader.Open(dir.Path).SalvageTo(target);

        Assert.That(Image(dir.Path), Is.EqualTo(source), "the source is never modified");
        Assert.That(result.RecordsWritten, Is.EqualTo(_records.Count - 1));
        Assert.That(result.RecordsRenumbered, Is.Zero);
        Assert.That(result.LastTxId, Is.EqualTo(_records[^1].TxId));
        Assert.That(result.SegmentsWritten, Is.EqualTo(1));
        Assert.That(result.Report.SkippedRanges.Single(), Is.EqualTo(new SkippedRange(2, (long)damaged.Offset, damaged.Length, CorruptionKind.Structural)));

        var kept = _records.Where(r => r != damaged).ToList();
        var expectedFrames = kept.SelectMany(r => _image[r.Segment].AsSpan((int)r.Offset, (int)r.Length).ToArray()).ToArray();
        Assert.That(File.ReadAllBytes(Seg(target, 1)), Is.EqualTo(expectedFrames), "the frames, byte for byte, in log order");
        Assert.That(result.BytesWritten, Is.EqualTo(expectedFrames.Length));

        using (var log = RecordLog.Open(target))
        {
            Assert.That(log.RecoveryReport.TailTruncated, Is.Zero);
            Assert.That(log.NextTxId, Is.EqualTo(result.LastTxId + 1));
        }

        AssertUpstreamReads(target, kept.Select(r => r.TxId).ToList());
    }

    /// <summary>Upstream's rules, independently: <c>^\d{8}\.dwal$</c> files in id order, whole valid frames to the end of each.</summary>
    private static void AssertUpstreamReads(string dir, List<ulong> txIds)
    {
        var files = Directory.GetFiles(dir).Select(Path.GetFileName).Where(n => SegmentName().IsMatch(n!)).Order(StringComparer.Ordinal).ToList();
        var seen = new List<ulong>();
        foreach (var name in files)
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir, name!));
            int at = 0;
            while (at < bytes.Length)
            {
                Assert.That(bytes.Length - at, Is.GreaterThanOrEqualTo(28), $"{name} at {at}: a whole frame");
                Assert.That(bytes.AsSpan(at, 4).SequenceEqual("DWAL"u8) && bytes[at + 4] == 1 && bytes[at + 5] == 0 && bytes[at + 6] <= 2 && bytes[at + 7] == 0, $"{name} at {at}: header");
                long length = 28L + BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 16)) + BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 20));
                Assert.That(at + length, Is.LessThanOrEqualTo(bytes.Length), $"{name} at {at}: length");
                uint crc = System.IO.Hashing.Crc32.HashToUInt32(System.IO.Hashing.Crc32ParameterSet.Crc32C, bytes.AsSpan(at, (int)length - 4));
                Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + (int)length - 4)), Is.EqualTo(crc), $"{name} at {at}: CRC");
                seen.Add(BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at + 8)));
                at += (int)length;
            }
        }

        Assert.That(seen, Is.EqualTo(txIds));
        Assert.That(seen, Is.Ordered.Ascending.And.Unique, "txids strictly increase");
    }

    [GeneratedRegex(@"^\d{8}\.dwal$")]
    private static partial Regex SegmentName();

    [Test]
    public void SalvageTo_renumbers_txids_that_do_not_increase_and_says_so()
    {
        using var dir = new TempDir("salvage-renumber");
        using var outDir = new TempDir("salvage-renumber-out");
        File.WriteAllBytes(Seg(dir.Path, 1), [
            .. WireFormat.Encode(RecordType.Put, 5, "a"u8, "1"u8),
            .. WireFormat.Encode(RecordType.Put, 3, "b"u8, "2"u8),
            .. WireFormat.Encode(RecordType.Delete, 9, "a"u8, default),
            .. WireFormat.Encode(RecordType.Raw, 9, default, "r"u8)]);
        var result = RecordLogReader.Open(dir.Path, ReadMode.Salvage).SalvageTo(outDir.Path);
        Assert.That((result.RecordsWritten, result.RecordsRenumbered, result.LastTxId), Is.EqualTo((4L, 2L, 10UL)));
        var records = ReadAll(outDir.Path);
        Assert.That(records.Select(r => r.TxId), Is.EqualTo(new ulong[] { 5, 6, 9, 10 }));
        Assert.That(records.Select(r => (r.Type, S(Convert.FromHexString(r.Key)), S(Convert.FromHexString(r.Payload)))), Is.EqualTo(new[]
        {
            (RecordType.Put, "a", "1"), (RecordType.Put, "b", "2"), (RecordType.Delete, "a", ""), (RecordType.Raw, "", "r"),
        }));
        AssertUpstreamReads(outDir.Path, [5, 6, 9, 10]);
    }

    [Test]
    public void SalvageTo_refuses_a_non_empty_target_and_a_file()
    {
        using var dir = new TempDir("salvage-refuse");
        using var outDir = new TempDir("salvage-refuse-out");
        WriteImage(dir.Path, _image);
        File.WriteAllText(outDir["keep.txt"], "x");
        var e = Assert.Throws<DataWalException>(() => RecordLogReader.Open(dir.Path).SalvageTo(outDir.Path))!;
        Assert.That(e.Message, Does.Contain("not empty"));
        Assert.Throws<DataWalException>(() => RecordLogReader.Open(dir.Path).SalvageTo(outDir["keep.txt"]));
        Assert.Throws<DataWalException>(() => RecordLogReader.Open(dir.Path).SalvageTo(dir.Path), "never into the source");
        Assert.That(Directory.GetFiles(outDir.Path), Has.Length.EqualTo(1));
    }

    [Test]
    public void SalvageTo_of_an_empty_or_wholly_damaged_log_writes_an_empty_valid_log()
    {
        using var dir = new TempDir("salvage-empty");
        using var outDir = new TempDir("salvage-empty-out");
        File.WriteAllBytes(Seg(dir.Path, 1), new byte[100].Select(_ => (byte)0x41).ToArray());
        var result = RecordLogReader.Open(dir.Path).SalvageTo(outDir.Path);
        Assert.That((result.RecordsWritten, result.SegmentsWritten, result.LastTxId), Is.EqualTo((0L, 1, 0UL)));
        Assert.That(result.Report.SkippedRanges.Single(), Is.EqualTo(new SkippedRange(1, 0, 100, CorruptionKind.Structural)));
        using var log = RecordLog.Open(outDir.Path);
        Assert.That(log.NextTxId, Is.EqualTo(1ul));
    }
}

/// <summary>Follow in <see cref="ReadMode.Salvage"/> (docs/design.md D16): damage in a sealed segment is skipped and reported.</summary>
public class SalvageFollowTests
{
    private static async Task<List<Record>> FollowUntil(string directory, FollowOptions options, int count)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var records = new List<Record>();
        await foreach (var record in RecordLogReader.Open(directory).FollowAsync(FollowPosition.Start, options, cts.Token))
        {
            records.Add(record);
            if (records.Count == count)
            {
                break;
            }
        }

        return records;
    }

    [Test]
    public async Task A_follower_in_salvage_mode_skips_a_damaged_frame_of_a_sealed_segment_reports_it_and_goes_on()
    {
        using var dir = new TempDir();
        var written = new List<(ulong TxId, RecordRef Ref)>();
        using (var log = RecordLog.Open(dir.Path))
        {
            for (int s = 0; s < 3; s++)
            {
                if (s > 0)
                {
                    log.Rotate();
                }

                for (int i = 0; i < 4; i++)
                {
                    var at = log.Append(System.Text.Encoding.UTF8.GetBytes($"segment {s} record {i}"));
                    written.Add((log.NextTxId - 1, at));
                }
            }
        }

        // Flip a payload byte of the second record of segment 2: a CRC mismatch in a sealed segment.
        var damaged = written[5].Ref;
        string path = SegmentFiles.PathFor(dir.Path, 2);
        var bytes = File.ReadAllBytes(path);
        bytes[(int)damaged.Offset + WireFormat.HeaderLength + 1] ^= 0x10;
        File.WriteAllBytes(path, bytes);

        Assert.That(async () => await FollowUntil(dir.Path, new FollowOptions(), written.Count - 1), Throws.InstanceOf<CorruptRecordException>(), "strict by default");

        var skipped = new List<SkippedRange>();
        var records = await FollowUntil(dir.Path, new FollowOptions { Mode = ReadMode.Salvage, Skipped = skipped.Add }, written.Count - 1);
        Assert.That(records.Select(r => r.TxId), Is.EqualTo(written.Where(w => w.Ref != damaged).Select(w => w.TxId)));
        Assert.That(skipped, Is.EqualTo(new[] { new SkippedRange(2, (long)damaged.Offset, damaged.Length, CorruptionKind.CrcMismatch) }));
    }

    [Test]
    public void The_mode_is_checked_when_set() =>
        Assert.That(() => new FollowOptions { Mode = (ReadMode)7 }, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("Mode"));
}
