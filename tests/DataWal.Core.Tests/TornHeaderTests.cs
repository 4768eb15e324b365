using System.Threading.Channels;
using NUnit.Framework;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// docs/design.md D13, widened (docs/reliability.md, round 2): a power loss can keep the first bytes of the next frame's
/// header (even 1–4 bytes of its magic) and zero-fill the rest of the file. On the last segment that is a
/// torn tail like any other; in a sealed segment, and for bytes that cannot start a valid header, it is not.
/// </summary>
public class TornHeaderTests
{
    /// <summary>Fill lengths: none, 1, 100, 4096, and "up to the next 4 KiB page boundary" (-1).</summary>
    private static readonly int[] Fills = [0, 1, 100, 4096, -1];

    private SortedDictionary<uint, byte[]> _image = null!;
    private List<Rec> _records = null!;
    private byte[] _nextHeader = null!;

    [OneTimeSetUp]
    public void BuildTemplate()
    {
        using var dir = new TempDir();
        ulong next;
        using (var log = RecordLog.Open(dir.Path))
        {
            log.AppendRecord(RecordType.Put, B("a"), B("1"));
            log.Append(B("hello"));
            log.Rotate();
            log.Append(Pattern(10, 1));
            log.AppendRecord(RecordType.Delete, B("a"), []);
            log.AppendRecord(RecordType.Put, B("k1"), Pattern(40, 2));
            next = log.NextTxId;
        }

        _image = Image(dir.Path);
        _records = ReadAll(dir.Path);
        // The frame the writer would have appended next: a txid with several non-zero bytes, so that prefixes
        // cut inside the txid and lengths end in non-zero bytes too.
        _nextHeader = WireFormat.Encode(RecordType.Put, next | 0x0102_0304_0500UL, B("next-key"), Pattern(300, 3))[..WireFormat.HeaderLength];
        Assert.That(_image.Keys, Is.EqualTo(new uint[] { 1, 2 }));
    }

    private static int FillFor(int fill, long length) => fill >= 0 ? fill : (int)(4096 - (length % 4096));

    /// <summary>The image with <paramref name="tail"/> then <paramref name="fill"/> zeros appended to <paramref name="segment"/>.</summary>
    private SortedDictionary<uint, byte[]> With(uint segment, ReadOnlySpan<byte> tail, int fill)
    {
        var copy = new SortedDictionary<uint, byte[]>(_image.ToDictionary(kv => kv.Key, kv => (byte[])kv.Value.Clone()));
        var bytes = new byte[copy[segment].Length + tail.Length + fill];
        copy[segment].CopyTo(bytes, 0);
        tail.CopyTo(bytes.AsSpan(copy[segment].Length));
        copy[segment] = bytes;
        return copy;
    }

    [Test]
    public void A_torn_header_prefix_then_zeros_on_the_last_segment_is_a_torn_tail_cut_by_a_writer(
        [Range(1, 24)] int k, [ValueSource(nameof(Fills))] int fillKind)
    {
        using var dir = new TempDir();
        int length = _image[2].Length;
        int fill = FillFor(fillKind, length + k);
        string at = $"prefix {k} ({Hex(_nextHeader.AsSpan(0, k))}) + {fill} zeros";
        WriteImage(dir.Path, With(2, _nextHeader.AsSpan(0, k), fill));
        var expected = new RecoveryReport
        {
            FilesScanned = 2,
            RecordsReplayed = _records.Count,
            TailTruncated = 1,
            TailBytesDiscarded = k + fill,
            LastTxIdSeen = _records[^1].TxId,
        };

        var read = ReadUntilCorrupt(dir.Path);
        Assert.That(read.Error, Is.Null, at);
        Assert.That(read.Records, Is.EqualTo(_records), at);
        Assert.That(read.Report, Is.EqualTo(expected), at);
        Assert.That(new FileInfo(Seg(dir.Path, 2)).Length, Is.EqualTo(length + k + fill), $"{at}: a reader cuts nothing");

        using (var log = RecordLog.Open(dir.Path))
        {
            Assert.That(log.RecoveryReport, Is.EqualTo(expected with { TailCut = true }), at);
            Assert.That(new FileInfo(Seg(dir.Path, 2)).Length, Is.EqualTo(length), $"{at}: cut to the last valid frame");
            Assert.That(Recs(log.Scan()), Is.EqualTo(_records), at);
            Assert.That(log.Append(B("z")), Is.EqualTo(new RecordRef(2, (ulong)length, 29)), at);
            log.AppendRecord(RecordType.Put, B("k2"), B("after"));
        }

        var reopened = ReadUntilCorrupt(dir.Path);
        Assert.That(reopened.Error, Is.Null, at);
        Assert.That(reopened.Records.Take(_records.Count), Is.EqualTo(_records), at);
        Assert.That(reopened.Records.Skip(_records.Count).Select(r => r.Payload), Is.EqualTo(new[] { Hex(B("z")), Hex(B("after")) }), at);
        Assert.That(reopened.Report.TailTruncated, Is.Zero, at);
    }

