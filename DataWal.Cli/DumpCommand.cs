using System.CommandLine;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary>
/// <c>dump STORE</c>: frame headers only (never payload bytes). Exit 0 even with a damaged tail (as
/// upstream), noted on stderr; on corruption the frames before it are printed, then the error and exit 3.
/// </summary>
internal static class DumpCommand
{
    public static Command Create(App app)
    {
        var store = CommonOptions.Store();
        var limit = CommonOptions.Limit("frames");
        var bytes = CommonOptions.Bytes();
        var noTruncate = CommonOptions.NoTruncate();
        var salvage = Salvage.Option();
        var command = new Command("dump", "Print frame headers (segment, offset, length, type, txid, key, sizes), never payloads (read-only).")
        {
            store, limit, bytes, noTruncate, salvage,
        };
        app.Bind(
            command,
            (parse, context) => Run(
                context,
                parse.GetValue(store)!,
                parse.GetValue(limit),
                CommonOptions.Mode(parse.GetValue(bytes)),
                CommonOptions.Truncation(parse.GetValue(noTruncate)),
                Salvage.Mode(parse.GetValue(salvage))),
            "datawal dump ./store",
            "datawal dump ./store --salvage",
            "datawal dump ./store --limit 5 --bytes hex",
            "datawal --json dump ./store");
        return command;
    }

    public static int Run(CliContext context, string store, ulong? limit, BytesMode mode, int? truncate, ReadMode readMode = ReadMode.Strict)
    {
        var reader = Store.OpenReader(context, store, readMode);
        var records = reader.ScanIter();
        ulong emitted = 0;
        try
        {
            foreach (var record in records)
            {
                if (limit is ulong max && emitted >= max)
                {
                    continue;
                }

                context.Line(context.Json ? JsonLines.Frame(record) : HumanFormat.DumpLine(record, mode, truncate));
                emitted++;
            }
        }
        catch (CorruptRecordException e)
        {
            context.Out.Flush();
            context.FailIn("dump", $"mid-stream error: {e.Message}", ExitCodes.Corrupt);
            Salvage.Hint(context, Salvage.ReadHint(store, e));
            return ExitCodes.Corrupt;
        }

        // A damaged tail still exits 0 (upstream pins it), with a note; ranges skipped by --salvage exit 2.
        Maintenance.NoteDamagedTail(context, "dump", store, records.RecoveryReport);
        return Salvage.Finish(context, "dump", records.RecoveryReport.SkippedRanges, ExitCodes.Ok);
    }
}
