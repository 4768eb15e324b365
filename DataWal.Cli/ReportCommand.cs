using System.CommandLine;
using System.Globalization;
using DataWal.Core;
using DataWal.Kv;

namespace DataWal.Cli;

/// <summary>
/// <c>report STORE [--space]</c>: the recovery report of a read-only pass. Exit 2 for a damaged tail, 3 for corruption.
/// <c>--space</c> adds, after upstream's fields (which stay byte-identical), each segment's size, the total, and the
/// key/value view's live and dead bytes with whether an in-place compaction would pay.
/// </summary>
internal static class ReportCommand
{
    public const int LabelWidth = 21;

    public static Command Create(App app)
    {
        var store = CommonOptions.Store();
        var space = new Option<bool>("--space")
        {
            Description = "Also show disk use: each segment's id and size, the total, and for the key/value view the live keys, live bytes, " +
                "dead bytes (what compact --in-place would reclaim) and whether compacting would pay. Reads the store a second time to " +
                "build the key/value view (still read-only); the numbers are approximate while a writer is running.",
            Arity = ArgumentArity.Zero,
        };
        var salvage = Salvage.Option();
        var command = new Command("report", "Print the recovery report: segments read, records, damaged tail, last txid (read-only).") { store, space, salvage };
        app.Bind(
            command,
            (parse, context) => Run(context, parse.GetValue(store)!, parse.GetValue(space), Salvage.Mode(parse.GetValue(salvage))),
            "datawal report ./store",
            "datawal report ./store --salvage",
            "datawal --json report ./store",
            "datawal report ./store --space");
        return command;
    }

    public static int Run(CliContext context, string store) => Run(context, store, space: false);

    public static int Run(CliContext context, string store, bool space, ReadMode mode = ReadMode.Strict)
    {
        var reader = Store.OpenReader(context, store, mode);
        var records = reader.ScanIter();
        long keyed = 0;
        try
        {
            foreach (var record in records)
            {
                if (record.Type is RecordType.Put or RecordType.Delete)
                {
                    keyed++;
                }
            }
        }
        catch (CorruptRecordException e)
        {
            throw new CliException($"recovery report {store}: {e.Message}", ExitCodes.Corrupt, e, Salvage.ReadHint(store, e));
        }

        var report = records.RecoveryReport;
        var usage = space ? SpaceUsage.Measure(reader, keyed > 0, mode) : null;
        if (context.Json)
        {
            context.Line(usage is null ? JsonLines.Report(report) : JsonLines.Report(report, usage));
        }
        else
        {
            context.Field("schema:", JsonLines.Schema, LabelWidth);
            context.Field("files_scanned:", report.FilesScanned, LabelWidth);
            context.Field("records_replayed:", report.RecordsReplayed, LabelWidth);
            context.Field("tail_truncated:", report.TailTruncated, LabelWidth);
            context.Field("tail_bytes_discarded:", report.TailBytesDiscarded, LabelWidth);
            context.Field("mid_stream_errors:", report.MidStreamErrors, LabelWidth);
            context.Field("unsupported_versions:", report.UnsupportedVersions, LabelWidth);
            context.Field("last_txid_seen:", report.LastTxIdSeen, LabelWidth);
            if (usage is not null)
            {
                PrintSpace(context, store, usage);
            }
        }

        return Salvage.Finish(context, "report", report.SkippedRanges, report.TailTruncated > 0 ? ExitCodes.Recoverable : ExitCodes.Ok);
    }

    private static void PrintSpace(CliContext context, string store, SpaceUsage usage)
    {
        context.Field("segments:", usage.Segments.Count, LabelWidth);
        foreach (var (id, bytes) in usage.Segments)
        {
            context.Field(string.Create(CultureInfo.InvariantCulture, $"segment {id:D8}:"), bytes, LabelWidth);
        }

        context.Field("total_bytes:", usage.TotalBytes, LabelWidth);
        if (usage.Kv is { } kv)
        {
            context.Field("live_keys:", kv.LiveKeys, LabelWidth);
            context.Field("live_bytes:", kv.LiveBytes, LabelWidth);
            context.Field("dead_bytes:", kv.DeadBytes, LabelWidth);
            context.Field("dead_fraction:", kv.DeadFraction.ToString("0.000", CultureInfo.InvariantCulture), LabelWidth);
        }

        context.Field("compaction:", usage.Advice(store), LabelWidth);
    }
}

/// <summary>
/// Disk use of a store for <c>report --space</c>: segment sizes from the reader's snapshot, and the key/value view
/// (<see cref="KvStore.OpenReadOnly(string)"/>: live keys and <see cref="KvStore.LiveBytes"/>). Dead bytes are the segments'
/// total minus the live bytes: what an in-place compaction gives back (it seals the active segment and keeps only
/// each live key's latest Put).
/// </summary>
internal sealed record SpaceUsage(IReadOnlyList<(uint Id, long Bytes)> Segments, long TotalBytes, KvSpace? Kv)
{
    /// <summary>The threshold the advice uses: the library's default auto-compaction policy (dead ≥ 50% and ≥ 64 MiB), so the two agree.</summary>
    public static readonly KvAutoCompaction Policy = new();

    /// <summary>
    /// Measures <paramref name="reader"/>'s segments; <paramref name="hasKeyedRecords"/> says whether the log holds any
    /// Put or Delete record: without one it is a plain record log, which a key/value compaction does not apply to
    /// (it would drop every Raw record), so the KV fields are left out rather than calling the whole log dead.
    /// </summary>
    public static SpaceUsage Measure(RecordLogReader reader, bool hasKeyedRecords, ReadMode mode = ReadMode.Strict)
    {
        Store.SegmentBytes(reader, out long[] sizes);
        var segments = reader.Segments.Select((id, i) => (id, sizes[i])).ToList();
        long total = sizes.Sum();
        KvSpace? kv = null;
        if (hasKeyedRecords)
        {
            using var store = KvStore.OpenReadOnly(reader.Directory, mode);
            long live = store.LiveBytes;
            long dead = Math.Max(0, total - live);
            kv = new KvSpace(store.Count, live, dead, total > 0 ? (double)dead / total : 0);
        }

        return new SpaceUsage(segments, total, kv);
    }

    /// <summary>True when <see cref="Policy"/> says an in-place compaction pays.</summary>
    public bool CompactionWorthwhile => Kv is not null && Policy.ShouldCompact(TotalBytes, Kv.LiveBytes);

    public string Advice(string store)
    {
        if (Kv is not { } kv)
        {
            return "does not apply (no key/value records: a plain record log; drop old segments with datawal truncate)";
        }

        string amount = $"{BytesText.Format(kv.DeadBytes)} ({BytesText.Percent(kv.DeadBytes, TotalBytes)})";
        return CompactionWorthwhile
            ? $"would reclaim {amount}: run datawal compact {store} --in-place"
            : string.Create(
                CultureInfo.InvariantCulture,
                $"would reclaim little, {amount}: not worth it yet (it pays from {Policy.DeadFraction:0%} and {BytesText.Format(Policy.MinDeadBytes)} dead)");
    }
}

/// <summary>The key/value view's share of a store's bytes.</summary>
internal sealed record KvSpace(long LiveKeys, long LiveBytes, long DeadBytes, double DeadFraction);