    [Test]
    public void The_same_shape_in_a_sealed_segment_is_a_hard_error_and_cuts_nothing(
        [Values(1, 2, 3, 4, 5, 8, 12, 17, 23, 24)] int k, [ValueSource(nameof(Fills))] int fillKind)
    {
        using var dir = new TempDir();
        int length = _image[1].Length;
        int fill = FillFor(fillKind, length + k);
        string at = $"prefix {k} + {fill} zeros in segment 1 of 2";
        WriteImage(dir.Path, With(1, _nextHeader.AsSpan(0, k), fill));

        var read = ReadUntilCorrupt(dir.Path);
        Assert.That(read.Error, Is.Not.Null, at);
        Assert.That((read.Error!.Segment, read.Error.Offset), Is.EqualTo((1u, (ulong)length)), at);
        Assert.That(read.Records, Is.EqualTo(_records.Where(r => r.Segment == 1)), at);
        var open = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path), at);
        Assert.That(open!.Message, Is.EqualTo(read.Error.Message), at);
        Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.EqualTo(length + k + fill), $"{at}: a hard error cuts nothing");
    }

    /// <summary>Bytes no writer puts at a frame start, each followed by zeros to a remainder of 24 bytes or more.</summary>
    private static IEnumerable<TestCaseData> NotAHeaderPrefix()
    {
        yield return new TestCaseData("44574158", "magic DWAX");
        yield return new TestCaseData("58", "magic X");
        yield return new TestCaseData("0044", "a zero then D");
        yield return new TestCaseData("4457414c02", "version 2");
        yield return new TestCaseData("4457414c0001", "version 0x0100");
        yield return new TestCaseData("4457414c000001", "version 0 before a non-zero type");
        yield return new TestCaseData("4457414c010063", "type 99");
        yield return new TestCaseData("4457414c01000101", "flags 1");
        yield return new TestCaseData("4457414c01000100" + "0100000000000000" + "000002", "key_len 0x20000 > MAX_KEY_LEN");
        yield return new TestCaseData("4457414c01000100" + "0100000000000000" + "00000000" + "00000005", "payload_len 0x05000000 > MAX_PAYLOAD_LEN");
    }

    [TestCaseSource(nameof(NotAHeaderPrefix))]
    public void Bytes_that_cannot_start_a_header_then_zeros_stay_a_hard_structural_error(string hex, string what)
    {
        foreach (int fill in new[] { 24, 4096 })
        {
            using var dir = new TempDir();
            int length = _image[2].Length;
            WriteImage(dir.Path, With(2, FromHex(hex), fill));
            var read = ReadUntilCorrupt(dir.Path);
            Assert.That(read.Error, Is.Not.Null, $"{what} + {fill} zeros");
            Assert.That((read.Error!.Segment, read.Error.Offset, read.Error.Kind), Is.EqualTo((2u, (ulong)length, CorruptionKind.Structural)), what);
            Assert.That(read.Records, Is.EqualTo(_records), what);
            Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path), what);
            Assert.That(new FileInfo(Seg(dir.Path, 2)).Length, Is.EqualTo(length + (hex.Length / 2) + fill), $"{what}: a hard error cuts nothing");
        }
    }

    [Test]
    public void A_torn_header_prefix_followed_by_non_zero_bytes_is_not_a_torn_tail()
    {
        // Only zeros may follow the prefix: "DWAL" then zeros then one non-zero byte is garbage.
        using var dir = new TempDir();
        WriteImage(dir.Path, With(2, [.. "DWAL"u8, .. new byte[4096], 1], 0));
        var read = ReadUntilCorrupt(dir.Path);
        Assert.That(read.Error, Is.Not.Null);
        Assert.That(read.Error!.Kind, Is.EqualTo(CorruptionKind.Structural));
        Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path));
    }

    [Test]
    public void A_torn_header_prefix_behind_a_256_KiB_zero_fill_is_checked_in_chunks_to_the_end()
    {
        // Longer than the scanner's buffer: the zero check must read to the real end, and a single non-zero
        // byte past the first buffer still makes it garbage.
        using var dir = new TempDir();
        int fill = (LogScanner.DefaultBufferSize * 2) + 17;
        WriteImage(dir.Path, With(2, "DW"u8, fill));
        var read = ReadUntilCorrupt(dir.Path);
        Assert.That(read.Error, Is.Null);
        Assert.That((read.Report.TailTruncated, read.Report.TailBytesDiscarded), Is.EqualTo((1, 2L + fill)));

        var image = With(2, "DW"u8, fill);
        image[2][^5] = 0x01;
        WriteImage(dir.Path, image);
        Assert.That(ReadUntilCorrupt(dir.Path).Error, Is.Not.Null, "a non-zero byte past the first buffer");
    }

    [TestCase(1)]
    [TestCase(4)]
    [TestCase(11)]
    public void The_header_prefix_predicate_accepts_exactly_prefixes_of_valid_headers(int k)
    {
        Assert.That(WireFormat.IsTornHeaderPrefix(default), Is.True, "nothing is a prefix of anything");
        Assert.That(WireFormat.IsTornHeaderPrefix(_nextHeader.AsSpan(0, k)), Is.True);
        Assert.That(WireFormat.IsTornHeaderPrefix(_nextHeader), Is.True, "a whole valid header");
        var wrong = _nextHeader[..k];
        wrong[k - 1] ^= 0x40;
        bool inLengthsOrTxid = k > 8;
        Assert.That(WireFormat.IsTornHeaderPrefix(wrong), Is.EqualTo(inLengthsOrTxid), "any txid byte is fine; magic/version/type/flags must agree");
        Assert.That(WireFormat.IsTornHeaderPrefix(new byte[25]), Is.False, "longer than a header");
    }

    [Test]
    public async Task A_follower_waits_on_a_torn_header_prefix_tail_and_yields_what_a_restarted_writer_appends()
    {
        using var dir = new TempDir();
        WriteImage(dir.Path, With(2, "DWAL"u8, 4096));
        var options = new FollowOptions { PollInterval = TimeSpan.FromMilliseconds(20), WatchFileSystem = false };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var queue = Channel.CreateUnbounded<Record>();
        var pump = Task.Run(async () =>
        {
            try
            {
                await foreach (var r in RecordLogReader.Open(dir.Path).FollowAsync(FollowPosition.Start, options, cts.Token))
                {
                    queue.Writer.TryWrite(r);
                }

                queue.Writer.TryComplete(new InvalidOperationException("the follow ended"));
            }
            catch (Exception e)
            {
                queue.Writer.TryComplete(e);
            }
        });

        var seen = new List<Rec>();
        async Task Take(int n)
        {
            while (seen.Count < n)
            {
                try
                {
                    seen.Add(Rec.Of(await queue.Reader.ReadAsync(cts.Token)));
                }
                catch (ChannelClosedException e)
                {
                    Assert.Fail($"the follow failed after {seen.Count} records: {e.InnerException ?? e}");
                }
            }
        }

        await Take(_records.Count);
        Assert.That(seen, Is.EqualTo(_records));
        // Several passes over the torn tail (poll every 20 ms; structural damage is rechecked after 20 ms).
        await Task.Delay(300);
        Assert.That(queue.Reader.Completion.IsCompleted, Is.False, "the follower neither failed nor ended on the torn tail");
        Assert.That(queue.Reader.TryRead(out _), Is.False, "nothing was yielded from the torn tail");

        using (var log = RecordLog.Open(dir.Path))
        {
            Assert.That(log.RecoveryReport.TailCut, Is.True);
            log.Append(B("after-1"));
            log.AppendRecord(RecordType.Put, B("k"), B("after-2"));
        }

        await Take(_records.Count + 2);
        Assert.That(seen, Is.EqualTo(ReadAll(dir.Path)));
        await cts.CancelAsync();
        await pump;
    }
}
