using System.CommandLine;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary>
/// <c>truncate LOG (--before SEGMENT | --keep-last N) [--force]</c>: retention for a record log — deletes whole sealed
/// segments with <see cref="RecordLog.DeleteSegmentsBefore"/>, as the log's writer (refused, exit 1, while another
/// process holds the writer lock). Exit 0 also when there is nothing to delete.
/// </summary>
/// <remarks>
/// Why <c>--force</c> for key/value records: the tool cannot know whether a directory is used as a
/// <see cref="Kv.KvStore"/>, but the records say what they are. A KV store writes only Put and Delete records (plus
/// the empty Raw watermark of its compaction); an application log appends Raw records. Deleting a segment that holds
/// a Put forgets every key whose latest write is in it — silently, since the store still opens — so a segment with
/// Put or Delete records is deleted only with <c>--force</c>, and the refusal points to <c>compact --in-place</c>,
/// which reclaims a KV store's space without losing a key. The check costs nothing: the writer open reads every
/// frame anyway, and an observer notes each segment's record types in that same pass. It looks at every sealed
/// segment below the cut (a superset of what retention deletes), so it never lets a keyed segment through.
/// </remarks>
internal static class TruncateCommand
{
    public const int LabelWidth = 18;

    public static Command Create(App app)
    {
        var log = new Argument<string>("log") { Description = "The record log directory. It must exist and hold segments." };
        var before = new Option<uint?>("--before")
        {
            Description = "Delete the sealed segments whose id is below SEGMENT (a record's segment, e.g. from scan: keep it and everything after it).",
            HelpName = "SEGMENT",
            CustomParser = result => CommonOptions.Number<uint>(result, "--before <SEGMENT>"),
        };
        var keepLast = new Option<uint?>("--keep-last")
        {
            Description = "Keep the newest N segments (the active one included, N >= 1) and delete the older ones.",
            HelpName = "N",
            CustomParser = result =>
            {
                // Checked here, not in the command's validator: a validator must not read a value that failed to parse.
                uint? n = CommonOptions.Number<uint>(result, "--keep-last <N>");
                if (n == 0)
                {
                    result.AddError("--keep-last must be at least 1 (the active segment is never deleted)");
                }

                return n;
            },
        };
        var force = new Option<bool>("--force")
        {
            Description = "Also delete segments that hold key/value records (Put/Delete). Deleting them from a key/value store " +
                "FORGETS every key whose latest write is there; reclaim a key/value store's space with 'compact STORE --in-place' instead.",
            Arity = ArgumentArity.Zero,
        };
        var command = new Command(
            "truncate",
            "Retention for a record log: delete whole old sealed segments, oldest first (never the active one, never a record after the cut). " +
            "Takes the writer lock (refused, exit 1, while another process writes). Not for key/value stores: see --force.")
        {
            log, before, keepLast, force,
        };
        command.Validators.Add(result =>
        {
            bool hasBefore = result.GetResult(before) is not null;
            bool hasKeepLast = result.GetResult(keepLast) is not null;
            if (hasBefore == hasKeepLast)
            {
                result.AddError("pass exactly one of --before SEGMENT or --keep-last N");
            }
        });
        app.Bind(
            command,
            (parse, context) => Run(context, parse.GetValue(log)!, parse.GetValue(before), parse.GetValue(keepLast), parse.GetValue(force)),
            "datawal truncate ./log --keep-last 10",
            "datawal --json truncate ./log --before 42");
        return command;
    }

    public static int Run(CliContext context, string path, uint? before, uint? keepLast, bool force)
    {
        Maintenance.RequireExistingStore(path, "truncate");
        var contents = new SegmentContents();
        RecordLog log;
        try
        {
            log = RecordLog.Open(path, null, contents);
        }
        catch (StoreLockedException e)
        {
            throw new CliException(
                $"truncate: another process is writing to {path} (it holds the writer lock), so its segments cannot be deleted from here; " +
                $"stop it first, or let it delete them itself (RecordLog.DeleteSegmentsBefore). ({e.Message})",
                ExitCodes.Error,
                e);
        }
        catch (CorruptRecordException e)
        {
            throw new CliException($"open record log {path}: {e.Message}", ExitCodes.Corrupt, e, Salvage.WriterHint(path, e));
        }

        using (log)
        {
            Maintenance.NoteTailCut(context, path, log.RecoveryReport);
            uint active = log.ActiveSegment;
            var ids = SegmentFiles.List(log.Directory);
            uint cut = before ?? (ids.Count > keepLast!.Value ? ids[ids.Count - (int)keepLast.Value] : 0);
            var candidates = ids.Where(id => id < cut && id < active).ToList();
            var keyed = candidates.Where(contents.HoldsKeyedRecords).ToList();
            if (keyed.Count > 0 && !force)
            {
                throw new CliException(
                    $"truncate: {Segments(keyed)} of {path} {(keyed.Count == 1 ? "holds" : "hold")} key/value records (Put/Delete): in a key/value store, deleting a segment forgets every key " +
                    $"whose latest write is in it. Reclaim a key/value store's space with 'datawal compact {path} --in-place'; pass --force to delete them anyway. Nothing was deleted.");
            }

            var sizes = candidates.ToDictionary(id => id, id => SegmentSize(log.Directory, id));
            IReadOnlyList<uint> deleted;
            try
            {
                deleted = log.DeleteSegmentsBefore(cut);
            }
            catch (DataWalException e)
            {
                throw new CliException($"truncate {path}: {e.Message}", ExitCodes.Error, e);
            }

            long bytes = deleted.Sum(id => sizes.GetValueOrDefault(id));
            var remaining = SegmentFiles.List(log.Directory);
            uint? first = remaining.Count > 0 ? remaining[0] : null;
            if (context.Json)
            {
                context.Line(JsonLines.Truncate(path, deleted, bytes, first));
            }
            else
            {
                context.Field("schema:", JsonLines.Schema, LabelWidth);
                context.Field("kind:", "truncate", LabelWidth);
                context.Field("store:", path, LabelWidth);
                context.Field("deleted:", deleted.Count == 0 ? "none" : string.Join(' ', deleted.Select(id => id.ToString("D8", System.Globalization.CultureInfo.InvariantCulture))), LabelWidth);
                context.Field("segments_deleted:", deleted.Count, LabelWidth);
                context.Field("bytes_deleted:", bytes, LabelWidth);
                context.Field("first_segment:", first is uint f ? f.ToString("D8", System.Globalization.CultureInfo.InvariantCulture) : "none", LabelWidth);
            }

            return ExitCodes.Ok;
        }
    }

    private static string Segments(List<uint> ids) =>
        (ids.Count == 1 ? "segment " : "segments ") + string.Join(", ", ids.Select(id => id.ToString("D8", System.Globalization.CultureInfo.InvariantCulture)));

    private static long SegmentSize(string directory, uint id)
    {
        try
        {
            return new FileInfo(SegmentFiles.PathFor(directory, id)).Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Which segments hold Put or Delete records, noted during the writer open's recovery pass.</summary>
    private sealed class SegmentContents : IRecordLogObserver
    {
        private readonly HashSet<uint> _keyed = [];

        public bool HoldsKeyedRecords(uint segment) => _keyed.Contains(segment);

        public void Visit(LogFrame frame)
        {
            if (frame.Type is RecordType.Put or RecordType.Delete)
            {
                _keyed.Add(frame.Ref.Segment);
            }
        }

        public void OnAppended(AppendedFrames frames)
        {
            // This command appends nothing.
        }
    }
}
