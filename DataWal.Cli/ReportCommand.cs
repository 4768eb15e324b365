using System.CommandLine;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary><c>report STORE</c>: the recovery report of a read-only pass. Exit 2 for a damaged tail, 3 for corruption.</summary>
internal static class ReportCommand
{
    public const int LabelWidth = 21;

    public static Command Create(App app)
    {
        var store = CommonOptions.Store();
        var command = new Command("report", "Print the recovery report: segments read, records, damaged tail, last txid (read-only).") { store };
        app.Bind(
            command,
            (parse, context) => Run(context, parse.GetValue(store)!),
            "datawal report ./store",
            "datawal --json report ./store");
        return command;
    }

    public static int Run(CliContext context, string store)
    {
        var reader = Store.OpenReader(context, store);
        var records = reader.ScanIter();
        try
        {
            foreach (var _ in records)
            {
            }
        }
        catch (CorruptRecordException e)
        {
            throw new CliException($"recovery report {store}: {e.Message}", ExitCodes.Corrupt, e);
        }

        var report = records.RecoveryReport;
        if (context.Json)
        {
            context.Line(JsonLines.Report(report));
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
        }

        return report.TailTruncated > 0 ? ExitCodes.Recoverable : ExitCodes.Ok;
    }
}
