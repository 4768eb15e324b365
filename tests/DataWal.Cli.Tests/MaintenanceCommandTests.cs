using System.Text;
using System.Text.Json;
using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>
/// The commands that change a store — <c>compact --in-place</c> and <c>truncate</c> (writer lock, refusals, outputs) —
/// and <c>report --space</c> (numbers checked against an independent scan; upstream's fields unchanged).
/// </summary>
public class MaintenanceCommandTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-maint");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>
    /// A KV store over several segments with overwrites and deletes; returns the expected key/value view (the oracle
    /// is kept here, not read back from the store).
    /// </summary>
    private Dictionary<string, string> BuildKv(string path, int keys = 300, int rounds = 3)
    {
        var expected = new Dictionary<string, string>();
        using var kv = KvStore.Open(path);
        for (int round = 0; round < rounds; round++)
        {
            for (int i = 0; i < keys; i++)
            {
                string value = $"value {i} round {round} " + new string('x', 100);
                kv.Put(B($"key:{i:D4}"), B(value));
                expected[$"key:{i:D4}"] = value;
            }

            kv.Rotate();
        }

        for (int i = 0; i < keys; i += 7)
        {
            kv.Delete(B($"key:{i:D4}"));
            expected.Remove($"key:{i:D4}");
        }

        kv.Put(B("late"), B("in the active segment"));
        expected["late"] = "in the active segment";
        kv.Fsync();
        return expected;
    }

    /// <summary>A Raw log of <paramref name="sealedSegments"/> sealed segments of 10 records each, plus an active one with one record.</summary>
    private static string BuildLog(string path, int sealedSegments)
    {
        using var log = RecordLog.Open(path);
        for (int s = 0; s < sealedSegments; s++)
        {
            for (int i = 0; i < 10; i++)
            {
                log.Append(B($"segment {s + 1} record {i}"));
            }

            log.Rotate();
        }

        log.Append(B("active"));
        log.Fsync();
        return path;
    }

    private static long SegmentBytes(string path) =>
        SegmentFiles.List(path).Sum(id => new FileInfo(SegmentFiles.PathFor(path, id)).Length);

    private static SortedDictionary<string, string> SegmentSnapshot(string path) =>
        new(DirectorySnapshot.Capture(path).Where(e => e.Key.EndsWith(".dwal", StringComparison.Ordinal)).ToDictionary(e => e.Key, e => e.Value), StringComparer.Ordinal);

    private static Dictionary<string, string> ReadAll(string path)
    {
        using var kv = KvStore.OpenReadOnly(path);
        return kv.Items().ToDictionary(p => Encoding.UTF8.GetString(p.Key), p => Encoding.UTF8.GetString(p.Value));
    }

    // ---- compact --in-place

    [Test]
    public void Compact_in_place_keeps_every_value_and_shrinks_the_store()
    {
        string store = _dir["store"];
        var expected = BuildKv(store);
        long before = SegmentBytes(store);
        int segmentsBefore = SegmentFiles.List(store).Count;

        var r = Cli.Run("compact", store, "--in-place");

        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Err, Is.Empty);
        Assert.That(r.Lines[0], Is.EqualTo("schema:             datawal.cli.v1"));
        Assert.That(r.Lines[1], Is.EqualTo("kind:               compact_in_place"));
        Assert.That(r.Lines[2], Is.EqualTo("store:              " + store));
        Assert.That(r.Out, Does.Contain($"segments_compacted: {segmentsBefore}\n"));
        Assert.That(r.Out, Does.Contain($"live_keys:          {expected.Count}\n"));
        Assert.That(r.Out, Does.Contain($"bytes_before:       {before}\n"));
        Assert.That(r.Lines[^1], Does.StartWith($"compacted {segmentsBefore} segment(s) into 1: "));

        Assert.That(ReadAll(store), Is.EquivalentTo(expected));
        long after = SegmentBytes(store);
        Assert.That(after, Is.LessThan(before / 2), "two thirds of the Puts were overwritten");
        Assert.That(r.Out, Does.Contain($"bytes_after:        {after}\n"));
        Assert.That(r.Out, Does.Contain($"bytes_reclaimed:    {before - after}\n"));
        Assert.That(Cli.Run("check", store).Code, Is.Zero);
        Assert.That(Path.Exists(Path.Combine(store, "compaction.dwal.tmp")), Is.False);
        Assert.That(DirectoryLock.IsHeld(store), Is.False, "the lock is released");
    }

    [Test]
    public void Compact_in_place_json_line_has_the_summary_fields_in_order()
    {
        string store = _dir["store"];
        var expected = BuildKv(store);
        long before = SegmentBytes(store);
        int segmentsBefore = SegmentFiles.List(store).Count;

        var r = Cli.Run("--json", "compact", store, "--in-place");

        Assert.That(r.Code, Is.Zero, r.ToString());
        var j = r.Json.Single();
        Assert.That(j.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[]
        {
            "schema", "kind", "store", "segments_compacted", "segments_deleted", "live_keys",
            "bytes_before", "bytes_after", "bytes_reclaimed", "elapsed_ms",
        }));
        long after = SegmentBytes(store);
        Assert.That(j.GetProperty("schema").GetString(), Is.EqualTo("datawal.cli.v1"));
        Assert.That(j.GetProperty("kind").GetString(), Is.EqualTo("compact_in_place"));
        Assert.That(j.GetProperty("store").GetString(), Is.EqualTo(store));
        Assert.That(j.GetProperty("segments_compacted").GetInt32(), Is.EqualTo(segmentsBefore));
        Assert.That(j.GetProperty("segments_deleted").GetInt32(), Is.EqualTo(segmentsBefore - 1));
        Assert.That(j.GetProperty("live_keys").GetInt64(), Is.EqualTo(expected.Count));
        Assert.That(j.GetProperty("bytes_before").GetInt64(), Is.EqualTo(before));
        Assert.That(j.GetProperty("bytes_after").GetInt64(), Is.EqualTo(after));
        Assert.That(j.GetProperty("bytes_reclaimed").GetInt64(), Is.EqualTo(before - after));
        Assert.That(j.GetProperty("elapsed_ms").GetDouble(), Is.GreaterThanOrEqualTo(0));
        Assert.That(ReadAll(store), Is.EquivalentTo(expected));
    }

    [Test]
    public void Compact_in_place_is_refused_while_a_writer_holds_the_lock_and_the_copy_still_works()
    {
        string store = _dir["store"];
        BuildKv(store, keys: 50, rounds: 2);
        using var writer = KvStore.Open(store);
        writer.Put(B("from the writer"), B("1"));
        var segments = SegmentSnapshot(store);

        var r = Cli.Run("compact", store, "--in-place");

        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        Assert.That(r.Out, Is.Empty);
        Assert.That(r.Err, Does.StartWith($"datawal: error: compact: another process is writing to {store}"));
        Assert.That(r.Err, Does.Contain($"'datawal compact {store} TARGET' writes a compacted copy beside a running writer"));
        Assert.That(SegmentSnapshot(store), Is.EqualTo(segments), "nothing changed");

        var copy = Cli.Run("compact", store, _dir["copy"]);
        Assert.That(copy.Code, Is.Zero, copy.ToString());
        Assert.That(writer.Get(B("from the writer")), Is.EqualTo(B("1")), "the writer keeps working");
    }

    [Test]
    public void In_place_and_a_target_are_mutually_exclusive_and_one_of_them_is_required()
    {
        string store = _dir["store"];
        BuildKv(store, keys: 10, rounds: 1);
        var segments = SegmentSnapshot(store);
        string target = _dir["target"];

        var both = Cli.Run("compact", store, target, "--in-place");
        Assert.That(both.Code, Is.EqualTo(1), both.ToString());
        Assert.That(both.Out, Is.Empty);
        Assert.That(both.Err, Does.StartWith("datawal: error: --in-place and TARGET cannot be used together"));
        Assert.That(Path.Exists(target), Is.False);

        var neither = Cli.Run("compact", store);
        Assert.That(neither.Code, Is.EqualTo(1), neither.ToString());
        Assert.That(neither.Err, Does.StartWith("datawal: error: pass TARGET (write a compacted copy) or --in-place"));
        Assert.That(SegmentSnapshot(store), Is.EqualTo(segments));
    }

    [Test]
    public void Compact_in_place_cancelled_changes_nothing_and_exits_1()
    {
        string store = _dir["store"];
        var expected = BuildKv(store, keys: 50, rounds: 2);
        var segments = SegmentSnapshot(store);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        using var output = new StringWriter();
        using var error = new StringWriter();

        int code = Program.Run(["compact", store, "--in-place"], output, error, cancelled.Token);

        Assert.That(code, Is.EqualTo(1), error.ToString());
        Assert.That(output.ToString(), Is.Empty);
        Assert.That(error.ToString(), Does.StartWith("datawal: compact: cancelled before the compacted segment was installed"));
        Assert.That(SegmentSnapshot(store), Is.EqualTo(segments));
        Assert.That(Path.Exists(Path.Combine(store, "compaction.dwal.tmp")), Is.False);
        Assert.That(ReadAll(store), Is.EquivalentTo(expected));
    }

    [Test]
    public void Changing_commands_never_create_a_store()
    {
        string missing = _dir["missing"];
        string empty = _dir["empty"];
        Directory.CreateDirectory(empty);
        foreach (var args in new[] { new[] { "compact", missing, "--in-place" }, ["truncate", missing, "--keep-last", "1"] })
        {
            var r = Cli.Run(args);
            Assert.That(r.Code, Is.EqualTo(1), r.ToString());
            Assert.That(r.Err, Is.EqualTo($"datawal: error: store directory not found: {missing} (nothing was created)\n"));
        }

        foreach (var args in new[] { new[] { "compact", empty, "--in-place" }, ["truncate", empty, "--before", "3"] })
        {
            var r = Cli.Run(args);
            Assert.That(r.Code, Is.EqualTo(1), r.ToString());
            Assert.That(r.Err, Does.Contain("not a store (nothing was created)"));
        }

        Assert.That(Path.Exists(missing), Is.False);
        Assert.That(Directory.EnumerateFileSystemEntries(empty), Is.Empty);
    }

    // ---- truncate

    [Test]
    public void Truncate_keep_last_deletes_the_oldest_segments_and_lists_them()
    {
        string log = BuildLog(_dir["log"], sealedSegments: 5);
        long doomedBytes = Enumerable.Range(1, 4).Sum(id => new FileInfo(SegmentFiles.PathFor(log, (uint)id)).Length);

        var r = Cli.Run("--json", "truncate", log, "--keep-last", "2");

        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Err, Is.Empty);
        Assert.That(r.Out, Is.EqualTo(
            $"{{\"schema\":\"datawal.cli.v1\",\"kind\":\"truncate\",\"store\":{JsonSerializer.Serialize(log)},\"deleted\":[1,2,3,4],\"segments_deleted\":4,\"bytes_deleted\":{doomedBytes},\"first_segment\":5}}\n"));
        Assert.That(SegmentFiles.List(log), Is.EqualTo(new uint[] { 5, 6 }));
        var scan = Cli.Run("--json", "scan", log);
        Assert.That(scan.Json.Select(j => j.GetProperty("segment").GetUInt32()).Distinct(), Is.EqualTo(new uint[] { 5, 6 }));
        Assert.That(scan.Lines, Has.Length.EqualTo(11));
    }

    [Test]
    public void Truncate_before_prints_what_it_deleted_and_nothing_to_delete_is_exit_0()
    {
        string log = BuildLog(_dir["log"], sealedSegments: 3);
        long bytes = new FileInfo(SegmentFiles.PathFor(log, 1)).Length + new FileInfo(SegmentFiles.PathFor(log, 2)).Length;

        var r = Cli.Run("truncate", log, "--before", "3");

        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Out, Is.EqualTo(
            "schema:           datawal.cli.v1\n" +
            "kind:             truncate\n" +
            $"store:            {log}\n" +
            "deleted:          00000001 00000002\n" +
            "segments_deleted: 2\n" +
            $"bytes_deleted:    {bytes}\n" +
            "first_segment:    00000003\n"));

        var again = Cli.Run("truncate", log, "--before", "3");
        Assert.That(again.Code, Is.Zero, again.ToString());
        Assert.That(again.Out, Does.Contain("deleted:          none\n").And.Contain("segments_deleted: 0\n"));
        var json = Cli.Run("--json", "truncate", log, "--keep-last", "10");
        Assert.That(json.Code, Is.Zero, json.ToString());
        Assert.That(json.Json.Single().GetProperty("deleted").GetArrayLength(), Is.Zero);
        Assert.That(SegmentFiles.List(log), Is.EqualTo(new uint[] { 3, 4 }));
    }

    [Test]
    public void Truncate_never_deletes_the_active_segment()
    {
        string log = BuildLog(_dir["log"], sealedSegments: 2);
        var r = Cli.Run("--json", "truncate", log, "--before", "99");
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Json.Single().GetProperty("deleted").EnumerateArray().Select(e => e.GetUInt32()), Is.EqualTo(new uint[] { 1, 2 }));
        Assert.That(SegmentFiles.List(log), Is.EqualTo(new uint[] { 3 }));
    }

    [Test]
    public void Truncate_is_refused_while_a_writer_holds_the_lock()
    {
        string log = BuildLog(_dir["log"], sealedSegments: 3);
        using var writer = RecordLog.Open(log);
        var segments = SegmentSnapshot(log);

        var r = Cli.Run("truncate", log, "--keep-last", "1");

        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        Assert.That(r.Out, Is.Empty);
        Assert.That(r.Err, Does.StartWith($"datawal: error: truncate: another process is writing to {log}"));
        Assert.That(SegmentSnapshot(log), Is.EqualTo(segments));
    }

    [Test]
    public void Truncate_refuses_key_value_segments_without_force()
    {
        string store = _dir["store"];
        BuildKv(store, keys: 20, rounds: 3);
        var segments = SegmentSnapshot(store);

        var refused = Cli.Run("truncate", store, "--before", "3");
        Assert.That(refused.Code, Is.EqualTo(1), refused.ToString());
        Assert.That(refused.Out, Is.Empty);
        Assert.That(refused.Err, Does.Contain("segments 00000001, 00000002").And.Contain("hold key/value records")
            .And.Contain($"datawal compact {store} --in-place").And.Contain("--force").And.Contain("Nothing was deleted"));
        Assert.That(SegmentSnapshot(store), Is.EqualTo(segments));

        var forced = Cli.Run("--json", "truncate", store, "--before", "3", "--force");
        Assert.That(forced.Code, Is.Zero, forced.ToString());
        Assert.That(forced.Json.Single().GetProperty("deleted").EnumerateArray().Select(e => e.GetUInt32()), Is.EqualTo(new uint[] { 1, 2 }));
    }

    [TestCase(new string[0], "pass exactly one of --before SEGMENT or --keep-last N")]
    [TestCase(new[] { "--before", "2", "--keep-last", "1" }, "pass exactly one of --before SEGMENT or --keep-last N")]
    [TestCase(new[] { "--keep-last", "0" }, "--keep-last must be at least 1")]
    [TestCase(new[] { "--before", "-1" }, "invalid value '-1' for '--before <SEGMENT>'")]
    [TestCase(new[] { "--keep-last", "99999999999" }, "invalid value '99999999999' for '--keep-last <N>'")]
    [TestCase(new[] { "--keep-last", "x" }, "invalid value 'x' for '--keep-last <N>'")]
    public void Truncate_argument_errors_exit_1_and_delete_nothing(string[] options, string message)
    {
        string log = BuildLog(_dir["log"], sealedSegments: 2);
        var segments = SegmentSnapshot(log);
        var r = Cli.Run(["truncate", log, .. options]);
        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        Assert.That(r.Err, Does.StartWith("datawal: error: " + message));
        Assert.That(SegmentSnapshot(log), Is.EqualTo(segments));
    }

    // ---- report --space

    /// <summary>Live bytes computed here from a scan under last-write-wins, independently of the KV store.</summary>
    private static (long LiveKeys, long LiveBytes) IndependentLiveBytes(string path)
    {
        var latest = new Dictionary<string, long>();
        foreach (var record in RecordLogReader.Open(path).ScanIter())
        {
            string key = Convert.ToBase64String(record.Key.Span);
            if (record.Type == RecordType.Put)
            {
                latest[key] = record.Length;
            }
            else if (record.Type == RecordType.Delete)
            {
                latest.Remove(key);
            }
        }

        return (latest.Count, latest.Values.Sum());
    }

    [Test]
    public void Report_space_numbers_match_an_independent_computation()
    {
        string store = _dir["store"];
        BuildKv(store);
        var ids = SegmentFiles.List(store);
        var sizes = ids.Select(id => new FileInfo(SegmentFiles.PathFor(store, id)).Length).ToList();
        long total = sizes.Sum();
        var (liveKeys, liveBytes) = IndependentLiveBytes(store);

        var r = Cli.Run("--json", "report", store, "--space");

        Assert.That(r.Code, Is.Zero, r.ToString());
        var j = r.Json.Single();
        Assert.That(j.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[]
        {
            "schema", "kind", "files_scanned", "records_replayed", "tail_truncated", "tail_bytes_discarded", "mid_stream_errors",
            "unsupported_versions", "last_txid_seen",
            "segments", "total_bytes", "kv_view", "live_keys", "live_bytes", "dead_bytes", "dead_fraction", "compaction_worthwhile",
        }));
        Assert.That(j.GetProperty("segments").EnumerateArray().Select(s => (s.GetProperty("segment").GetUInt32(), s.GetProperty("bytes").GetInt64())),
            Is.EqualTo(ids.Zip(sizes)));
        Assert.That(j.GetProperty("total_bytes").GetInt64(), Is.EqualTo(total));
        Assert.That(j.GetProperty("kv_view").GetBoolean(), Is.True);
        Assert.That(j.GetProperty("live_keys").GetInt64(), Is.EqualTo(liveKeys));
        Assert.That(j.GetProperty("live_bytes").GetInt64(), Is.EqualTo(liveBytes));
        Assert.That(j.GetProperty("dead_bytes").GetInt64(), Is.EqualTo(total - liveBytes));
        Assert.That(j.GetProperty("dead_fraction").GetDouble(), Is.EqualTo(Math.Round((double)(total - liveBytes) / total, 4)));
        Assert.That(j.GetProperty("compaction_worthwhile").GetBoolean(), Is.False, "far below 64 MiB dead");

        // Without --space the line is upstream's, and it is a prefix of the --space line's fields.
        var plain = Cli.Run("--json", "report", store);
        Assert.That(plain.Json.Single().EnumerateObject().Select(p => p.Name), Has.Exactly(9).Items);
        Assert.That(r.Out, Does.StartWith(plain.Out.TrimEnd('\n', '}')));
    }

    [Test]
    public void Report_space_human_lines_follow_the_unchanged_report()
    {
        string store = _dir["store"];
        BuildKv(store, keys: 40, rounds: 2);
        var ids = SegmentFiles.List(store);
        long total = SegmentBytes(store);
        var (liveKeys, liveBytes) = IndependentLiveBytes(store);
        long dead = total - liveBytes;

        var plain = Cli.Run("report", store);
        var r = Cli.Run("report", store, "--space");

        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(plain.Lines, Has.Length.EqualTo(8));
        Assert.That(r.Out, Does.StartWith(plain.Out));
        var extra = r.Lines.Skip(8).ToList();
        var expected = new List<string> { $"segments:            {ids.Count}" };
        expected.AddRange(ids.Select(id => $"segment {id:D8}:    {new FileInfo(SegmentFiles.PathFor(store, id)).Length}"));
        expected.Add($"total_bytes:         {total}");
        expected.Add($"live_keys:           {liveKeys}");
        expected.Add($"live_bytes:          {liveBytes}");
        expected.Add($"dead_bytes:          {dead}");
        expected.Add($"dead_fraction:       {((double)dead / total).ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)}");
        Assert.That(extra.Take(expected.Count), Is.EqualTo(expected));
        Assert.That(extra[^1], Does.StartWith("compaction:          would reclaim little, "));
    }

    [Test]
    public void Report_space_on_a_plain_log_says_compaction_does_not_apply()
    {
        string log = BuildLog(_dir["log"], sealedSegments: 2);
        var r = Cli.Run("--json", "report", log, "--space");
        Assert.That(r.Code, Is.Zero, r.ToString());
        var j = r.Json.Single();
        Assert.That(j.GetProperty("kv_view").GetBoolean(), Is.False);
        Assert.That(j.GetProperty("live_bytes").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(j.GetProperty("dead_bytes").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(j.GetProperty("compaction_worthwhile").GetBoolean(), Is.False);
        Assert.That(j.GetProperty("total_bytes").GetInt64(), Is.EqualTo(SegmentBytes(log)));
        Assert.That(Cli.Run("report", log, "--space").Lines[^1], Does.StartWith("compaction:          does not apply"));
    }

    [Test]
    public void Report_space_advises_compaction_when_it_pays_and_compact_in_place_reclaims_it()
    {
        // 70 overwrites of one 1 MiB value: about 69 MiB dead (over the 64 MiB and 50% thresholds).
        string store = _dir["store"];
        var value = new byte[1 << 20];
        using (var kv = KvStore.Open(store))
        {
            for (int i = 0; i < 70; i++)
            {
                value[0] = (byte)i;
                kv.Put(B("big"), value);
            }

            kv.Fsync();
        }

        var r = Cli.Run("--json", "report", store, "--space");
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Json.Single().GetProperty("compaction_worthwhile").GetBoolean(), Is.True);
        var human = Cli.Run("report", store, "--space");
        Assert.That(human.Lines[^1], Does.Match($@"^compaction:          would reclaim 6\d\.\d MiB \(98\.\d%\): run datawal compact {System.Text.RegularExpressions.Regex.Escape(store)} --in-place$"));

        var compact = Cli.Run("--json", "compact", store, "--in-place");
        Assert.That(compact.Code, Is.Zero, compact.ToString());
        Assert.That(compact.Json.Single().GetProperty("bytes_reclaimed").GetInt64(), Is.GreaterThan(68L << 20));
        using (var kv = KvStore.OpenReadOnly(store))
        {
            Assert.That(kv.Get(B("big")), Is.EqualTo(value));
        }

        Assert.That(Cli.Run("--json", "report", store, "--space").Json.Single().GetProperty("compaction_worthwhile").GetBoolean(), Is.False);
    }

    // ---- help

    [Test]
    public void Help_lists_the_new_command_and_flags()
    {
        var root = Cli.Run("--help");
        Assert.That(root.Out, Does.Contain("  truncate "));
        Assert.That(root.Out, Does.Contain("Only compact --in-place and truncate change a store"));

        var compact = Cli.Run("compact", "--help");
        Assert.That(compact.Code, Is.Zero, compact.ToString());
        Assert.That(compact.Out, Does.Contain("--in-place").And.Contain("datawal compact ./store --in-place"));

        var truncate = Cli.Run("truncate", "--help");
        Assert.That(truncate.Code, Is.Zero, truncate.ToString());
        Assert.That(truncate.Out, Does.Contain("--before").And.Contain("--keep-last").And.Contain("--force")
            .And.Contain("FORGETS every key").And.Contain("Examples:").And.Contain("datawal truncate ./log --keep-last 10"));

        var report = Cli.Run("report", "--help");
        Assert.That(report.Out, Does.Contain("--space").And.Contain("datawal report ./store --space"));
    }
}
