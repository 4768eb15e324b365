using System.CommandLine;

namespace DataWal.Cli;

/// <summary>
/// <c>compact STORE TARGET</c>: a fresh store in TARGET with one Put per live key (sorted, no tombstones,
/// no Raw records). Refuses a non-empty TARGET (exit 1); the source is never touched — swapping the
/// directories is the caller's job.
/// </summary>
internal static class CompactCommand
{
    public static Command Create(App app)
    {
        var store = CommonOptions.Store();
        var target = new Argument<string>("target") { Description = "The directory to write the compacted store to (missing or empty)." };
        var command = new Command("compact", "Write a compacted copy of the store (live keys only) to a new directory (the source is not touched).") { store, target };
        app.Bind(
            command,
            (parse, context) => Run(context, parse.GetValue(store)!, parse.GetValue(target)!),
            "datawal compact ./store ./store.compacted",
            "datawal --json compact ./store ./store.compacted");
        return command;
    }

    public static int Run(CliContext context, string store, string target)
    {
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
        {
            context.ErrorLine($"datawal: compact: target directory is not empty: {target}");
            return ExitCodes.Error;
        }

        if (File.Exists(target))
        {
            throw new CliException($"compact to {target}: it is a file, not a directory");
        }

        using var kv = Store.OpenKv(context, store);
        Kv.CompactionStats stats;
        using (var progress = context.Progress())
        {
            progress.Update(() => $"compact: writing {kv.Count:N0} live keys to {target} ...", force: true);
            try
            {
                stats = kv.CompactTo(target);
            }
            catch (DataWal.Core.CorruptRecordException e)
            {
                throw new CliException($"compact to {target}: {e.Message}", ExitCodes.Corrupt, e);
            }
            catch (Exception e) when (e is not CliException)
            {
                throw new CliException($"compact to {target}: {e.Message}", ExitCodes.Error, e);
            }
        }

        if (context.Json)
        {
            context.Line(JsonLines.Compact(target, stats));
        }
        else
        {
            const int width = ExportCommand.LabelWidth;
            context.Field("schema:", JsonLines.Schema, width);
            context.Field("kind:", "compact", width);
            context.Field("target:", target, width);
            context.Field("live_keys:", stats.LiveKeys, width);
            context.Field("records_written:", stats.RecordsWritten, width);
            context.Field("bytes_written:", stats.BytesWritten, width);
        }

        return ExitCodes.Ok;
    }
}
