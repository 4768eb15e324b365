using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using DataWal.Core;
using DataWal.Kv;

namespace DataWal.Cli;

/// <summary>
/// The <c>--json</c> output, schema <c>datawal.cli.v1</c>: one compact object per line, properties in
/// upstream's order (<c>schema</c>, <c>kind</c>, then the kind's fields), bytes as standard padded base64.
/// Written with <see cref="Utf8JsonWriter"/> property by property so the order is explicit.
/// </summary>
internal static class JsonLines
{
    public const string Schema = "datawal.cli.v1";

    // The default encoder escapes '+' (and other HTML-sensitive characters) as \u002B; serde_json only
    // escapes '"', '\' and control characters, and base64 is full of '+'.
    private static readonly JsonWriterOptions Options = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = false,
    };

    public static string Record(Record r) => Write("record", w =>
    {
        w.WriteNumber("segment", r.Segment);
        w.WriteNumber("offset", r.Offset);
        w.WriteNumber("len", r.Length);
        w.WriteString("record_type", TypeName(r.Type));
        w.WriteNumber("txid", r.TxId);
        w.WriteBase64String("key_base64", r.Key.Span);
        w.WriteBase64String("payload_base64", r.Payload.Span);
    });

    public static string Frame(Record r) => Write("frame", w =>
    {
        w.WriteNumber("segment", r.Segment);
        w.WriteNumber("offset", r.Offset);
        w.WriteNumber("len", r.Length);
        w.WriteString("record_type", TypeName(r.Type));
        w.WriteNumber("txid", r.TxId);
        w.WriteNumber("key_len", r.Key.Length);
        w.WriteNumber("payload_len", r.Payload.Length);
    });

    public static string Value(byte[] key, byte[] value) => Write("value", w =>
    {
        w.WriteBase64String("key_base64", key);
        w.WriteBase64String("value_base64", value);
        w.WriteNumber("value_len", value.Length);
    });

    public static string Miss(byte[] key) => Write("miss", w => w.WriteBase64String("key_base64", key));

    public static string Report(RecoveryReport r) => Write("report", w => ReportFields(w, r));

    private static void ReportFields(Utf8JsonWriter w, RecoveryReport r)
    {
        w.WriteNumber("files_scanned", r.FilesScanned);
        w.WriteNumber("records_replayed", r.RecordsReplayed);
        w.WriteNumber("tail_truncated", r.TailTruncated);
        w.WriteNumber("tail_bytes_discarded", r.TailBytesDiscarded);
        w.WriteNumber("mid_stream_errors", r.MidStreamErrors);
        w.WriteNumber("unsupported_versions", r.UnsupportedVersions);
        w.WriteNumber("last_txid_seen", r.LastTxIdSeen);
    }

    /// <summary><c>report --space</c>: upstream's report fields, then the disk use (absent without <c>--space</c>).</summary>
    public static string Report(RecoveryReport r, SpaceUsage usage) => Write("report", w =>
    {
        ReportFields(w, r);
        w.WriteStartArray("segments");
        foreach (var (id, bytes) in usage.Segments)
        {
            w.WriteStartObject();
            w.WriteNumber("segment", id);
            w.WriteNumber("bytes", bytes);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteNumber("total_bytes", usage.TotalBytes);
        w.WriteBoolean("kv_view", usage.Kv is not null);
        if (usage.Kv is { } kv)
        {
            w.WriteNumber("live_keys", kv.LiveKeys);
            w.WriteNumber("live_bytes", kv.LiveBytes);
            w.WriteNumber("dead_bytes", kv.DeadBytes);
            w.WriteNumber("dead_fraction", Math.Round(kv.DeadFraction, 4));
        }
        else
        {
            w.WriteNull("live_keys");
            w.WriteNull("live_bytes");
            w.WriteNull("dead_bytes");
            w.WriteNull("dead_fraction");
        }

        w.WriteBoolean("compaction_worthwhile", usage.CompactionWorthwhile);
    });

    public static string Verify(long framesChecked, int crcFailures, RecoveryReport r, uint lastSegment, ulong lastOffset) => Write("verify", w =>
    {
        w.WriteNumber("frames_checked", framesChecked);
        w.WriteNumber("crc_failures", crcFailures);
        w.WriteNumber("tail_truncated", r.TailTruncated);
        w.WriteNumber("tail_bytes_discarded", r.TailBytesDiscarded);
        w.WriteNumber("last_segment", lastSegment);
        w.WriteNumber("last_offset", lastOffset);
    });

    public static string Check(long keysChecked, RecoveryReport r) => Write("check", w =>
    {
        w.WriteNumber("keys_checked", keysChecked);
        w.WriteNumber("tail_truncated", r.TailTruncated);
        w.WriteNumber("tail_bytes_discarded", r.TailBytesDiscarded);
        w.WriteNumber("mid_stream_errors", r.MidStreamErrors);
        w.WriteNumber("unsupported_versions", r.UnsupportedVersions);
    });

    public static string Export(string outfile, long recordsWritten, long bytesWritten) => Write("export", w =>
    {
        w.WriteString("outfile", outfile);
        w.WriteNumber("records_written", recordsWritten);
        w.WriteNumber("bytes_written", bytesWritten);
    });

    public static string Compact(string target, CompactionStats stats) => Write("compact", w =>
    {
        w.WriteString("target", target);
        w.WriteNumber("live_keys", stats.LiveKeys);
        w.WriteNumber("records_written", stats.RecordsWritten);
        w.WriteNumber("bytes_written", stats.BytesWritten);
    });

    /// <summary>The kind of <c>compact --in-place</c>'s line (its fields differ from the copy's <c>compact</c>).</summary>
    public const string CompactInPlaceKind = "compact_in_place";

    public static string CompactInPlace(string store, KvCompactionResult r) => Write(CompactInPlaceKind, w =>
    {
        w.WriteString("store", store);
        w.WriteNumber("segments_compacted", r.SegmentsCompacted);
        w.WriteNumber("segments_deleted", r.SegmentsDeleted);
        w.WriteNumber("live_keys", r.LiveKeys);
        w.WriteNumber("bytes_before", r.BytesBefore);
        w.WriteNumber("bytes_after", r.BytesAfter);
        w.WriteNumber("bytes_reclaimed", r.BytesReclaimed);
        w.WriteNumber("elapsed_ms", Milliseconds(r.Elapsed));
    });

    public static string Truncate(string store, IReadOnlyList<uint> deleted, long bytesDeleted, uint? firstSegment) => Write("truncate", w =>
    {
        w.WriteString("store", store);
        w.WriteStartArray("deleted");
        foreach (uint id in deleted)
        {
            w.WriteNumberValue(id);
        }

        w.WriteEndArray();
        w.WriteNumber("segments_deleted", deleted.Count);
        w.WriteNumber("bytes_deleted", bytesDeleted);
        if (firstSegment is uint first)
        {
            w.WriteNumber("first_segment", first);
        }
        else
        {
            w.WriteNull("first_segment");
        }
    });

    /// <summary>The extra line of a read-only command run with <c>--salvage</c> that skipped ranges.</summary>
    public static string Skipped(IReadOnlyList<SkippedRange> ranges) => Write("skipped", w => SkippedRanges(w, ranges));

    /// <summary><c>salvage STORE OUT</c>: what was written to OUT, what the salvage pass read, and every skipped range.</summary>
    public static string Salvage(string store, string outDirectory, SalvageSummary s) => Write("salvage", w =>
    {
        w.WriteString("store", store);
        w.WriteString("out", outDirectory);
        w.WriteString("mode", s.Kv ? "kv" : "log");
        w.WriteNumber("records_written", s.RecordsWritten);
        if (s.Kv)
        {
            w.WriteNumber("live_keys", s.RecordsWritten);
            w.WriteNull("records_renumbered");
        }
        else
        {
            w.WriteNull("live_keys");
            w.WriteNumber("records_renumbered", s.RecordsRenumbered);
        }

        w.WriteNumber("bytes_written", s.BytesWritten);
        w.WriteNumber("segments_written", s.SegmentsWritten);
        w.WriteNumber("last_txid", s.LastTxId);
        w.WriteNumber("files_scanned", s.Report.FilesScanned);
        w.WriteNumber("records_read", s.Report.RecordsReplayed);
        w.WriteNumber("tail_truncated", s.Report.TailTruncated);
        w.WriteNumber("tail_bytes_discarded", s.Report.TailBytesDiscarded);
        SkippedRanges(w, s.Report.SkippedRanges);
    });

    private static void SkippedRanges(Utf8JsonWriter w, IReadOnlyList<SkippedRange> ranges)
    {
        w.WriteStartArray("skipped_ranges");
        foreach (var range in ranges)
        {
            w.WriteStartObject();
            w.WriteNumber("segment", range.Segment);
            w.WriteNumber("offset", range.Offset);
            w.WriteNumber("length", range.Length);
            w.WriteString("reason", Cli.Salvage.ReasonName(range.Reason));
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    /// <summary>Wall time in milliseconds, one decimal.</summary>
    public static double Milliseconds(TimeSpan elapsed) => Math.Round(elapsed.TotalMilliseconds, 1);

    public static string Doctor(DoctorFindings f) => Write("doctor", w =>
    {
        w.WriteString("dir", f.Directory);
        w.WriteString("fs_type", f.FileSystemType);
        w.WriteString("mount_point", f.MountPoint);
        w.WriteBoolean("fsync_ok", f.FsyncError is null);
        w.WriteString("fsync_error", f.FsyncError);
        w.WriteBoolean("dir_fsync_ok", f.DirectoryFsyncError is null);
        w.WriteString("dir_fsync_error", f.DirectoryFsyncError);
        if (f.FsyncMedianMicroseconds is double median)
        {
            w.WriteNumber("fsync_median_us", Math.Round(median, 1));
        }
        else
        {
            w.WriteNull("fsync_median_us");
        }

        w.WriteNumber("fsync_samples", f.FsyncSamples);
        if (f.FreeBytes is long free)
        {
            w.WriteNumber("free_bytes", free);
        }
        else
        {
            w.WriteNull("free_bytes");
        }

        w.WriteNumber("segments", f.Segments);
        w.WriteBoolean("locked", f.Locked);
        w.WriteStartArray("warnings");
        foreach (var warning in f.Warnings)
        {
            w.WriteStringValue(warning);
        }

        w.WriteEndArray();
        w.WriteString("fs_class", f.FileSystemClass);
        w.WriteString("dir_mode", f.DirectoryMode);
        w.WriteBoolean("dir_shared_writable", f.SharedWritableDirectory);
        w.WriteString("lock_file", f.LockFile);
        if (f.LockHolderPid is int pid)
        {
            w.WriteNumber("lock_holder_pid", pid);
        }
        else
        {
            w.WriteNull("lock_holder_pid");
        }
    });

    /// <summary>
    /// Under <c>--json</c>, the line on stderr that replaces <c>datawal: error: ...</c>: the command (null for a usage
    /// error before one was chosen), the message people would read, and the process exit code.
    /// </summary>
    public static string Error(string? command, string message, int exitCode) => Write("error", w =>
    {
        w.WriteString("command", command);
        w.WriteString("message", message);
        w.WriteNumber("exit_code", exitCode);
    });

    /// <summary>Under <c>--json</c>, the line on stderr that replaces a <c>datawal: ...: note: ...</c> line.</summary>
    public static string Note(string? command, string message) => Write("note", w =>
    {
        w.WriteString("command", command);
        w.WriteString("message", message);
    });

    /// <summary>The upstream names of the record types (Rust's <c>Debug</c> of the enum).</summary>
    public static string TypeName(RecordType type) => type switch
    {
        RecordType.Raw => "Raw",
        RecordType.Put => "Put",
        RecordType.Delete => "Delete",
        _ => type.ToString(),
    };

    private static string Write(string kind, Action<Utf8JsonWriter> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            writer.WriteStartObject();
            writer.WriteString("schema", Schema);
            writer.WriteString("kind", kind);
            fields(writer);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
