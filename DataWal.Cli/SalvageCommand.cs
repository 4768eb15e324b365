using System.CommandLine;
using System.Globalization;
using DataWal.Core;
using DataWal.Kv;

namespace DataWal.Cli;

/// <summary>
/// <c>salvage STORE OUT [--log|--kv]</c> (docs/design.md D16): reads STORE read-only in <see cref="ReadMode.Salvage"/>
/// and writes what is intact into a new, strict store in OUT (missing or empty). <c>--log</c> (the default, since it
/// loses nothing that is intact: every record, Raw ones and old values included) copies every intact record with
/// <see cref="RecordLogReader.SalvageTo"/>; <c>--kv</c> writes the live set, one Put per key, with
/// <see cref="KvStore.SalvageTo"/>. Exit 0 when nothing was skipped, 2 when ranges were skipped or the tail was damaged
/// (the copy was made; the ranges are listed), 1 on an error (missing store, OUT not an empty directory, I/O).
/// Replacing STORE with OUT is the caller's job.
/// </summary>
internal static class SalvageCommand
{
    public const int LabelWidth = 21;

    public static Command Create(App app)
    {
        var store = CommonOptions.Store();
        var output = new Argument<string>("out")
        {
            Description = "The directory to write the salvaged store to (missing or empty; it is created). STORE is never changed.",
        };
        var log = new Option<bool>("--log")
        {
            Description = "Copy every intact record, in log order, with its type, key, payload and txid (the default): nothing intact is lost.",
            Arity = ArgumentArity.Zero,
        };
        var kv = new Option<bool>("--kv")
        {
            Description = "Write only the key/value live set over the intact records: one Put per live key, sorted, txids 1..N (as compact).",
            Arity = ArgumentArity.Zero,
        };
        var command = new Command(
            "salvage",
            "Copy what is intact in a damaged store into a new store (read-only on STORE): skips every damaged range, lists it, " +
            "and writes a strict store that every command and writer opens. Exit 0 if nothing was skipped, 2 if something was.")
        {
            store, output, log, kv,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(log) && result.GetValue(kv))
            {
                result.AddError("--log and --kv cannot be used together: --log copies every intact record (the default), --kv only the live keys");
            }
        });
        app.Bind(
            command,
            (parse, context) => Run(context, parse.GetValue(store)!, parse.GetValue(output)!, parse.GetValue(kv)),
            "datawal salvage ./store ./store.salvaged",
            "datawal salvage ./store ./store.live --kv",
            "datawal --json salvage ./store ./store.salvaged");
        return command;
    }

    public static int Run(CliContext context, string store, string outDirectory, bool kv)
    {
        Store.RequireDirectory(store);
        if (File.Exists(outDirectory))
        {
            throw new CliException($"salvage to {outDirectory}: it is a file, not a directory (nothing was written)");
        }

        if (Directory.Exists(outDirectory) && Directory.EnumerateFileSystemEntries(outDirectory).Any())
        {
            throw new CliException($"salvage: target directory is not empty: {outDirectory} (nothing was written)");
        }

        if (string.Equals(Path.GetFullPath(outDirectory).TrimEnd(Path.DirectorySeparatorChar), Path.GetFullPath(store).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
        {
            throw new CliException($"salvage: OUT is STORE ({store}): salvage writes a new store and never changes the source");
        }

        if (SegmentFiles.List(store).Count == 0 && !context.Json)
        {
            context.ErrorLine($"datawal: note: no segment files (NNNNNNNN.dwal) in {store}: an empty store");
        }

        SalvageSummary summary;
        using (var progress = context.Progress())
        {
            progress.Update(() => $"salvage: reading {store}, writing {outDirectory} ...", force: true);
            try
            {
                if (kv)
                {
                    var r = KvStore.SalvageToAsync(store, outDirectory, CompactCommand.CopyReporter(progress, "salvage")).GetAwaiter().GetResult();
                    summary = new SalvageSummary(true, r.LiveKeys, 0, r.BytesWritten, SegmentFiles.List(outDirectory).Count, (ulong)r.LiveKeys, r.Report);
                }
                else
                {
                    var reporter = progress.Enabled
                        ? new SyncProgress<LogSalvageProgress>(p => progress.Update(() => string.Create(
                            CultureInfo.InvariantCulture,
                            $"salvage: {VerifyCommand.Percent(p.BytesScanned, p.BytesTotal)} {BytesText.Format(p.BytesScanned)}/{BytesText.Format(p.BytesTotal)} read, {p.RecordsWritten:N0} records written")))
                        : null;
                    var r = RecordLogReader.Open(store, ReadMode.Salvage).SalvageToAsync(outDirectory, reporter).GetAwaiter().GetResult();
                    summary = new SalvageSummary(false, r.RecordsWritten, r.RecordsRenumbered, r.BytesWritten, r.SegmentsWritten, r.LastTxId, r.Report);
                }
            }
            catch (Exception e) when (e is not (CliException or CorruptRecordException))
            {
                throw new CliException(ErrorText.Join($"salvage {store} to", outDirectory, e.Message), ExitCodes.Error, e);
            }
        }

        var report = summary.Report;
        if (context.Json)
        {
            context.Line(JsonLines.Salvage(store, outDirectory, summary));
        }
        else
        {
            const int width = LabelWidth;
            context.Field("schema:", JsonLines.Schema, width);
            context.Field("kind:", "salvage", width);
            context.Field("store:", store, width);
            context.Field("out:", outDirectory, width);
            context.Field("mode:", kv ? "kv" : "log", width);
            context.Field("records_written:", summary.RecordsWritten, width);
            if (kv)
            {
                context.Field("live_keys:", summary.RecordsWritten, width);
            }
            else
            {
                context.Field("records_renumbered:", summary.RecordsRenumbered, width);
            }

            context.Field("bytes_written:", summary.BytesWritten, width);
            context.Field("segments_written:", summary.SegmentsWritten, width);
            context.Field("last_txid:", summary.LastTxId, width);
            context.Field("files_scanned:", report.FilesScanned, width);
            context.Field("records_read:", report.RecordsReplayed, width);
            context.Field("tail_truncated:", report.TailTruncated, width);
            context.Field("tail_bytes_discarded:", report.TailBytesDiscarded, width);
            context.Field("skipped_ranges:", report.SkippedRanges.Count, width);
            foreach (var range in report.SkippedRanges)
            {
                context.Field("skipped:", Salvage.Describe(range), width);
            }

            if (report.SkippedRanges.Count > 0)
            {
                context.Line($"{char.ToUpperInvariant(Salvage.Meaning[0])}{Salvage.Meaning[1..]}.");
            }

            if (report.TailTruncated > 0)
            {
                context.Line($"The last segment ended in a damaged tail of {report.TailBytesDiscarded} bytes (a write that never completed); it was not copied.");
            }

            context.Line(report.SkippedRanges.Count == 0 && report.TailTruncated == 0
                ? $"Nothing was skipped: {outDirectory} holds everything {store} held{(kv ? " (its live keys)" : "")}."
                : $"Check {outDirectory} (datawal verify {outDirectory}), then replace {store} with it by hand; {store} was not changed.");
        }

        return report.SkippedRanges.Count > 0 || report.TailTruncated > 0 ? ExitCodes.Recoverable : ExitCodes.Ok;
    }
}

/// <summary>What <c>salvage</c> wrote, for either mode (<c>--kv</c>: one Put per live key, txids 1..N).</summary>
internal sealed record SalvageSummary(bool Kv, long RecordsWritten, long RecordsRenumbered, long BytesWritten, int SegmentsWritten, ulong LastTxId, RecoveryReport Report);
