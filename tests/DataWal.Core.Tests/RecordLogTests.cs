using NUnit.Framework;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>RecordLog (docs/design.md U2–U3; upstream record_log.rs docs/design.md U7.2 and the RecordLog parts of integration.rs docs/design.md U7.4).</summary>
public class RecordLogTests
{
    // ---- upstream tests/record_log.rs (14) ----

    [Test]
    public void Open_new_dir_creates_first_segment()
    {
        using var dir = new TempDir();
        string store = dir["nested/store"];
        using (var log = RecordLog.Open(store))
        {
            Assert.That(File.Exists(Seg(store, 1)), Is.True);
            Assert.That(log.ActiveSegment, Is.EqualTo(1u));
            Assert.That(log.Directory, Is.EqualTo(store));
            Assert.That(log.IsPoisoned, Is.False);
            Assert.That(log.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 1 }));
        }

        Assert.That(File.Exists(Path.Combine(store, ".lock")), Is.True, ".lock persists after dispose");
        Assert.That(new FileInfo(Seg(store, 1)).Length, Is.Zero);
        using var again = RecordLog.Open(store);
        Assert.That(SegmentFiles.List(store), Is.EqualTo(new uint[] { 1 }));
    }

    [Test]
    public void Second_open_fails_while_first_open()
    {
        using var dir = new TempDir();
        var first = RecordLog.Open(dir.Path);
        Assert.That(Assert.Throws<StoreLockedException>(() => RecordLog.Open(dir.Path))!.Message, Does.Contain("locked"));
        first.Dispose();
        Assert.DoesNotThrow(() => RecordLog.Open(dir.Path).Dispose());
    }

    [Test]
    public void Append_then_scan_roundtrip()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        var written = log.Append(B("hello"));
        Assert.That(written, Is.EqualTo(new RecordRef(1, 0, 33)));
        var records = log.Scan();
        Assert.That(records, Has.Count.EqualTo(1));
        Assert.That(Rec.Of(records[0]), Is.EqualTo(new Rec(RecordType.Raw, 1, "", Hex(B("hello")), 1, 0, 33)));
        Assert.That(records[0].Ref, Is.EqualTo(written));
    }

    [Test]
    public void Append_n_records_scan_yields_same_order()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        var refs = new List<RecordRef>();
        for (int i = 0; i < 50; i++)
        {
            refs.Add(log.Append(B($"record-{i}")));
        }

        var records = log.Scan();
        Assert.That(records.Select(r => S(r.Payload)), Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"record-{i}")));
        Assert.That(records.Select(r => r.TxId), Is.EqualTo(Enumerable.Range(1, 50).Select(i => (ulong)i)));
        Assert.That(records.Select(r => r.Ref), Is.EqualTo(refs));
    }

    [Test]
    public void Scan_empty_log_yields_empty()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        Assert.That(log.Scan(), Is.Empty);
        Assert.That(log.ScanIter().ToList(), Is.Empty);
        Assert.That(log.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 1 }));
        Assert.That((log.RecoveryReport.RecordsReplayed, log.RecoveryReport.TailTruncated, log.RecoveryReport.LastTxIdSeen), Is.EqualTo((0L, 0, 0UL)));
    }

    [Test]
    public void Crc_mismatch_in_payload_of_a_sealed_segment_fails_the_reopen()
    {
        using var dir = new TempDir();
        RecordRef second;
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("one"));
            second = log.Append(B("two"));
            log.Append(B("three"));
            log.Rotate();
            log.Append(B("four"));
        }

        XorByte(Seg(dir.Path, 1), (long)second.Offset + 24, 0xFF);
        var e = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path));
        Assert.That((e!.Segment, e.Offset, e.Kind), Is.EqualTo((1u, second.Offset, CorruptionKind.CrcMismatch)));
        Assert.That(e.Message, Is.EqualTo($"datawal: CRC mismatch at offset {second.Offset} of non-tail segment 1 ({Seg(dir.Path, 1)})"));
    }

    [Test]
    public void Truncated_tail_record_is_ignored_and_reported()
    {
        using var dir = new TempDir();
        RecordRef third;
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("alpha"));
            log.Append(B("beta"));
            third = log.Append(B("gamma"));
        }

        Truncate(Seg(dir.Path, 1), (long)third.Offset + 25);
        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.Scan().Select(r => S(r.Payload)), Is.EqualTo(new[] { "alpha", "beta" }));
        var report = reopened.RecoveryReport;   // refreshed by Scan: the tail was cut at open
        Assert.That(report.RecordsReplayed, Is.EqualTo(2));
        Assert.That(new FileInfo(Seg(dir.Path, 1)).Length, Is.EqualTo((long)third.Offset));
    }

    [Test]
    public void Truncated_tail_open_report_counts_the_discarded_bytes()
    {
        using var dir = new TempDir();
        RecordRef third;
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("alpha"));
            log.Append(B("beta"));
            third = log.Append(B("gamma"));
        }

        Truncate(Seg(dir.Path, 1), (long)third.Offset + 25);
        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.RecoveryReport, Is.EqualTo(new RecoveryReport
        {
            FilesScanned = 1,
            RecordsReplayed = 2,
            TailTruncated = 1,
            TailBytesDiscarded = 25,
            LastTxIdSeen = 2,
            TailCut = true,
        }));
    }

    [Test]
    public void Rotate_creates_new_segment_and_scan_preserves_order()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("a"));
        log.Append(B("b"));
        log.Rotate();
        Assert.That(log.ActiveSegment, Is.EqualTo(2u));
        var c = log.Append(B("c"));
        log.Append(B("d"));
        Assert.That(c, Is.EqualTo(new RecordRef(2, 0, 29)));
        Assert.That(File.Exists(Seg(dir.Path, 1)) && File.Exists(Seg(dir.Path, 2)), Is.True);
        var records = log.Scan();
        Assert.That(records.Select(r => S(r.Payload)), Is.EqualTo(new[] { "a", "b", "c", "d" }));
        Assert.That(records.Select(r => r.Segment), Is.EqualTo(new uint[] { 1, 1, 2, 2 }));
        Assert.That(records.Select(r => r.TxId), Is.EqualTo(new ulong[] { 1, 2, 3, 4 }));
        Assert.That(log.RecoveryReport.FilesScanned, Is.EqualTo(2));
    }

    [Test]
    public void Fsync_is_idempotent()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("x"));
        log.Fsync();
        log.Fsync();
        log.Fsync();
        Assert.That(log.Scan(), Has.Count.EqualTo(1));
    }

    [Test]
    public void Append_rejects_key_over_max_and_the_log_stays_usable()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        var e = Assert.Throws<RecordTooLargeException>(() => log.AppendRecord(RecordType.Put, new byte[65537], B("v")));
        Assert.That(e!.Message, Is.EqualTo("datawal: key_len 65537 exceeds MAX_KEY_LEN 65536 (WireFormat.MaxKeyLength)"));
        Assert.That(log.IsPoisoned, Is.False);
        log.Append(B("ok"));
        var records = log.Scan();
        Assert.That(records.Select(r => (S(r.Payload), r.TxId)), Is.EqualTo(new[] { ("ok", 1UL) }));
    }

    [Test]
    public void Unknown_magic_errors()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("x"));
        }

        WriteAt(Seg(dir.Path, 1), 0, B("XXXX"));
        var e = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path));
        Assert.That(e!.Kind, Is.EqualTo(CorruptionKind.Structural));
        Assert.That(e.Message, Does.EndWith("datawal: bad magic, expected DWAL, got [88, 88, 88, 88]"));
    }

    [Test]
    public void Unknown_version_errors()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("x"));
        }

        WriteAt(Seg(dir.Path, 1), 4, [0xFF, 0xFF]);
        var e = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path));
        Assert.That(e!.Message, Does.EndWith("datawal: unknown wire version 65535 (this build supports 1)"));
    }

    [Test]
    public void Unknown_record_type_errors()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("x"));
        }

        WriteAt(Seg(dir.Path, 1), 6, [0xEE]);
        var e = Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path));
        Assert.That(e!.Message, Does.EndWith("datawal: unknown record_type byte 238"));
    }

    [Test]
    public void Append_fsync_reopen()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("a"));
            log.Append(B("b"));
            log.Append(B("c"));
            log.Fsync();
        }

        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.Scan().Select(r => S(r.Payload)), Is.EqualTo(new[] { "a", "b", "c" }));
        Assert.That(reopened.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 1, RecordsReplayed = 3, LastTxIdSeen = 3 }));
    }

    // ---- upstream tests/integration.rs, RecordLog parts ----

    [Test]
    public void Recordlog_reopen_after_append()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            for (int i = 0; i < 10; i++)
            {
                log.Append(B($"r{i}"));
            }
        }

        using var reopened = RecordLog.Open(dir.Path);
        var records = reopened.Scan();
        Assert.That(records.Select(r => (r.Type, S(r.Payload))), Is.EqualTo(Enumerable.Range(0, 10).Select(i => (RecordType.Raw, $"r{i}"))));
        Assert.That((reopened.RecoveryReport.RecordsReplayed, reopened.RecoveryReport.TailTruncated), Is.EqualTo((10L, 0)));
    }

    [Test]
    public void Tail_truncation_after_reopen()
    {
        using var dir = new TempDir();
        RecordRef last;
        using (var log = RecordLog.Open(dir.Path))
        {
            log.AppendRecord(RecordType.Put, B("a"), B("alpha"));
            last = log.AppendRecord(RecordType.Put, B("b"), B("beta"));
            log.Fsync();
        }

        Truncate(Seg(dir.Path, 1), (long)last.Offset + 25);
        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.RecoveryReport, Is.EqualTo(new RecoveryReport
        {
            FilesScanned = 1,
            RecordsReplayed = 1,
            TailTruncated = 1,
            TailBytesDiscarded = 25,
            LastTxIdSeen = 1,
            TailCut = true,
        }));
        Assert.That(reopened.Scan().Select(r => (r.Type, S(r.Key), S(r.Payload))), Is.EqualTo(new[] { (RecordType.Put, "a", "alpha") }));
    }

    // ---- our additions ----

    [Test]
    public void Scan_refreshes_the_report_and_scan_iter_reports_on_its_own()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("a"));
        log.Rotate();
        log.Append(B("b"));
        Assert.That(log.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 1 }), "the open's report until a Scan");

        var iterator = log.ScanIter();
        Assert.That(iterator.RecoveryReport, Is.EqualTo(new RecoveryReport()), "nothing read yet");
        using (var e = iterator.GetEnumerator())
        {
            Assert.That(e.MoveNext(), Is.True);
            Assert.That(iterator.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 1, RecordsReplayed = 1, LastTxIdSeen = 1 }), "accumulates as it goes");
        }

        Assert.That(iterator.Count(), Is.EqualTo(2));
        Assert.That(iterator.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 2, RecordsReplayed = 2, LastTxIdSeen = 2 }));
        Assert.That(log.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 1 }), "ScanIter does not refresh the log's report");

        log.Scan();
        Assert.That(log.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 2, RecordsReplayed = 2, LastTxIdSeen = 2 }));
    }

    [Test]
    public void Scan_iter_is_bounded_by_the_writers_committed_end_at_the_call()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("before"));
        var iterator = log.ScanIter();
        log.Append(B("after"));
        log.Rotate();
        log.Append(B("next segment"));

        Assert.That(iterator.Segments, Is.EqualTo(new uint[] { 1 }));
        Assert.That(iterator.Select(r => S(r.Payload)), Is.EqualTo(new[] { "before" }));
        Assert.That(iterator.Select(r => S(r.Payload)), Is.EqualTo(new[] { "before" }), "enumerating again uses the same snapshot");
        Assert.That(log.ScanIter().Select(r => S(r.Payload)), Is.EqualTo(new[] { "before", "after", "next segment" }));
    }

    [Test]
    public void Scan_iter_can_stop_early_and_be_enumerated_concurrently_with_appends()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        for (int i = 0; i < 5; i++)
        {
            log.Append(B($"{i}"));
        }

        using (var e = log.ScanIter().GetEnumerator())
        {
            Assert.That(e.MoveNext(), Is.True);
            Assert.That(S(e.Current.Payload), Is.EqualTo("0"));
            log.Append(B("5"));
            Assert.That(e.MoveNext(), Is.True);
            Assert.That(S(e.Current.Payload), Is.EqualTo("1"));
        }

        Assert.That(log.ScanIter().Take(2).Select(r => S(r.Payload)), Is.EqualTo(new[] { "0", "1" }));
        Assert.That(log.Scan(), Has.Count.EqualTo(6));
    }

    [Test]
    public void Empty_segments_and_gaps_in_ids_are_fine()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("a"));
            log.Rotate();
            log.Rotate();
            log.Append(B("b"));
            log.Rotate();
        }

        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 1, 2, 3, 4 }));
        File.Move(Seg(dir.Path, 3), Seg(dir.Path, 7));
        File.Delete(Seg(dir.Path, 4));
        File.WriteAllText(dir["notes.txt"], "ignored");
        Directory.CreateDirectory(dir["00000009.dwal"]);

        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.ActiveSegment, Is.EqualTo(7u));
        Assert.That(Recs(reopened.Scan()), Is.EqualTo(new[]
        {
            new Rec(RecordType.Raw, 1, "", Hex(B("a")), 1, 0, 29),
            new Rec(RecordType.Raw, 2, "", Hex(B("b")), 7, 0, 29),
        }));
        Assert.That(reopened.RecoveryReport.FilesScanned, Is.EqualTo(3));
        // A rotation never creates a segment onto a name something else already holds (the directory 9).
        reopened.Rotate();
        Assert.That(reopened.ActiveSegment, Is.EqualTo(10u));
        Assert.That(reopened.Append(B("c")), Is.EqualTo(new RecordRef(10, 0, 29)));
    }

    [Test]
    public void Rotating_an_empty_segment_creates_another_and_txids_continue()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Rotate();
        log.Rotate();
        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 1, 2, 3 }));
        Assert.That(log.Append(B("x")), Is.EqualTo(new RecordRef(3, 0, 29)));
        Assert.That(log.Scan().Single().TxId, Is.EqualTo(1UL));
    }

    [Test]
    public void Records_carry_keys_of_any_type_and_every_byte_value()
    {
        using var dir = new TempDir();
        var everyByte = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.AppendRecord(RecordType.Raw, B("raw-key"), everyByte);
            log.AppendRecord(RecordType.Put, [], []);
            log.AppendRecord(RecordType.Put, new byte[16], Enumerable.Repeat((byte)0xFF, 40).ToArray());
            log.AppendRecord(RecordType.Delete, everyByte, []);
        }

        using var reopened = RecordLog.Open(dir.Path);
        var records = reopened.Scan();
        Assert.That(records.Select(r => (r.Type, r.Key.ToArray(), r.Payload.ToArray())), Is.EqualTo(new[]
        {
            (RecordType.Raw, B("raw-key"), everyByte),
            (RecordType.Put, Array.Empty<byte>(), Array.Empty<byte>()),
            (RecordType.Put, new byte[16], Enumerable.Repeat((byte)0xFF, 40).ToArray()),
            (RecordType.Delete, everyByte, Array.Empty<byte>()),
        }));
    }

    [Test]
    public void Small_read_buffer_grows_for_large_frames()
    {
        using var dir = new TempDir();
        var payloads = new[] { 0, 1, 300, 5000, 70_000, 3, 300_000 }.Select((n, i) => Pattern(n, i)).ToArray();
        using (var log = RecordLog.Open(dir.Path))
        {
            foreach (var p in payloads)
            {
                log.Append(p);
            }
        }

        using var reopened = RecordLog.Open(dir.Path, new RecordLogOptions { ReadBufferSize = 16 });
        Assert.That(reopened.Scan().Select(r => r.Payload.ToArray()), Is.EqualTo(payloads));
        Assert.That(reopened.ScanIter().Select(r => r.Payload.ToArray()), Is.EqualTo(payloads));
        Assert.That(ReadAll(dir.Path).Select(r => r.Payload), Is.EqualTo(payloads.Select(p => Hex(p))));
    }

    [Test]
    public void Maximum_key_and_payload_roundtrip_through_the_log()
    {
        using var dir = new TempDir();
        var key = Pattern(65536, 1);
        var payload = GC.AllocateUninitializedArray<byte>(67_108_864);
        payload.AsSpan().Fill(0xA5);
        payload[^1] = 0x01;
        using (var log = RecordLog.Open(dir.Path))
        {
            log.Append(B("before"));
            var written = log.AppendRecord(RecordType.Put, key, payload);
            Assert.That(written, Is.EqualTo(new RecordRef(1, 34, 24 + 65536 + 67_108_864 + 4)));
            log.Append(B("after"));
            Assert.Throws<RecordTooLargeException>(() => log.AppendRecord(RecordType.Put, key, new byte[67_108_865]));
        }

        using var reopened = RecordLog.Open(dir.Path);
        var records = reopened.Scan();
        Assert.That(records.Select(r => r.TxId), Is.EqualTo(new ulong[] { 1, 2, 3 }));
        Assert.That(records[1].Key.Span.SequenceEqual(key), Is.True);
        Assert.That(records[1].Payload.Span.SequenceEqual(payload), Is.True);
        Assert.That(S(records[2].Payload), Is.EqualTo("after"));
    }

    [Test]
    public void Open_on_a_file_path_fails_and_takes_nothing()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["file"], "x");
        Assert.Throws(Is.InstanceOf<DataWalException>(), () => RecordLog.Open(dir["file"]));
        Assert.That(File.ReadAllText(dir["file"]), Is.EqualTo("x"));
    }

    [Test]
    public void Disposed_log_refuses_calls_and_dispose_is_idempotent()
    {
        using var dir = new TempDir();
        var log = RecordLog.Open(dir.Path);
        log.Append(B("x"));
        log.Dispose();
        log.Dispose();
        Assert.Throws<ObjectDisposedException>(() => log.Append(B("y")));
        Assert.Throws<ObjectDisposedException>(() => log.Fsync());
        Assert.Throws<ObjectDisposedException>(() => log.Rotate());
        Assert.Throws<ObjectDisposedException>(() => log.Scan());
        Assert.Throws<ObjectDisposedException>(() => log.ScanIter());
        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.Scan(), Has.Count.EqualTo(1));
    }

    [Test]
    public void Writer_ignores_a_higher_segment_that_appears_after_open()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("mine"));
        File.WriteAllBytes(Seg(dir.Path, 5), WireFormat.Encode(RecordType.Raw, 99, [], B("stranger")));
        Assert.That(log.Scan().Select(r => S(r.Payload)), Is.EqualTo(new[] { "mine" }));
        Assert.That(log.ScanIter().Select(r => S(r.Payload)), Is.EqualTo(new[] { "mine" }));
    }

    [Test]
    public void Open_streams_the_log_instead_of_materialising_it()
    {
        using var dir = new TempDir();
        var payload = Pattern(10_000, 5);
        using (var log = RecordLog.Open(dir.Path))
        {
            for (int i = 0; i < 2000; i++)
            {
                log.Append(payload);
                if (i == 999)
                {
                    log.Rotate();
                }
            }
        }

        RecordLog.Open(dir.Path).Dispose();   // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        using var reopened = RecordLog.Open(dir.Path);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(reopened.RecoveryReport.RecordsReplayed, Is.EqualTo(2000));
        Assert.That(allocated, Is.LessThan(2 * 1024 * 1024), "a 20 MB log is recovered in a bounded buffer (docs/design.md D9)");
    }
}
