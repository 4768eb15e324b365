using System.Text;
using System.Text.Json;
using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>
/// A damaged store through the command line (docs/design.md D16): the hint after a corruption error, <c>--salvage</c> on
/// the read-only commands, and <c>datawal salvage STORE OUT [--log|--kv]</c>. The store has three segments of KV puts and
/// one flipped payload byte in a frame in the middle of segment 2; every expectation comes from what the test wrote.
/// </summary>
public class SalvageCommandTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-salvage");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string S(ReadOnlyMemory<byte> b) => Encoding.UTF8.GetString(b.Span);

    /// <summary>What the test wrote: every record in log order, the damaged one, and the KV view without it.</summary>
    private sealed record Damaged(string Store, List<(uint Segment, ulong Offset, RecordType Type, ulong TxId, string Key, string Value)> Records, RecordRef Frame, Dictionary<string, string> LiveWithoutFrame)
    {
        public IEnumerable<(uint Segment, ulong Offset, RecordType Type, ulong TxId, string Key, string Value)> Intact =>
            Records.Where(r => r.Segment != Frame.Segment || r.Offset != Frame.Offset);
    }

    /// <summary>
    /// Segment 1: <c>a b c only1</c>; segment 2: <c>a b d</c> (the Put of <c>b</c> is damaged); segment 3: <c>a e</c>.
    /// After the damage, <c>b</c>'s last intact value is the one of segment 1.
    /// </summary>
    private Damaged Build(bool damage = true)
    {
        string path = _dir["store"];
        var records = new List<(uint, ulong, RecordType, ulong, string, string)>();
        RecordRef frame = default;
        (string Key, string Value)[][] segments =
        [
            [("a", "a1"), ("b", "b1"), ("c", "c1"), ("only1", "in segment 1")],
            [("a", "a2"), ("b", "b2 (damaged)"), ("d", "d2")],
            [("a", "a3"), ("e", "e3")],
        ];
        ulong txid = 0;
        using (var kv = KvStore.Open(path))
        {
            for (int s = 0; s < segments.Length; s++)
            {
                if (s > 0)
                {
                    kv.Rotate();
                }

                foreach (var (key, value) in segments[s])
                {
                    kv.Put(B(key), B(value));
                    var at = kv.RefOf(B(key))!.Value;
                    records.Add((at.Segment, at.Offset, RecordType.Put, ++txid, key, value));
                    if (key == "b" && s == 1)
                    {
                        frame = at;
                    }
                }
            }

            kv.Fsync();
        }

        Assert.That(SegmentFiles.List(path), Is.EqualTo(new uint[] { 1, 2, 3 }));
        Assert.That(frame.Segment, Is.EqualTo(2u));
        Assert.That(frame.Offset, Is.GreaterThan(0UL), "the damaged frame is not the first of its segment");
        if (damage)
        {
            // The first payload byte: the frame stays structurally valid and fails its CRC.
            using var file = new FileStream(SegmentFiles.PathFor(path, frame.Segment), FileMode.Open, FileAccess.ReadWrite);
            file.Position = (long)frame.Offset + 24 + 1;
            int b = file.ReadByte();
            file.Position--;
            file.WriteByte((byte)(b ^ 0x20));
        }

        var live = new Dictionary<string, string>();
        foreach (var r in records.Where(r => !damage || r.Item1 != frame.Segment || r.Item2 != frame.Offset))
        {
            live[r.Item5] = r.Item6;
        }

        return new Damaged(path, records, frame, live);
    }

    private static string RangeLine(RecordRef frame) => $"segment {frame.Segment:D8} offset {frame.Offset} length {frame.Length} (crc_mismatch)";

    private static string Hint(Damaged d) => $"datawal: hint: the damage is in segment 2 (00000002.dwal) at offset {d.Frame.Offset}; ";

    // ---- strict: exit 3 and the hint

    [TestCase("scan")]
    [TestCase("verify")]
    [TestCase("report")]
    [TestCase("dump")]
    [TestCase("check")]
    [TestCase("get", "--key", "a")]
    [TestCase("export", "OUTFILE")]
    public void Strict_read_commands_exit_3_and_end_with_the_hint(string command, params string[] more)
    {
        var d = Build();
        var args = new[] { command, d.Store }.Concat(more.Select(a => a == "OUTFILE" ? _dir["out.jsonl"] : a)).ToArray();
        var before = DirectorySnapshot.Capture(d.Store);
        var r = Cli.Run(args);
        Assert.That(r.Code, Is.EqualTo(3), r.ToString());
        var err = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(err, Has.Length.EqualTo(2), r.ToString());
        Assert.That(err[0], Does.Contain($"offset {d.Frame.Offset} of non-tail segment 2"), "the error itself is unchanged");
        Assert.That(err[1], Does.StartWith(Hint(d)).And.Contain("--salvage").And.EndWith($"datawal salvage {d.Store} OUT"));

        // --json: the same error as one JSON line, no hint.
        var json = Cli.Run(["--json", .. args]);
        Assert.That(json.Code, Is.EqualTo(3), json.ToString());
        var line = System.Text.Json.JsonDocument.Parse(json.Err).RootElement;
        Assert.That(line.GetProperty("kind").GetString(), Is.EqualTo("error"));
        Assert.That(line.GetProperty("command").GetString(), Is.EqualTo(command));
        Assert.That(line.GetProperty("exit_code").GetInt32(), Is.EqualTo(3));
        Assert.That(err[0], Does.EndWith(line.GetProperty("message").GetString()!), "the message people read, without its prefix");
        Assert.That(json.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1));
        Assert.That(DirectorySnapshot.Capture(d.Store), Is.EqualTo(before));
    }

    [Test]
    public void Strict_scan_output_is_unchanged_before_the_hint()
    {
        var d = Build();
        var r = Cli.Run("scan", d.Store);
        int before = d.Records.TakeWhile(x => x.Segment != d.Frame.Segment || x.Offset != d.Frame.Offset).Count();
        Assert.That(before, Is.EqualTo(5), "segment 1's four records and a2");
        Assert.That(r.Lines, Has.Length.EqualTo(before), "the records before the damage, then the error");
        Assert.That(r.Err, Does.StartWith($"datawal: scan: mid-stream error: datawal: CRC mismatch at offset {d.Frame.Offset} of non-tail segment 2 ("));
    }

    [Test]
    public void Writers_stay_strict_and_say_so_and_point_to_salvage()
    {
        var d = Build();
        var before = DirectorySnapshot.Capture(d.Store);
        foreach (var args in new[] { new[] { "compact", d.Store, "--in-place" }, ["truncate", d.Store, "--keep-last", "1", "--force"] })
        {
            var r = Cli.Run(args);
            Assert.That(r.Code, Is.EqualTo(3), r.ToString());
            var err = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(err[0], Does.StartWith("datawal: error: open ").And.Contain("non-tail segment 2"));
            Assert.That(err[^1], Does.StartWith(Hint(d)).And.Contain("writers stay strict")
                .And.Contain($"datawal salvage {d.Store} OUT").And.Contain("--salvage"));
        }

        var copy = Cli.Run("compact", d.Store, _dir["copy"]);
        Assert.That(copy.Code, Is.EqualTo(3), copy.ToString());
        Assert.That(copy.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1], Does.StartWith(Hint(d)).And.EndWith($"datawal salvage {d.Store} {_dir["copy"]} --kv (it lists what it skips)"));
        Assert.That(DirectorySnapshot.Capture(d.Store), Is.EqualTo(before), "nothing was changed");
    }

    // ---- datawal salvage

    [TestCase("--log")]
    [TestCase(null)]
    public void Salvage_log_copies_every_record_outside_the_damaged_frame_and_exits_2(string? flag)
    {
        var d = Build();
        var before = DirectorySnapshot.Capture(d.Store);
        string output = _dir["out"];
        var r = Cli.Run(flag is null ? ["salvage", d.Store, output] : ["salvage", d.Store, output, flag]);
        Assert.That(r.Code, Is.EqualTo(2), r.ToString());
        Assert.That(r.Out, Does.Contain("mode:                log\n"));
        Assert.That(r.Out, Does.Contain($"records_written:     {d.Records.Count - 1}\n"));
        Assert.That(r.Out, Does.Contain("skipped_ranges:      1\n"));
        Assert.That(r.Out, Does.Contain($"skipped:             {RangeLine(d.Frame)}\n"));
        Assert.That(r.Out, Does.Contain("The records in these ranges are unknown; a key whose later record was there may show an older value"));
        Assert.That(DirectorySnapshot.Capture(d.Store), Is.EqualTo(before), "the source is never modified");

        using (var writer = RecordLog.Open(output))
        {
            Assert.That(writer.RecoveryReport.MidStreamErrors + writer.RecoveryReport.TailTruncated, Is.Zero);
        }

        var copied = RecordLogReader.Open(output).ScanIter().Select(x => (x.Type, x.TxId, S(x.Key), S(x.Payload))).ToList();
        Assert.That(copied, Is.EqualTo(d.Intact.Select(x => (x.Type, x.TxId, x.Key, x.Value)).ToList()));
    }

    [Test]
    public void Salvage_kv_writes_the_intact_live_set_and_a_key_whose_later_record_was_lost_shows_its_older_value()
    {
        var d = Build();
        string output = _dir["out"];
        var r = Cli.Run("salvage", d.Store, output, "--kv");
        Assert.That(r.Code, Is.EqualTo(2), r.ToString());
        Assert.That(r.Out, Does.Contain("mode:                kv\n").And.Contain($"live_keys:           {d.LiveWithoutFrame.Count}\n"));
        Assert.That(r.Out, Does.Contain($"skipped:             {RangeLine(d.Frame)}\n"));
        Assert.That(d.LiveWithoutFrame["b"], Is.EqualTo("b1"), "the oracle: b's later Put was the damaged frame");

        using var kv = KvStore.Open(output);
        var actual = kv.Keys().ToDictionary(k => Encoding.UTF8.GetString(k), k => Encoding.UTF8.GetString(kv.Get(k)!));
        Assert.That(actual, Is.EqualTo(d.LiveWithoutFrame));
    }

    [TestCase("--log")]
    [TestCase("--kv")]
    public void Salvage_of_an_undamaged_store_exits_0_and_copies_everything(string flag)
    {
        var d = Build(damage: false);
        string output = _dir["out"];
        var r = Cli.Run("salvage", d.Store, output, flag);
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Out, Does.Contain("skipped_ranges:      0\n").And.Contain("Nothing was skipped"));
        Assert.That(r.Out, Does.Not.Contain("\nskipped:"));
        Assert.That(r.Err, Is.Empty);
        using var kv = KvStore.Open(output);
        Assert.That(kv.Count, Is.EqualTo(d.LiveWithoutFrame.Count));
        Assert.That(kv.Get(B("b")), Is.EqualTo(B("b2 (damaged)")), "the undamaged store keeps b's latest value");
    }

    [Test]
    public void Salvage_of_a_torn_tail_exits_2_and_reports_the_tail()
    {
        var d = Build(damage: false);
        Stores.Tear(d.Store, 3);
        var r = Cli.Run("--json", "salvage", d.Store, _dir["out"]);
        Assert.That(r.Code, Is.EqualTo(2), r.ToString());
        var j = r.Json.Single();
        Assert.That(j.GetProperty("tail_truncated").GetInt32(), Is.EqualTo(1));
        Assert.That(j.GetProperty("skipped_ranges").GetArrayLength(), Is.Zero);
        Assert.That(j.GetProperty("records_written").GetInt64(), Is.EqualTo(d.Records.Count - 1), "the torn last record is not copied");
    }

    [Test]
    public void Salvage_errors_exit_1_and_write_nothing()
    {
        var d = Build();
        var missing = Cli.Run("salvage", _dir["missing"], _dir["out"]);
        Assert.That(missing.Code, Is.EqualTo(1), missing.ToString());
        Assert.That(missing.Err, Does.Contain("store directory not found"));
        Assert.That(Directory.Exists(_dir["out"]), Is.False);

        string full = _dir["full"];
        Directory.CreateDirectory(full);
        File.WriteAllText(Path.Combine(full, "keep.txt"), "mine");
        var notEmpty = Cli.Run("salvage", d.Store, full);
        Assert.That(notEmpty.Code, Is.EqualTo(1), notEmpty.ToString());
        Assert.That(notEmpty.Err, Is.EqualTo($"datawal: error: salvage: target directory is not empty: {full} (nothing was written)\n"));
        Assert.That(Directory.EnumerateFileSystemEntries(full).Select(Path.GetFileName), Is.EqualTo(new[] { "keep.txt" }));

        string file = _dir["file"];
        File.WriteAllText(file, "x");
        var isFile = Cli.Run("salvage", d.Store, file, "--kv");
        Assert.That(isFile.Code, Is.EqualTo(1), isFile.ToString());
        Assert.That(isFile.Err, Does.Contain("it is a file, not a directory"));

        var before = DirectorySnapshot.Capture(d.Store);
        var itself = Cli.Run("salvage", d.Store, d.Store);
        Assert.That(itself.Code, Is.EqualTo(1), itself.ToString());
        Assert.That(DirectorySnapshot.Capture(d.Store), Is.EqualTo(before));

        var both = Cli.Run("salvage", d.Store, _dir["out"], "--kv", "--log");
        Assert.That(both.Code, Is.EqualTo(1), both.ToString());
        Assert.That(both.Err, Does.Contain("--log and --kv cannot be used together"));
        Assert.That(Directory.Exists(_dir["out"]), Is.False);
    }

    // ---- --salvage on the read-only commands

    [Test]
    public void Get_salvage_returns_an_intact_key_and_exits_2_naming_the_range()
    {
        var d = Build();
        var r = Cli.Run("get", d.Store, "--key", "only1", "--salvage");
        Assert.That(r.Code, Is.EqualTo(2), r.ToString());
        Assert.That(r.Out, Is.EqualTo("in segment 1\n"), "stdout is the value alone");
        Assert.That(r.Err, Is.EqualTo(
            $"datawal: get: skipped {RangeLine(d.Frame)}\n" +
            $"datawal: get: 1 damaged range was skipped: {Salvage.Meaning}\n"));

        var older = Cli.Run("get", d.Store, "--key", "b", "--salvage");
        Assert.That(older.Code, Is.EqualTo(2), older.ToString());
        Assert.That(older.Out, Is.EqualTo("b1\n"), "b's later Put was in the skipped range: its last intact value");

        var json = Cli.Run("--json", "get", d.Store, "--key", "a", "--salvage");
        Assert.That(json.Code, Is.EqualTo(2), json.ToString());
        Assert.That(json.Out, Is.EqualTo(
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"value\",\"key_base64\":\"YQ==\",\"value_base64\":\"YTM=\",\"value_len\":2}\n" +
            $"{{\"schema\":\"datawal.cli.v1\",\"kind\":\"skipped\",\"skipped_ranges\":[{{\"segment\":2,\"offset\":{d.Frame.Offset},\"length\":{d.Frame.Length},\"reason\":\"crc_mismatch\"}}]}}\n"));
        Assert.That(json.Err, Is.Empty);
    }

    [Test]
    public void Read_commands_with_salvage_read_every_intact_record_and_exit_2()
    {
        var d = Build();
        var before = DirectorySnapshot.Capture(d.Store);
        string range = $"skipped {RangeLine(d.Frame)}\n";

        var scan = Cli.Run("--json", "scan", d.Store, "--salvage");
        Assert.That(scan.Code, Is.EqualTo(2), scan.ToString());
        var lines = scan.Json;
        Assert.That(lines.SkipLast(1).Select(j => (j.GetProperty("txid").GetUInt64(), j.GetProperty("payload_base64").GetString())), Is.EqualTo(
            d.Intact.Select(x => (x.TxId, Convert.ToBase64String(B(x.Value))))));
        Assert.That(lines[^1].GetProperty("kind").GetString(), Is.EqualTo("skipped"));

        var human = Cli.Run("scan", d.Store, "--salvage");
        Assert.That(human.Code, Is.EqualTo(2));
        Assert.That(human.Lines, Has.Length.EqualTo(d.Records.Count - 1), "stdout holds the records only");
        Assert.That(human.Err, Does.StartWith("datawal: scan: " + range));

        var verify = Cli.Run("--json", "verify", d.Store, "--salvage");
        Assert.That(verify.Code, Is.EqualTo(2), verify.ToString());
        Assert.That(verify.Json[0].GetProperty("frames_checked").GetInt64(), Is.EqualTo(d.Records.Count - 1));
        Assert.That(verify.Json[0].GetProperty("crc_failures").GetInt32(), Is.EqualTo(1));

        var report = Cli.Run("report", d.Store, "--salvage", "--space");
        Assert.That(report.Code, Is.EqualTo(2), report.ToString());
        Assert.That(report.Out, Does.Contain($"records_replayed:    {d.Records.Count - 1}\n").And.Contain("mid_stream_errors:   1\n"));
        Assert.That(report.Out, Does.Contain($"live_keys:           {d.LiveWithoutFrame.Count}\n"));
        Assert.That(report.Err, Does.StartWith("datawal: report: " + range));

        var dump = Cli.Run("dump", d.Store, "--salvage");
        Assert.That(dump.Code, Is.EqualTo(2), dump.ToString());
        Assert.That(dump.Lines, Has.Length.EqualTo(d.Records.Count - 1));

        var check = Cli.Run("--json", "check", d.Store, "--salvage");
        Assert.That(check.Code, Is.EqualTo(2), check.ToString());
        Assert.That(check.Json[0].GetProperty("keys_checked").GetInt32(), Is.EqualTo(d.LiveWithoutFrame.Count));

        string outfile = _dir["intact.jsonl"];
        var export = Cli.Run("export", d.Store, outfile, "--salvage");
        Assert.That(export.Code, Is.EqualTo(2), export.ToString());
        var exported = File.ReadAllLines(outfile).Select(l => JsonDocument.Parse(l).RootElement)
            .ToDictionary(j => Encoding.UTF8.GetString(Convert.FromBase64String(j.GetProperty("key_b64").GetString()!)), j => Encoding.UTF8.GetString(Convert.FromBase64String(j.GetProperty("value_b64").GetString()!)));
        Assert.That(exported, Is.EqualTo(d.LiveWithoutFrame));

        Assert.That(DirectorySnapshot.Capture(d.Store), Is.EqualTo(before), "--salvage is read-only");
    }

    [TestCase("scan")]
    [TestCase("verify")]
    [TestCase("report")]
    [TestCase("dump")]
    [TestCase("check")]
    [TestCase("get", "--key", "b")]
    public void Salvage_flag_on_an_undamaged_store_changes_nothing(string command, params string[] more)
    {
        var d = Build(damage: false);
        foreach (var json in new[] { false, true })
        {
            string[] args = [.. json ? new[] { "--json" } : [], command, d.Store, .. more];
            var strict = Cli.Run(args);
            var salvage = Cli.Run([.. args, "--salvage"]);
            Assert.That(salvage.Code, Is.Zero, salvage.ToString());
            Assert.That(salvage.Out, Is.EqualTo(strict.Out));
            Assert.That(salvage.Err, Is.EqualTo(strict.Err));
        }
    }

    // ---- JSON and help

    [Test]
    public void Salvage_json_line()
    {
        var d = Build();
        string output = _dir["out"];
        var r = Cli.Run("--json", "salvage", d.Store, output);
        Assert.That(r.Code, Is.EqualTo(2), r.ToString());
        Assert.That(r.Err, Is.Empty);
        Assert.That(r.Out, Is.EqualTo(
            $"{{\"schema\":\"datawal.cli.v1\",\"kind\":\"salvage\",\"store\":{JsonSerializer.Serialize(d.Store)},\"out\":{JsonSerializer.Serialize(output)},\"mode\":\"log\"," +
            $"\"records_written\":{d.Records.Count - 1},\"live_keys\":null,\"records_renumbered\":0,\"bytes_written\":{new FileInfo(SegmentFiles.PathFor(output, 1)).Length}," +
            $"\"segments_written\":1,\"last_txid\":{d.Records.Count},\"files_scanned\":3,\"records_read\":{d.Records.Count - 1},\"tail_truncated\":0,\"tail_bytes_discarded\":0," +
            $"\"skipped_ranges\":[{{\"segment\":2,\"offset\":{d.Frame.Offset},\"length\":{d.Frame.Length},\"reason\":\"crc_mismatch\"}}]}}\n"));

        var kv = Cli.Run("--json", "salvage", d.Store, _dir["kv"], "--kv").Json.Single();
        Assert.That(kv.GetProperty("mode").GetString(), Is.EqualTo("kv"));
        Assert.That(kv.GetProperty("live_keys").GetInt64(), Is.EqualTo(d.LiveWithoutFrame.Count));
        Assert.That(kv.GetProperty("records_renumbered").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(kv.GetProperty("last_txid").GetInt64(), Is.EqualTo(d.LiveWithoutFrame.Count));
    }

    [Test]
    public void Help_lists_the_command_and_the_flag()
    {
        var root = Cli.Run("--help");
        Assert.That(root.Out, Does.Contain("  salvage ").And.Contain("--salvage"));
        var salvage = Cli.Run("salvage", "--help");
        Assert.That(salvage.Code, Is.Zero, salvage.ToString());
        Assert.That(salvage.Out, Does.Contain("--kv").And.Contain("--log").And.Contain("Examples:").And.Contain("datawal salvage ./store ./store.salvaged"));
        foreach (var command in new[] { "scan", "verify", "report", "dump", "check", "get", "export" })
        {
            Assert.That(Cli.Run(command, "--help").Out, Does.Contain("--salvage"), command);
        }

    }

    [Test]
    public void Scan_follow_salvage_skips_the_damaged_frame_reports_it_and_exits_2()
    {
        var store = Build();
        int intact = store.Intact.Count();
        var follow = Cli.Run("scan", store.Store, "--follow", "--salvage", "--limit", intact.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(follow.Code, Is.EqualTo(2), follow.ToString());
        Assert.That(follow.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(intact));
        Assert.That(follow.Err, Does.Contain($"skipped segment 00000002 offset {store.Frame.Offset} length {store.Frame.Length} (crc_mismatch)"));
        var strict = Cli.Run("scan", store.Store, "--follow", "--limit", intact.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(strict.Code, Is.EqualTo(3), strict.ToString());
        Assert.That(strict.Err, Does.Contain($"datawal scan {store.Store} --follow --salvage"));
    }
}
