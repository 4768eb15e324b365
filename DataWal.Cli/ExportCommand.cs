using System.CommandLine;
using DataWal.Core;
using SafeAtomic;

namespace DataWal.Cli;

/// <summary>
/// <c>export STORE OUTFILE</c>: the live key/value pairs as JSON lines <c>{"key_b64":…,"value_b64":…}</c>,
/// sorted by key, written atomically and durably. Refuses an existing OUTFILE (exit 1) — also when one
/// appears while the export runs — unless <c>--overwrite</c> (then replaced atomically; <see cref="Kv.KvStore.ExportJsonl(string, bool)"/>),
/// and never touches the store.
/// </summary>
internal static class ExportCommand
{
    public const int LabelWidth = 17;

    public static Command Create(App app)
    {
        var store = CommonOptions.Store();
        var outfile = new Argument<string>("outfile") { Description = "The JSONL file to create (must not exist; missing parent directories are created)." };
        var salvage = Salvage.Option();
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace an existing OUTFILE (atomically: readers see the old file or the whole new one)." };
        var command = new Command("export", "Write the live keys and values as JSON lines to a new file (the store is not touched).") { store, outfile, salvage, overwrite };
        app.Bind(
            command,
            (parse, context) => Run(context, parse.GetValue(store)!, parse.GetValue(outfile)!, Salvage.Mode(parse.GetValue(salvage)), parse.GetValue(overwrite)),
            "datawal export ./store ./store.jsonl",
            "datawal export ./store ./store.jsonl --overwrite",
            "datawal export ./store ./intact.jsonl --salvage",
            "datawal --json export ./store /backups/store-2026-01-01.jsonl");
        return command;
    }

    public static int Run(CliContext context, string store, string outfile, ReadMode mode = ReadMode.Strict, bool overwrite = false)
    {
        if (!overwrite && Path.Exists(outfile))
        {
            return context.FailIn("export", $"refuses to overwrite existing file: {outfile}", ExitCodes.Error);
        }

        Kv.KvStore opened;
        try
        {
            opened = Store.OpenKv(context, store, mode);
        }
        catch (CorruptRecordException e)
        {
            throw new CliException(e.Message, ExitCodes.Corrupt, e, Salvage.ReadHint(store, e));
        }

        using var kv = opened;
        long records = kv.Count;
        string target = Path.GetFullPath(outfile);
        using (var progress = context.Progress())
        {
            progress.Update(() => $"export: writing {records:N0} keys to {outfile} ...", force: true);
            try
            {
                // Without --overwrite the library renames without replacing: an OUTFILE created by someone else in
                // the meantime is never overwritten.
                kv.ExportJsonlAsync(target, overwrite, CompactCommand.CopyReporter(progress, "export")).GetAwaiter().GetResult();
            }
            catch (DataWalException e) when (e.InnerException is AlreadyExistsException)
            {
                progress.Dispose();
                return context.FailIn("export", $"refuses to overwrite existing file: {outfile}", ExitCodes.Error);
            }
            catch (CorruptRecordException e)
            {
                throw new CliException(ErrorText.Join("export jsonl to", outfile, e.Message), ExitCodes.Corrupt, e, Salvage.ReadHint(store, e));
            }
            catch (Exception e) when (e is not CliException)
            {
                throw new CliException(ErrorText.Join("export jsonl to", outfile, e.Message), ExitCodes.Error, e);
            }
        }

        long bytes = new FileInfo(target).Length;
        if (context.Json)
        {
            context.Line(JsonLines.Export(outfile, records, bytes));
        }
        else
        {
            context.Field("schema:", JsonLines.Schema, LabelWidth);
            context.Field("kind:", "export", LabelWidth);
            context.Field("outfile:", outfile, LabelWidth);
            context.Field("records_written:", records, LabelWidth);
            context.Field("bytes_written:", bytes, LabelWidth);
        }

        Maintenance.NoteDamagedTail(context, "export", store, kv.RecoveryReport);
        return Salvage.Finish(context, "export", kv.RecoveryReport.SkippedRanges, ExitCodes.Ok);
    }
}
