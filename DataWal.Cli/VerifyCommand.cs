using System.CommandLine;
using System.Globalization;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary>
/// <c>verify STORE</c>: decodes and CRC-checks every frame. Exit 2 for a damaged tail; on corruption the
/// error (segment, offset) and exit 3, no summary.
/// </summary>
internal static class VerifyCommand
{
    public static Command Create(App app)
    {
        var store = CommonOptions.Store();
        var salvage = Salvage.Option();
        var command = new Command("verify", "Check every frame's structure and CRC-32C; print a summary (read-only).") { store, salvage };
        app.Bind(
            command,
            (parse, context) => Run(context, parse.GetValue(store)!, Salvage.Mode(parse.GetValue(salvage))),
            "datawal verify ./store",
            "datawal verify ./store --salvage",
            "datawal --json verify ./store");
        return command;
    }

    public static int Run(CliContext context, string store, ReadMode mode = ReadMode.Strict)
    {
        var reader = Store.OpenReader(context, store, mode);
        var records = reader.ScanIter();
        long total = Store.SegmentBytes(reader, out long[] sizes);
        var before = new Dictionary<uint, long>();
        long sum = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            before[reader.Segments[i]] = sum;
            sum += sizes[i];
        }

        long frames = 0;
        uint lastSegment = 0;
        ulong lastOffset = 0;
        using (var progress = context.Progress())
        {
            try
            {
                foreach (var record in records)
                {
                    frames++;
                    lastSegment = record.Segment;
                    lastOffset = record.Offset;
                    progress.Update(() =>
                    {
                        long done = before.GetValueOrDefault(lastSegment) + (long)lastOffset + record.Length;
                        return string.Create(CultureInfo.InvariantCulture, $"verify: {Percent(done, total)} {frames:N0} frames, segment {lastSegment:D8}");
                    });
                }
            }
            catch (CorruptRecordException e)
            {
                progress.Dispose();
                context.FailIn("verify", $"CRC / decode failure: {e.Message}", ExitCodes.Corrupt);
                Salvage.Hint(context, Salvage.ReadHint(store, e));
                return ExitCodes.Corrupt;
            }
        }

        var report = records.RecoveryReport;
        // Strict mode reaches this point only without a failure; with --salvage each skipped range is one.
        int failures = report.SkippedRanges.Count;
        if (context.Json)
        {
            context.Line(JsonLines.Verify(frames, failures, report, lastSegment, lastOffset));
        }
        else
        {
            const int width = ReportCommand.LabelWidth;
            context.Field("schema:", JsonLines.Schema, width);
            context.Field("frames_checked:", frames, width);
            context.Field("crc_failures:", failures, width);
            context.Field("tail_truncated:", report.TailTruncated, width);
            context.Field("tail_bytes_discarded:", report.TailBytesDiscarded, width);
            context.Field("last_segment:", lastSegment, width);
            context.Field("last_offset:", lastOffset, width);
        }

        return Salvage.Finish(context, "verify", report.SkippedRanges, report.TailTruncated > 0 ? ExitCodes.Recoverable : ExitCodes.Ok);
    }

    internal static string Percent(long done, long total) =>
        total <= 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"{Math.Min(100, done * 100 / total),3}%");
}
