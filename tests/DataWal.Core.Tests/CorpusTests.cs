using NUnit.Framework;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// The frozen upstream corpus (shared/corpus/README.md, docs/design.md U10, upstream corpus_fixtures.rs docs/design.md U7.5).
/// Every test copies the fixture into a temporary directory first.
/// </summary>
public class CorpusTests
{
    private static readonly string[] Openable = ["valid_log", "truncated_tail", "delete_tombstone", "compact_to_output"];

    [TestCase("bad_crc/00000001.dwal", "df75013167e2fe81893284eef2796baa2450af76ccfb7db9624927f31ba7b8cb")]
    [TestCase("bad_crc/00000002.dwal", "6a7f5c774715000aa3f37b3a544d4b2ea2ffe7473366c27b959177115fd603ae")]
    [TestCase("bad_crc/00000003.dwal", "9943bf8b8627e0bb68eff872e4e5296f8b338f7f8f3523623b2a8dd58a75dfd0")]
    [TestCase("compact_to_output/00000001.dwal", "f864e842cafb610f74c15761eb633b51560bc2b2eb2b24bb78af4ca085141151")]
    [TestCase("delete_tombstone/00000001.dwal", "5cc670d8d21302d697c4c65c0a7ad3c84b29510c0ed26d06a8814553dd00ee38")]
    [TestCase("truncated_tail/00000001.dwal", "ba7a29f6d193faf35b7e005ad628537ff213f21357d1c3eeb1a91441f13a9d2c")]
    [TestCase("unknown_version/00000001.dwal", "7f32c494ecac41c9103e294f0f9d23cfc7d86702fe63fd74dd6e75add505ec89")]
    [TestCase("valid_log/00000001.dwal", "59ea8fb222ad61a0c3692e95ea34570bb3e91e018e242d42f15de9d09a549564")]
    public void Fixture_bytes_are_pinned(string file, string sha256)
    {
        Assert.That(Sha256(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Corpus", file))), Is.EqualTo(sha256));
    }

    [Test]
    public void Corpus_holds_exactly_the_documented_files()
    {
        var root = Path.Combine(AppContext.BaseDirectory, "Corpus");
        var files = Directory.GetFiles(root, "*.dwal", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);
        Assert.That(files, Is.EqualTo(new[]
        {
            "bad_crc/00000001.dwal", "bad_crc/00000002.dwal", "bad_crc/00000003.dwal", "compact_to_output/00000001.dwal",
            "delete_tombstone/00000001.dwal", "truncated_tail/00000001.dwal", "unknown_version/00000001.dwal", "valid_log/00000001.dwal",
        }));
    }

    [Test]
    public void Valid_log_scans_three_records()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("valid_log", dir.Path);
        using var log = RecordLog.Open(dir.Path);
        Assert.That(Recs(log.Scan()), Is.EqualTo(new[]
        {
            new Rec(RecordType.Raw, 1, "", Hex(B("alpha")), 1, 0, 33),
            new Rec(RecordType.Raw, 2, "", Hex(B("beta")), 1, 33, 32),
            new Rec(RecordType.Raw, 3, "", Hex(B("gamma")), 1, 65, 33),
        }));
        Assert.That(log.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 1, RecordsReplayed = 3, LastTxIdSeen = 3 }));
        Assert.That(log.NextTxId, Is.EqualTo(4UL));
    }

    [Test]
    public void Valid_log_scan_is_idempotent()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("valid_log", dir.Path);
        using var log = RecordLog.Open(dir.Path);
        var first = Recs(log.Scan());
        var firstReport = log.RecoveryReport;
        Assert.That(Recs(log.Scan()), Is.EqualTo(first));
        Assert.That(log.RecoveryReport, Is.EqualTo(firstReport));
    }

    [Test]
    public void Valid_log_reopen_is_idempotent_and_leaves_the_bytes_alone()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("valid_log", dir.Path);
        List<Rec> first;
        RecoveryReport firstReport;
        using (var log = RecordLog.Open(dir.Path))
        {
            first = Recs(log.Scan());
            firstReport = log.RecoveryReport;
        }

        using (var log = RecordLog.Open(dir.Path))
        {
            Assert.That(log.RecoveryReport, Is.EqualTo(firstReport));
            Assert.That(Recs(log.Scan()), Is.EqualTo(first));
        }

        Assert.That(File.ReadAllBytes(Seg(dir.Path, 1)), Is.EqualTo(File.ReadAllBytes(Path.Combine(Corpus.Source("valid_log"), "00000001.dwal"))));
    }

    [Test]
    public void Truncated_tail_reader_reports_the_tail_and_modifies_nothing()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("truncated_tail", dir.Path);
        var before = File.ReadAllBytes(Seg(dir.Path, 1));

        var records = ReadAll(dir.Path, out var report);

        Assert.That(records, Is.EqualTo(new[]
        {
            new Rec(RecordType.Raw, 1, "", Hex(B("one")), 1, 0, 31),
            new Rec(RecordType.Raw, 2, "", Hex(B("two")), 1, 31, 31),
        }));
        Assert.That(report, Is.EqualTo(new RecoveryReport { FilesScanned = 1, RecordsReplayed = 2, TailTruncated = 1, TailBytesDiscarded = 28, LastTxIdSeen = 2 }));
        Assert.That(File.ReadAllBytes(Seg(dir.Path, 1)), Is.EqualTo(before));
        Assert.That(Sha256(before), Is.EqualTo("ba7a29f6d193faf35b7e005ad628537ff213f21357d1c3eeb1a91441f13a9d2c"));
        Assert.That(dir.Entries(), Is.EqualTo(new[] { "00000001.dwal" }), "a reader creates no .lock and no segment");
    }

    [Test]
    public void Truncated_tail_writer_open_cuts_then_append_gets_txid_3_at_offset_62_and_survives_reopen()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("truncated_tail", dir.Path);
        string segment = Seg(dir.Path, 1);
        Assert.That(new FileInfo(segment).Length, Is.EqualTo(90));

        using (var log = RecordLog.Open(dir.Path))
        {
            Assert.That(log.RecoveryReport, Is.EqualTo(new RecoveryReport
            {
                FilesScanned = 1,
                RecordsReplayed = 2,
                TailTruncated = 1,
                TailBytesDiscarded = 28,
                LastTxIdSeen = 2,
                TailCut = true,
            }));
            Assert.That(new FileInfo(segment).Length, Is.EqualTo(62), "the damaged tail is cut before anything is appended");
            Assert.That(log.NextTxId, Is.EqualTo(3UL));

            var written = log.Append(B("three"));
            Assert.That(written, Is.EqualTo(new RecordRef(1, 62, 33)));
            Assert.That(Recs(log.Scan())[^1], Is.EqualTo(new Rec(RecordType.Raw, 3, "", Hex(B("three")), 1, 62, 33)));
        }

        using (var log = RecordLog.Open(dir.Path))
        {
            Assert.That(log.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 1, RecordsReplayed = 3, LastTxIdSeen = 3 }));
            Assert.That(log.Scan().Select(r => (S(r.Payload), r.TxId, r.Offset)), Is.EqualTo(new[] { ("one", 1UL, 0UL), ("two", 2UL, 31UL), ("three", 3UL, 62UL) }));
        }

        // The repaired file is exactly what upstream wrote before the fixture was cut.
        var expected = new[] { ("one", 1UL), ("two", 2UL), ("three", 3UL) }
            .SelectMany(x => WireFormat.Encode(RecordType.Raw, x.Item2, [], B(x.Item1))).ToArray();
        Assert.That(File.ReadAllBytes(segment), Is.EqualTo(expected));
    }

    [Test]
    public void Bad_crc_open_fails_naming_segment_2_offset_0_and_the_file()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("bad_crc", dir.Path);
        var before = Image(dir.Path);

        var e = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path));

        Assert.That(e!.Message, Is.EqualTo($"datawal: CRC mismatch at offset 0 of non-tail segment 2 ({Seg(dir.Path, 2)})"));
        Assert.That((e.Segment, e.Offset, e.Kind), Is.EqualTo((2u, 0UL, CorruptionKind.CrcMismatch)));
        Assert.That(Image(dir.Path), Is.EqualTo(before), "a failed open changes no segment");
    }

    [Test]
    public void Bad_crc_reader_yields_the_first_segment_then_the_same_error()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("bad_crc", dir.Path);
        var reader = RecordLogReader.Open(dir.Path);
        Assert.That(reader.Segments, Is.EqualTo(new uint[] { 1, 2, 3 }));
        var seen = new List<Rec>();
        var e = Assert.Throws<CorruptRecordException>(() =>
        {
            foreach (var r in reader.ScanIter())
            {
                seen.Add(Rec.Of(r));
            }
        });
        Assert.That(seen, Is.EqualTo(new[] { new Rec(RecordType.Raw, 1, "", Hex(B("good")), 1, 0, 32) }));
        Assert.That(e!.Message, Is.EqualTo($"datawal: CRC mismatch at offset 0 of non-tail segment 2 ({Seg(dir.Path, 2)})"));
        Assert.That((e.Segment, e.Offset, e.Kind), Is.EqualTo((2u, 0UL, CorruptionKind.CrcMismatch)));
    }

    [Test]
    public void Unknown_version_open_fails_with_a_structural_error_at_offset_0_of_segment_1()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("unknown_version", dir.Path);
        var e = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path));
        Assert.That(e!.Message, Is.EqualTo(
            $"datawal: structural decode error at offset 0 of segment 1 ({Seg(dir.Path, 1)}): datawal: unknown wire version 51966 (this build supports 1)"));
        Assert.That((e.Segment, e.Offset, e.Kind), Is.EqualTo((1u, 0UL, CorruptionKind.Structural)));
        Assert.That(e.InnerException, Is.InstanceOf<InvalidFrameException>());
        Assert.That(e.InnerException!.Message, Is.EqualTo("datawal: unknown wire version 51966 (this build supports 1)"));
        Assert.That(Sha256(File.ReadAllBytes(Seg(dir.Path, 1))), Is.EqualTo("7f32c494ecac41c9103e294f0f9d23cfc7d86702fe63fd74dd6e75add505ec89"));

        var reader = RecordLogReader.Open(dir.Path);
        var e2 = Assert.Throws<CorruptRecordException>(() => reader.ScanIter().ToList());
        Assert.That(e2!.Message, Is.EqualTo(e.Message));
    }

    [Test]
    public void Delete_tombstone_underlying_log_replays_all_records()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("delete_tombstone", dir.Path);
        using var log = RecordLog.Open(dir.Path);
        var records = Recs(log.Scan());
        Assert.That(records, Is.EqualTo(new[]
        {
            new Rec(RecordType.Put, 1, Hex(B("alpha")), Hex(B("1")), 1, 0, 34),
            new Rec(RecordType.Put, 2, Hex(B("beta")), Hex(B("2")), 1, 34, 33),
            new Rec(RecordType.Put, 3, Hex(B("alpha")), Hex(B("3")), 1, 67, 34),
            new Rec(RecordType.Delete, 4, Hex(B("beta")), "", 1, 101, 32),
        }));
        Assert.That(log.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 1, RecordsReplayed = 4, LastTxIdSeen = 4 }));

        // The last-write-wins projection of these frames: one live key, alpha = "3".
        var live = new Dictionary<string, string>();
        foreach (var r in log.Scan())
        {
            if (r.Type == RecordType.Put)
            {
                live[S(r.Key)] = S(r.Payload);
            }
            else if (r.Type == RecordType.Delete)
            {
                live.Remove(S(r.Key));
            }
        }

        Assert.That(live, Is.EqualTo(new Dictionary<string, string> { ["alpha"] = "3" }));
    }

    [Test]
    public void Compact_to_output_has_two_puts_sorted_by_key_and_no_tombstones()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("compact_to_output", dir.Path);
        using var log = RecordLog.Open(dir.Path);
        Assert.That(Recs(log.Scan()), Is.EqualTo(new[]
        {
            new Rec(RecordType.Put, 1, Hex(B("keep")), Hex(B("final")), 1, 0, 37),
            new Rec(RecordType.Put, 2, Hex(B("other")), Hex(B("value")), 1, 37, 38),
        }));
        Assert.That(log.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 1, RecordsReplayed = 2, LastTxIdSeen = 2 }));
    }

    [TestCaseSource(nameof(Openable))]
    public void Reopen_twice_yields_same_records(string fixture)
    {
        using var dir = new TempDir();
        Corpus.CopyTo(fixture, dir.Path);
        List<Rec> first;
        using (var log = RecordLog.Open(dir.Path))
        {
            first = Recs(log.Scan());
        }

        using (var log = RecordLog.Open(dir.Path))
        {
            Assert.That(Recs(log.Scan()), Is.EqualTo(first));
        }

        Assert.That(first, Is.Not.Empty);
    }

    [Test]
    public void Encoder_reproduces_valid_log_byte_for_byte()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("alpha"));
            log.Append(B("beta"));
            log.Append(B("gamma"));
            log.Fsync();
        }

        var bytes = File.ReadAllBytes(Seg(dir.Path, 1));
        Assert.That(bytes, Is.EqualTo(File.ReadAllBytes(Path.Combine(Corpus.Source("valid_log"), "00000001.dwal"))));
        Assert.That(Sha256(bytes), Is.EqualTo("59ea8fb222ad61a0c3692e95ea34570bb3e91e018e242d42f15de9d09a549564"));
        Assert.That(Hex(bytes), Is.EqualTo(
            "4457414c0100000001000000000000000000000005000000616c70686159e778f6" +
            "4457414c01000000020000000000000000000000040000006265746195629a8b" +
            "4457414c010000000300000000000000000000000500000067616d6d6146096c02"));
    }

    [Test]
    public void Encoder_reproduces_delete_tombstone_byte_for_byte()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.AppendRecord(RecordType.Put, B("alpha"), B("1"));
            log.AppendRecord(RecordType.Put, B("beta"), B("2"));
            log.AppendRecord(RecordType.Put, B("alpha"), B("3"));
            log.AppendRecord(RecordType.Delete, B("beta"), []);
            log.Fsync();
        }

        var bytes = File.ReadAllBytes(Seg(dir.Path, 1));
        Assert.That(bytes, Is.EqualTo(File.ReadAllBytes(Path.Combine(Corpus.Source("delete_tombstone"), "00000001.dwal"))));
        Assert.That(Sha256(bytes), Is.EqualTo("5cc670d8d21302d697c4c65c0a7ad3c84b29510c0ed26d06a8814553dd00ee38"));
    }

    [Test]
    public void Encoder_reproduces_compact_to_output_frames_byte_for_byte()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.AppendRecord(RecordType.Put, B("keep"), B("final"));
            log.AppendRecord(RecordType.Put, B("other"), B("value"));
            log.Fsync();
        }

        Assert.That(Sha256(File.ReadAllBytes(Seg(dir.Path, 1))), Is.EqualTo("f864e842cafb610f74c15761eb633b51560bc2b2eb2b24bb78af4ca085141151"));
    }

    [Test]
    public void Encoder_reproduces_the_bad_crc_and_unknown_version_fixtures_before_their_damage()
    {
        // bad_crc: one record per segment, then byte 29 of segment 2 XOR 0xFF.
        var seg2 = WireFormat.Encode(RecordType.Raw, 2, [], B("this-will-be-corrupted"));
        seg2[29] ^= 0xFF;
        Assert.That(Sha256(WireFormat.Encode(RecordType.Raw, 1, [], B("good"))), Is.EqualTo("df75013167e2fe81893284eef2796baa2450af76ccfb7db9624927f31ba7b8cb"));
        Assert.That(Sha256(seg2), Is.EqualTo("6a7f5c774715000aa3f37b3a544d4b2ea2ffe7473366c27b959177115fd603ae"));
        Assert.That(Sha256(WireFormat.Encode(RecordType.Raw, 3, [], B("after"))), Is.EqualTo("9943bf8b8627e0bb68eff872e4e5296f8b338f7f8f3523623b2a8dd58a75dfd0"));

        // unknown_version: version bytes overwritten with FE CA, CRC left alone.
        var first = WireFormat.Encode(RecordType.Raw, 1, [], B("first"));
        first[4] = 0xFE;
        first[5] = 0xCA;
        Assert.That(Sha256(first), Is.EqualTo("7f32c494ecac41c9103e294f0f9d23cfc7d86702fe63fd74dd6e75add505ec89"));
    }

    /// <summary>Item 7: <c>Scan</c>, <c>ScanIter</c> and <c>RecordLogReader.ScanIter</c> agree on every fixture.</summary>
    [TestCaseSource(nameof(Openable))]
    public async Task Eager_and_lazy_scans_agree_on_openable_fixtures(string fixture)
    {
        using var readerDir = new TempDir();
        Corpus.CopyTo(fixture, readerDir.Path);
        var readerIterator = RecordLogReader.Open(readerDir.Path).ScanIter();
        var fromReader = Recs(readerIterator);
        var readerReport = readerIterator.RecoveryReport;
        Assert.That(Recs(readerIterator), Is.EqualTo(fromReader), "a reader's iterator is repeatable");

        using var writerDir = new TempDir();
        Corpus.CopyTo(fixture, writerDir.Path);
        using var log = RecordLog.Open(writerDir.Path);
        var openReport = log.RecoveryReport;
        var iterator = log.ScanIter();
        var lazy = Recs(iterator);
        var eager = Recs(log.Scan());

        var asynchronous = new List<Rec>();
        await foreach (var record in log.ScanAsync())
        {
            asynchronous.Add(Rec.Of(record));
        }

        Assert.That(lazy, Is.EqualTo(fromReader));
        Assert.That(eager, Is.EqualTo(fromReader));
        Assert.That(asynchronous, Is.EqualTo(fromReader));
        Assert.That(openReport, Is.EqualTo(readerReport with { TailCut = readerReport.TailTruncated > 0 }),
            "a writer open reports what a reader sees, plus whether it cut the tail");
        Assert.That(iterator.RecoveryReport, Is.EqualTo(log.RecoveryReport), "after the open's cut, eager and lazy reports agree");
        Assert.That(log.RecoveryReport, Is.EqualTo(readerReport with { TailTruncated = 0, TailBytesDiscarded = 0 }));
    }

    [TestCase("bad_crc", 1)]
    [TestCase("unknown_version", 0)]
    public void Eager_and_lazy_scans_agree_on_failing_fixtures(string fixture, int recordsBeforeError)
    {
        using var dir = new TempDir();
        Corpus.CopyTo(fixture, dir.Path);
        var writerError = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path))!;

        var reader = RecordLogReader.Open(dir.Path);
        for (int pass = 0; pass < 2; pass++)
        {
            int seen = 0;
            var iterator = reader.ScanIter();
            var e = Assert.Throws<CorruptRecordException>(() =>
            {
                foreach (var unused in iterator)
                {
                    seen++;
                }
            });
            Assert.That(e!.Message, Is.EqualTo(writerError.Message));
            Assert.That((e.Segment, e.Offset, e.Kind), Is.EqualTo((writerError.Segment, writerError.Offset, writerError.Kind)));
            Assert.That(seen, Is.EqualTo(recordsBeforeError));
            Assert.That(iterator.RecoveryReport.RecordsReplayed, Is.EqualTo(recordsBeforeError));
        }
    }
}
