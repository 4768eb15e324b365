using NUnit.Framework;
using TestChild;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>RecordLogReader (docs/design.md U2.6–U2.7, upstream reader_api.rs docs/design.md U7.12, docs/design.md D6: readers never modify anything).</summary>
public class ReaderTests
{
    [Test]
    public void Reader_opens_without_taking_writer_lock()
    {
        using var dir = new TempDir();
        using var writer = RecordLog.Open(dir.Path);
        writer.Append(B("a"));
        var reader = RecordLogReader.Open(dir.Path);
        Assert.That(reader.ScanIter().Select(r => S(r.Payload)), Is.EqualTo(new[] { "a" }));
        writer.Append(B("b"));
        writer.Fsync();
        Assert.That(writer.Scan(), Has.Count.EqualTo(2));
        Assert.That(reader.Directory, Is.EqualTo(dir.Path));
    }

    [Test]
    public void Reader_open_fails_on_missing_path()
    {
        using var dir = new TempDir();
        string missing = dir["missing"];
        var e = Assert.Throws<StoreNotFoundException>(() => RecordLogReader.Open(missing));
        Assert.That(e!.Message, Is.EqualTo($"datawal: stat reader dir {missing}: No such file or directory (os error 2); no store there: the directory does not exist (a reader never creates it)"));
        Assert.That(e.Directory, Is.EqualTo(missing));
        Assert.That(e, Is.InstanceOf<DataWalException>(), "existing catch (DataWalException) callers still catch it");
        Assert.That(Directory.Exists(missing), Is.False, "a reader creates nothing");
    }

