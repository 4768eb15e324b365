using System.CommandLine;
using System.Globalization;
using System.Text;
using DataWal.Core;
using DataWal.Kv;
using SafeAtomic;

namespace DataWal.Cli;

/// <summary>
/// <c>demo [DIR]</c>: a short, readable tour of what the libraries guarantee — a log and a key/value store
/// are written and fsynced, a crash tears the last frame, recovery cuts it and keeps every acknowledged
/// record, then the store is read back, compacted and exported. In a fresh temporary directory that is
/// removed afterwards, or in DIR (missing or empty), which is kept for inspection.
/// </summary>
internal static class DemoCommand
{
    public static Command Create(App app)
    {
        var dirArgument = new Argument<string?>("dir")
        {
            Description = "Directory to work in, missing or empty; it is kept (default: a fresh temporary directory, removed afterwards).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command("demo", "Watch a store survive a torn write: write, crash, recover, read back, compact, export. No JSON form: --json is refused.") { dirArgument };
        app.Bind(
            command,
            (parse, context) => Run(context, parse.GetValue(dirArgument)),
            "datawal demo",
            "datawal demo ./demo-store && datawal scan ./demo-store/store");
        return command;
    }

    public static int Run(CliContext context, string? directory)
    {
        if (context.Json)
        {
            // A walkthrough for people: its lines are prose, not records, so --json is refused (nothing is created)
            // rather than printing text where a consumer expects JSON lines.
            throw new CliException("demo has no JSON form (it is a walkthrough to read); run it without --json");
        }

        bool temporary = directory is null;
        string dir = directory ?? Path.Combine(Path.GetTempPath(), "datawal-demo-" + Guid.NewGuid().ToString("N")[..8]);
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
        {
            throw new CliException($"demo: directory is not empty: {dir} (give a missing or empty directory)");
        }

        if (File.Exists(dir))
        {
            throw new CliException($"demo: not a directory: {dir}");
        }

        Directory.CreateDirectory(dir);
        try
        {
            Tour(context, Path.GetFullPath(dir), dir, keep: !temporary);
            return ExitCodes.Ok;
        }
        finally
        {
            if (temporary)
            {
                Directory.Delete(dir, recursive: true);
                context.Line($"removed {dir}");
            }
        }
    }

    private static void Tour(CliContext context, string dir, string shown, bool keep)
    {
        var o = context;
        string store = Path.Combine(dir, "store");
        o.Line($"datawal demo in {shown}");

        // 1. A raw event log.
        using (var log = RecordLog.Open(store))
        {
            foreach (var e in new[] { "boot", "config loaded", "ready" })
            {
                log.Append(Encoding.UTF8.GetBytes(e));
            }

            log.Fsync();
            o.Line("  log      3 raw events appended and fsynced (RecordLog): txids 1-3");
        }

        // 2. Key/value writes on the same log; the last put is not fsynced when the "crash" comes.
        string segment;
        long sizeBefore;
        using (var kv = KvStore.Open(store))
        {
            kv.Put("user:1"u8, "alice"u8);
            kv.Put("user:2"u8, "bob"u8);
            kv.Put("user:1"u8, "alice v2"u8);
            kv.Put("session:42"u8, "token-9f2c"u8);
            kv.Delete("session:42"u8);
            kv.Fsync();
            o.Line("  kv       4 puts and 1 delete, fsynced (KvStore): txids 4-8, all acknowledged");
            kv.Put("user:3"u8, "carol"u8);
            segment = SegmentFiles.PathFor(store, kv.Log.ActiveSegment);
            sizeBefore = new FileInfo(segment).Length;
        }

        // 3. The crash: the last frame reached the disk only in part.
        const int torn = 5;
        using (var file = new FileStream(segment, FileMode.Open, FileAccess.Write))
        {
            file.SetLength(sizeBefore - torn);
        }

        o.Line($"  crash    put user:3 (txid 9, not yet fsynced) is torn: {Path.GetFileName(segment)} lost its last {torn} bytes");

        // 4. Read-only inspection sees the damage and changes nothing.
        var reader = RecordLogReader.Open(store);
        var pass = reader.ScanIter();
        long seen = pass.Count();
        var inspected = pass.RecoveryReport;
        o.Line(string.Create(CultureInfo.InvariantCulture, $"  inspect  read-only pass (datawal report): {seen} valid records, damaged tail of {inspected.TailBytesDiscarded} bytes (exit code {(inspected.TailTruncated > 0 ? 2 : 0)}); {(new FileInfo(segment).Length == sizeBefore - torn ? "nothing changed on disk" : "THE FILE CHANGED")}"));

        // 5. A writer reopen recovers: keeps every valid record, cuts the torn tail so new writes are safe.
        using (var kv = KvStore.Open(store))
        {
            var report = kv.RecoveryReport;
            o.Line(string.Create(CultureInfo.InvariantCulture, $"  recover  writer reopen kept {report.RecordsReplayed} records (last txid {report.LastTxIdSeen}), {(report.TailCut ? "cut" : "found")} the {report.TailBytesDiscarded}-byte torn tail"));

            // 6. Read back.
            o.Line($"  read     user:1 = {Show(kv.Get("user:1"u8))}, user:2 = {Show(kv.Get("user:2"u8))}, session:42 = {Show(kv.Get("session:42"u8), "(deleted)")}, user:3 = {Show(kv.Get("user:3"u8), "(none: torn before its fsync)")}");
            kv.Put("user:3"u8, "carol"u8);
            kv.Fsync();
            var where = kv.RefOf("user:3"u8)!.Value;
            o.Line(string.Create(CultureInfo.InvariantCulture, $"  rewrite  put user:3 again, fsynced: txid {kv.Log.NextTxId - 1} at offset {where.Offset}, right after the last valid frame"));

            // 7. Compact and export (the source is never modified).
            string compacted = Path.Combine(dir, "store.compacted");
            var stats = kv.CompactTo(compacted);
            int segments = SegmentFiles.List(compacted).Count;
            o.Line(string.Create(CultureInfo.InvariantCulture, $"  compact  {stats.LiveKeys} live keys -> store.compacted ({segments} segment, {stats.BytesWritten} bytes: one Put per key, no tombstones, no raw events)"));
            string export = Path.Combine(dir, "export.jsonl");
            kv.ExportJsonl(export);
            var lines = File.ReadAllLines(export);
            o.Line($"  export   {lines.Length} JSON lines -> export.jsonl, e.g. {lines.FirstOrDefault()}");
        }

        // 8. The atomic-file primitive underneath.
        string settings = Path.Combine(dir, "settings.json");
        AtomicFile.WriteAtomic(settings, "{\"theme\":\"light\"}\n"u8);
        AtomicFile.WriteAtomic(settings, "{\"theme\":\"dark\"}\n"u8);
        o.Line($"  atomic   settings.json replaced twice (AtomicFile.WriteAtomic): now {File.ReadAllText(settings).Trim()}, never a mix");
        o.Line("every fsynced write survived the crash; the torn, unacknowledged one was cut, never half-read");
        if (keep)
        {
            string kept = Path.Combine(shown, "store");
            o.Line($"kept {shown}; try: datawal scan {kept}   datawal check {kept}");
        }
    }

    private static string Show(byte[]? value, string missing = "(none)") => value is null ? missing : "\"" + Encoding.UTF8.GetString(value) + "\"";
}
