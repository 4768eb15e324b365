using System.CommandLine;
using System.Globalization;
using DataWal.Core;
using DataWal.Kv;

namespace DataWal.Cli;

/// <summary>
/// <c>compact STORE TARGET</c>: a fresh store in TARGET with one Put per live key (sorted, no tombstones,
/// no Raw records). Refuses a non-empty TARGET (exit 1); the source is never touched — swapping the
/// directories is the caller's job.
/// <c>compact STORE --in-place</c>: the online compaction of <see cref="KvStore.CompactAsync"/> in the store's
/// own directory, as its writer (refused, exit 1, while another process holds the writer lock).
/// </summary>
internal static class CompactCommand
{
    public static Command Create(App app)
    {
        var store = CommonOptions.Store();
        var target = new Argument<string?>("target")
        {
            Description = "The directory to write the compacted store to (missing or empty). Not with --in-place.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var inPlace = new Option<bool>("--in-place")
        {
            Description = "Compact the store in its own directory instead of writing a copy: takes the writer lock (refused, exit 1, " +
                "while another process writes; the copy form works beside a writer), opens the store as its writer (which cuts a " +
                "damaged tail, as any writer open does), keeps each key's latest value, and replaces the old segments crash-safely. " +
                "Ctrl-C before the new segment is installed leaves the store as it was.",
            Arity = ArgumentArity.Zero,
        };
        var command = new Command("compact", "Write a compacted copy of the store (live keys only) to a new directory (the source is not touched), or compact it in place with --in-place.") { store, target, inPlace };
        command.Validators.Add(result =>
        {
            bool hasTarget = result.GetResult(target) is { Tokens.Count: > 0 };
            bool isInPlace = result.GetValue(inPlace);
            if (hasTarget && isInPlace)
            {
                result.AddError("--in-place and TARGET cannot be used together: pass TARGET to write a compacted copy, or --in-place to compact the store itself");
            }
            else if (!hasTarget && !isInPlace)
            {
                result.AddError("pass TARGET (write a compacted copy) or --in-place (compact the store in its own directory)");
            }
        });
        app.Bind(
            command,
            (parse, context) => parse.GetValue(inPlace)
                ? RunInPlace(context, parse.GetValue(store)!)
                : Run(context, parse.GetValue(store)!, parse.GetValue(target)!),
            "datawal compact ./store ./store.compacted",
            "datawal --json compact ./store ./store.compacted",
            "datawal compact ./store --in-place");
        return command;
    }

    public static int Run(CliContext context, string store, string target)
    {
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
        {
            return context.FailIn("compact", $"target directory is not empty: {target}", ExitCodes.Error);
        }

        if (File.Exists(target))
        {
            throw new CliException($"compact to {target}: it is a file, not a directory");
        }

        KvStore opened;
        try
        {
            opened = Store.OpenKv(context, store);
        }
        catch (CorruptRecordException e)
        {
            throw new CliException(e.Message, ExitCodes.Corrupt, e, Salvage.CompactHint(store, target, e));
        }

        using var kv = opened;
        Kv.CompactionStats stats;
        using (var progress = context.Progress())
        {
            progress.Update(() => $"compact: writing {kv.Count:N0} live keys to {target} ...", force: true);
            var reporter = CopyReporter(progress, "compact");
            try
            {
                // On the thread pool, and waited for here, like the in-place compaction below.
                stats = kv.CompactToAsync(target, reporter).GetAwaiter().GetResult();
            }
            catch (CorruptRecordException e)
            {
                throw new CliException(ErrorText.Join("compact to", target, e.Message), ExitCodes.Corrupt, e, Salvage.CompactHint(store, target, e));
            }
            catch (Exception e) when (e is not CliException)
            {
                throw new CliException(ErrorText.Join("compact to", target, e.Message), ExitCodes.Error, e);
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

        Maintenance.NoteDamagedTail(context, "compact", store, kv.RecoveryReport);
        return ExitCodes.Ok;
    }

    /// <summary>The progress line of a copy of the live set: <c>export:  42% 4,096/9,750 keys, 1.2 MiB written</c>.</summary>
    internal static string CopyLine(string command, KvCopyProgress p) => string.Create(
        CultureInfo.InvariantCulture,
        $"{command}: {VerifyCommand.Percent(p.KeysCopied, p.KeysTotal)} {p.KeysCopied:N0}/{p.KeysTotal:N0} keys, {BytesText.Format(p.BytesWritten)} written");

    /// <summary>A reporter that draws <see cref="CopyLine"/> on <paramref name="progress"/>; null when there is no progress line.</summary>
    internal static IProgress<KvCopyProgress>? CopyReporter(ProgressLine progress, string command) =>
        progress.Enabled ? new SyncProgress<KvCopyProgress>(p => progress.Update(() => CopyLine(command, p))) : null;

    /// <summary>Labels of the in-place summary are padded to this width.</summary>
    public const int InPlaceLabelWidth = 20;

    /// <summary>
    /// <c>compact STORE --in-place</c>: opens the store as its writer and runs <see cref="KvStore.CompactAsync"/>.
    /// Cancellation (Ctrl-C, SIGTERM) before the image is installed leaves the store as it was: exit 1, since the
    /// compaction did not happen (a script must not take a cancelled compaction for a done one).
    /// </summary>
    public static int RunInPlace(CliContext context, string store)
    {
        Maintenance.RequireExistingStore(store, "compact");
        KvStore kv;
        try
        {
            kv = KvStore.Open(store);
        }
        catch (StoreLockedException e)
        {
            throw new CliException(
                $"compact: another process is writing to {store} (it holds the writer lock), so it cannot be compacted in place; " +
                $"'datawal compact {store} TARGET' writes a compacted copy beside a running writer, or the writer can compact it itself (KvStore.Compact). ({e.Message})",
                ExitCodes.Error,
                e);
        }
        catch (CorruptRecordException e)
        {
            throw new CliException($"open store {store}: {e.Message}", ExitCodes.Corrupt, e, Salvage.WriterHint(store, e));
        }

        using (kv)
        {
            Maintenance.NoteTailCut(context, store, kv.RecoveryReport);
            KvCompactionResult result;
            using (var interrupts = context.HandleInterrupts())
            using (var progress = context.Progress())
            {
                progress.Update(() => string.Create(CultureInfo.InvariantCulture, $"compact: {kv.Count:N0} live keys ..."), force: true);
                var reporter = new SyncProgress<KvCompactionProgress>(p => progress.Update(() => string.Create(
                    CultureInfo.InvariantCulture,
                    $"compact: {VerifyCommand.Percent(p.KeysWritten, p.KeysTotal)} {p.KeysWritten:N0}/{p.KeysTotal:N0} keys, {BytesText.Format(p.BytesWritten)} written")));
                try
                {
                    // On the thread pool, and waited for here: the compaction's continuations must not need a
                    // synchronization context an embedder may have installed on this thread.
                    result = kv.CompactAsync(reporter, context.Cancellation).GetAwaiter().GetResult();
                }
                catch (OperationCanceledException) when (context.Cancellation.IsCancellationRequested)
                {
                    progress.Dispose();
                    string cancelled = $"cancelled before the compacted segment was installed: nothing in {store} was replaced or deleted";
                    return context.FailIn("compact", cancelled, ExitCodes.Error);
                }
                catch (CorruptRecordException e)
                {
                    throw new CliException($"compact {store} in place: {e.Message} (nothing was changed)", ExitCodes.Corrupt, e, Salvage.WriterHint(store, e));
                }
                catch (DataWalException e)
                {
                    throw new CliException($"compact {store} in place: {e.Message}", ExitCodes.Error, e);
                }
            }

            if (context.Json)
            {
                context.Line(JsonLines.CompactInPlace(store, result));
            }
            else
            {
                const int width = InPlaceLabelWidth;
                context.Field("schema:", JsonLines.Schema, width);
                context.Field("kind:", JsonLines.CompactInPlaceKind, width);
                context.Field("store:", store, width);
                context.Field("segments_compacted:", result.SegmentsCompacted, width);
                context.Field("segments_deleted:", result.SegmentsDeleted, width);
                context.Field("live_keys:", result.LiveKeys, width);
                context.Field("bytes_before:", result.BytesBefore, width);
                context.Field("bytes_after:", result.BytesAfter, width);
                context.Field("bytes_reclaimed:", result.BytesReclaimed, width);
                context.Field("elapsed_ms:", JsonLines.Milliseconds(result.Elapsed), width);
                context.Line(result.SegmentsCompacted == 0
                    ? "nothing to compact: the store holds no records"
                    : string.Create(
                        CultureInfo.InvariantCulture,
                        $"compacted {result.SegmentsCompacted} segment(s) into 1: {BytesText.Format(result.BytesBefore)} -> {BytesText.Format(result.BytesAfter)}, " +
                        $"reclaimed {BytesText.Format(result.BytesReclaimed)} ({BytesText.Percent(result.BytesReclaimed, result.BytesBefore)}) in {result.Elapsed.TotalSeconds:0.00} s"));
            }

            return ExitCodes.Ok;
        }
    }
}