    [Test]
    public void Reader_open_fails_on_non_directory_path()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["file"], "x");
        var e = Assert.Throws<DataWalException>(() => RecordLogReader.Open(dir["file"]));
        Assert.That(e!.Message, Is.EqualTo($"datawal: reader dir {dir["file"]} is not a directory"));
    }

    [Test]
    public void Reader_open_succeeds_on_empty_dir()
    {
        using var dir = new TempDir();
        var reader = RecordLogReader.Open(dir.Path);
        Assert.That(reader.Segments, Is.Empty);
        var iterator = reader.ScanIter();
        Assert.That(iterator.ToList(), Is.Empty);
        Assert.That(iterator.RecoveryReport, Is.EqualTo(new RecoveryReport()));
        Assert.That(dir.Entries(), Is.Empty, "no segment and no .lock created");
    }

    [Test]
    public void Reader_segments_match_snapshot_taken_at_open()
    {
        using var dir = new TempDir();
        using var writer = RecordLog.Open(dir.Path);
        writer.AppendRecord(RecordType.Put, B("a"), B("1"));
        writer.Rotate();
        writer.AppendRecord(RecordType.Put, B("b"), B("2"));
        writer.Rotate();
        writer.AppendRecord(RecordType.Put, B("c"), B("3"));

        var reader = RecordLogReader.Open(dir.Path);
        Assert.That(reader.Segments, Is.EqualTo(new uint[] { 1, 2, 3 }));

        writer.Rotate();
        writer.AppendRecord(RecordType.Put, B("d"), B("4"));
        Assert.That(reader.Segments, Is.EqualTo(new uint[] { 1, 2, 3 }));
        Assert.That(reader.ScanIter().Select(r => S(r.Key)), Is.EqualTo(new[] { "a", "b", "c" }));
        Assert.That(reader.ScanIter().Segments, Is.EqualTo(new uint[] { 1, 2, 3 }));
    }

    [Test]
    public void Reader_observes_writer_appends_within_snapshot_segments()
    {
        using var dir = new TempDir();
        using var writer = RecordLog.Open(dir.Path);
        writer.Append(B("first"));
        var reader = RecordLogReader.Open(dir.Path);
        writer.Append(B("second"));
        Assert.That(reader.ScanIter().Select(r => S(r.Payload)), Is.EqualTo(new[] { "first", "second" }));
    }

    [Test]
    public void Reader_scan_iter_can_be_called_multiple_times()
    {
        using var dir = new TempDir();
        using (var writer = RecordLog.Open(dir.Path))
        {
            for (int i = 0; i < 5; i++)
            {
                writer.Append(B($"r{i}"));
            }
        }

        var reader = RecordLogReader.Open(dir.Path);
        var passes = Enumerable.Range(0, 3).Select(_ => Recs(reader.ScanIter())).ToList();
        Assert.That(passes[0], Has.Count.EqualTo(5));
        Assert.That(passes[1], Is.EqualTo(passes[0]));
        Assert.That(passes[2], Is.EqualTo(passes[0]));
        var iterator = reader.ScanIter();
        var once = Recs(iterator);
        Assert.That(Recs(iterator), Is.EqualTo(once), "one iterator enumerated twice");
    }

    [Test]
    public void Reader_tolerates_unfsynced_tail_on_last_segment_and_leaves_it()
    {
        using var dir = new TempDir();
        using (var writer = RecordLog.Open(dir.Path))
        {
            writer.Append(B("a"));
            writer.Append(B("b"));
        }

        AppendBytes(Seg(dir.Path, 1), [0xAA, 0xBB, 0xCC]);
        var before = File.ReadAllBytes(Seg(dir.Path, 1));
        var records = ReadAll(dir.Path, out var report);
        Assert.That(records.Select(r => r.Payload), Is.EqualTo(new[] { Hex(B("a")), Hex(B("b")) }));
        Assert.That(report, Is.EqualTo(new RecoveryReport { FilesScanned = 1, RecordsReplayed = 2, TailTruncated = 1, TailBytesDiscarded = 3, LastTxIdSeen = 2 }));
        Assert.That(File.ReadAllBytes(Seg(dir.Path, 1)), Is.EqualTo(before), "readers never cut");
        Assert.That(report.TailCut, Is.False);
    }

    [Test]
    public void Reader_hard_errors_on_corrupt_sealed_segment()
    {
        using var dir = new TempDir();
        using (var writer = RecordLog.Open(dir.Path))
        {
            writer.Append(B("a"));
            writer.Append(B("b"));
            writer.Rotate();
            writer.Append(B("c"));
        }

        long length = new FileInfo(Seg(dir.Path, 1)).Length;
        XorByte(Seg(dir.Path, 1), length - 2, 0xFF);
        var seen = new List<string>();
        var e = Assert.Throws<CorruptRecordException>(() =>
        {
            foreach (var r in RecordLogReader.Open(dir.Path).ScanIter())
            {
                seen.Add(S(r.Payload));
            }
        });
        Assert.That(seen, Is.EqualTo(new[] { "a" }));
        Assert.That(e!.Message, Is.EqualTo($"datawal: CRC mismatch at offset 29 of non-tail segment 1 ({Seg(dir.Path, 1)})"));
        Assert.That((e.Segment, e.Offset, e.Kind), Is.EqualTo((1u, 29UL, CorruptionKind.CrcMismatch)));
    }

    // ---- our additions ----

    [Test]
    public void Reader_iterator_report_accumulates_as_it_goes()
    {
        using var dir = new TempDir();
        using (var writer = RecordLog.Open(dir.Path))
        {
            writer.Append(B("a"));
            writer.Rotate();
            writer.Append(B("b"));
            writer.Append(B("c"));
        }

        AppendBytes(Seg(dir.Path, 2), [1, 2]);
        var iterator = RecordLogReader.Open(dir.Path).ScanIter();
        using (var e = iterator.GetEnumerator())
        {
            Assert.That(e.MoveNext(), Is.True);
            Assert.That(iterator.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 1, RecordsReplayed = 1, LastTxIdSeen = 1 }));
            Assert.That(e.MoveNext(), Is.True);
            Assert.That(iterator.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 2, RecordsReplayed = 2, LastTxIdSeen = 2 }));
            Assert.That(e.MoveNext() && !e.MoveNext(), Is.True);
        }

        Assert.That(iterator.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 2, RecordsReplayed = 3, TailTruncated = 1, TailBytesDiscarded = 2, LastTxIdSeen = 3 }));
    }

    [Test]
    public void A_segment_removed_after_the_snapshot_is_skipped_by_the_resume_rule()
    {
        using var dir = new TempDir();
        using (var writer = RecordLog.Open(dir.Path))
        {
            writer.Append(B("a"));
            writer.Rotate();
            writer.Append(B("b"));
        }

        // docs/design.md D15: retention and compaction remove segments under readers; a pass re-lists and
        // continues from the lowest segment that exists, returning nothing twice (once an error naming it).
        var reader = RecordLogReader.Open(dir.Path);
        File.Delete(Seg(dir.Path, 2));
        Assert.That(reader.ScanIter().Select(r => S(r.Payload)), Is.EqualTo(new[] { "a" }));
        Assert.That(RecordLogReader.Open(dir.Path).ScanIter().Select(r => S(r.Payload)), Is.EqualTo(new[] { "a" }), "a fresh snapshot no longer has it");
    }

    [Test]
    public void Reader_changes_nothing_in_a_damaged_store()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("truncated_tail", dir.Path);
        File.Move(Seg(dir.Path, 1), Seg(dir.Path, 2));
        Corpus.CopyTo("valid_log", dir.Path);
        AppendBytes(Seg(dir.Path, 2), [0, 0, 0]);
        var entries = dir.Entries();
        var image = Image(dir.Path);
        var times = entries.ToDictionary(e => e, e => File.GetLastWriteTimeUtc(dir[e]));

        for (int i = 0; i < 3; i++)
        {
            ReadAll(dir.Path);
        }

        Assert.That(dir.Entries(), Is.EqualTo(entries));
        Assert.That(Image(dir.Path), Is.EqualTo(image));
        Assert.That(entries.ToDictionary(e => e, e => File.GetLastWriteTimeUtc(dir[e])), Is.EqualTo(times));
    }

    [Test]
    public void Reader_sees_a_partially_written_frame_as_a_tail_and_the_rest_once_written()
    {
        using var dir = new TempDir();
        using (var writer = RecordLog.Open(dir.Path))
        {
            writer.Append(B("whole"));
        }

        var frame = WireFormat.Encode(RecordType.Raw, 2, [], B("in flight"));
        for (int written = 1; written < frame.Length; written++)
        {
            using (var stream = new FileStream(Seg(dir.Path, 1), FileMode.Open, FileAccess.Write))
            {
                stream.SetLength(33);
                stream.Position = 33;
                stream.Write(frame.AsSpan(0, written));
            }

            var records = ReadAll(dir.Path, out var report);
            Assert.That(records, Has.Count.EqualTo(1), $"{written} bytes of the frame visible");
            Assert.That((report.TailTruncated, report.TailBytesDiscarded), Is.EqualTo((1, (long)written)));
        }

        AppendBytes(Seg(dir.Path, 1), frame.AsSpan(frame.Length - 1));
        Assert.That(ReadAll(dir.Path).Select(r => r.Payload), Is.EqualTo(new[] { Hex(B("whole")), Hex(B("in flight")) }));
    }

    [Test]
    public void Reader_runs_beside_a_writer_in_another_process()
    {
        using var dir = new TempDir();
        using var child = ChildProcess.Start("append-loop", dir.Path, "0", "50", "600");
        Assert.That(child.WaitForLine("OPENED", TimeSpan.FromSeconds(30)), Is.True, child.StandardError);

        int passes = 0;
        int longest = 0;
        bool done = false;
        while (!done)
        {
            done = child.HasExited || SawDone(child);
            var reader = RecordLogReader.Open(dir.Path);
            var records = reader.ScanIter().ToList();
            passes++;
            for (int i = 0; i < records.Count; i++)
            {
                Assert.That(Generation.Parse(records[i].Payload.Span), Is.EqualTo(i), $"pass {passes}: record {i} is whole and in order");
                Assert.That(records[i].TxId, Is.EqualTo((ulong)i + 1));
            }

            Assert.That(records.Count, Is.GreaterThanOrEqualTo(longest), "a later pass never sees fewer records");
            longest = records.Count;
        }

        Assert.That(child.HasExited, Is.False, child.StandardError);
        Assert.That(longest, Is.EqualTo(600), "the final pass saw every record");
        Assert.That(RecordLogReader.Open(dir.Path).Segments, Is.EqualTo(Enumerable.Range(1, 13).Select(i => (uint)i)));
    }

    private static bool SawDone(ChildProcess child)
    {
        while (child.ReadLine(TimeSpan.Zero) is { } line)
        {
            if (line == "DONE")
            {
                return true;
            }
        }

        return false;
    }
}
