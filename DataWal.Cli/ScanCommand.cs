using System.CommandLine;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary>
/// <c>scan STORE</c>: every valid record in log order, one line each (human or JSON <c>kind:"record"</c>).
/// Exit 2 when the last segment ends in a damaged tail; on corruption the records before it are printed,
/// then the error (naming segment and offset) and exit 3.
/// </summary>
internal static class ScanCommand
{
    public static Command Create(App app)
    {
        var store = CommonOptions.Store();
        var limit = CommonOptions.Limit("records");
        var fromSegment = new Option<uint?>("--from-segment")
        {
            Description = "Start at this segment id (records of earlier segments are skipped).",
            HelpName = "S",
            CustomParser = result => CommonOptions.Number<uint>(result, "--from-segment <S>"),
        };
        var fromOffset = new Option<ulong?>("--from-offset")
        {
            Description = "With --from-segment: start at this byte offset within that segment.",
            HelpName = "O",
            CustomParser = result => CommonOptions.Number<ulong>(result, "--from-offset <O>"),
        };
        var bytes = CommonOptions.Bytes();
        var noTruncate = CommonOptions.NoTruncate();
        var command = new Command("scan", "Print every valid record in log order (read-only).")
        {
            store, limit, fromSegment, fromOffset, bytes, noTruncate,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(fromOffset) is not null && result.GetResult(fromSegment) is null)
            {
                result.AddError("--from-offset requires --from-segment");
            }
        });
        app.Bind(
            command,
            (parse, context) => Run(
                context,
                parse.GetValue(store)!,
                parse.GetValue(limit),
                parse.GetValue(fromSegment),
                parse.GetValue(fromOffset),
                CommonOptions.Mode(parse.GetValue(bytes)),
                CommonOptions.Truncation(parse.GetValue(noTruncate))),
            "datawal scan ./store",
            "datawal scan ./store --limit 10 --bytes hex",
            "datawal scan ./store --from-segment 3 --from-offset 4096",
            "datawal --json scan ./store | jq -r .payload_base64");
        return command;
    }

    public static int Run(CliContext context, string store, ulong? limit, uint? fromSegment, ulong? fromOffset, BytesMode mode, int? truncate)
    {
        var reader = Store.OpenReader(context, store);
        var records = reader.ScanIter();
        ulong emitted = 0;
        try
        {
            foreach (var record in records)
            {
                // Past the limit the pass goes on without printing: the exit code describes the whole store.
                if (limit is ulong max && emitted >= max)
                {
                    continue;
                }

                if (fromSegment is uint segment && (record.Segment < segment || (record.Segment == segment && record.Offset < (fromOffset ?? 0))))
                {
                    continue;
                }

                context.Line(context.Json ? JsonLines.Record(record) : HumanFormat.ScanLine(record, mode, truncate));
                emitted++;
            }
        }
        catch (CorruptRecordException e)
        {
            context.Out.Flush();
            context.ErrorLine($"datawal: scan: mid-stream error: {e.Message}");
            return ExitCodes.Corrupt;
        }

        var report = records.RecoveryReport;
        if (report.TailTruncated == 0)
        {
            return ExitCodes.Ok;
        }

        // Exit 2 always says why (stderr, so scripts reading stdout see only records).
        context.Out.Flush();
        context.ErrorLine(
            $"datawal: scan: damaged tail on the last segment {reader.Segments[^1]:D8}.dwal: {report.TailBytesDiscarded} bytes " +
            "after the last valid record were not read (a write in progress, or a crash before an fsync; a writer open cuts them)");
        return ExitCodes.Recoverable;
    }
}
