using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary>
/// <c>scan STORE</c>: every valid record in log order, one line each (human or JSON <c>kind:"record"</c>).
/// Exit 2 when the last segment ends in a damaged tail; on corruption the records before it are printed,
/// then the error (naming segment and offset) and exit 3. With <c>--follow</c> it goes on printing records
/// as they are appended until interrupted (exit 0); a damaged tail is then waited on, not reported.
/// </summary>
internal static class ScanCommand
{
    /// <summary>The largest <c>--poll-interval</c> (one day, <see cref="FollowOptions.PollInterval"/>'s limit).</summary>
    private const uint MaxPollIntervalMs = 86_400_000;

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
        var follow = new Option<bool>("--follow", "-f")
        {
            Description = "After the existing records, keep printing new ones as they are appended (across rotations, never a torn frame) until interrupted: Ctrl-C or SIGTERM end it with exit code 0, --limit N after N records.",
            Arity = ArgumentArity.Zero,
        };
        var from = new Option<string>("--from")
        {
            Description = "With --follow: start at the first record (start, the default) or print only records appended from now on (now).",
            HelpName = "start|now",
        };
        from.Validators.Add(result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (text is not ("start" or "now"))
            {
                result.AddError($"invalid value '{text}' for '--from <start|now>': expected start or now");
            }
        });
        var durableOnly = new Option<bool>("--durable-only")
        {
            Description = "With --follow: print only records an fsync has covered (with no writer in this process, the follower fsyncs the segment itself).",
            Arity = ArgumentArity.Zero,
        };
        var pollInterval = new Option<uint?>("--poll-interval")
        {
            Description = "With --follow: the longest wait, in milliseconds, before looking at the files again when no change notification came (default 250).",
            HelpName = "MS",
            CustomParser = PollInterval,
        };
        var salvage = Salvage.Option();
        var command = new Command("scan", "Print every valid record in log order (read-only); --follow keeps printing new ones.")
        {
            store, limit, fromSegment, fromOffset, bytes, noTruncate, follow, from, durableOnly, pollInterval, salvage,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(fromOffset) is not null && result.GetResult(fromSegment) is null)
            {
                result.AddError("--from-offset requires --from-segment");
            }

            if (result.GetResult(follow) is null)
            {
                foreach (var (option, name) in new (Option, string)[] { (from, "--from"), (durableOnly, "--durable-only"), (pollInterval, "--poll-interval") })
                {
                    if (result.GetResult(option) is not null)
                    {
                        result.AddError($"{name} requires --follow");
                    }
                }
            }
            else if (result.GetValue(from) == "now" && result.GetResult(fromSegment) is not null)
            {
                result.AddError("--from now cannot be used with --from-segment (both choose where to start)");
            }
        });
        app.Bind(
            command,
            (parse, context) =>
            {
                var start = new StartFilter(parse.GetValue(fromSegment), parse.GetValue(fromOffset));
                var mode = CommonOptions.Mode(parse.GetValue(bytes));
                var truncate = CommonOptions.Truncation(parse.GetValue(noTruncate));
                if (!parse.GetValue(follow))
                {
                    return Run(context, parse.GetValue(store)!, parse.GetValue(limit), start, mode, truncate, Salvage.Mode(parse.GetValue(salvage)));
                }

                int skipped = 0;
                var options = new FollowOptions
                {
                    DurableOnly = parse.GetValue(durableOnly),
                    PollInterval = TimeSpan.FromMilliseconds(parse.GetValue(pollInterval) ?? (uint)FollowOptions.DefaultPollInterval.TotalMilliseconds),
                    Mode = Salvage.Mode(parse.GetValue(salvage)),
                    Skipped = range =>
                    {
                        // Reported as the follower meets it, between the records around it; the exit code says so at the end.
                        skipped++;
                        Salvage.Finish(context, "scan", [range], ExitCodes.Ok);
                    },
                };
                var position = parse.GetValue(from) == "now" ? FollowPosition.Now : FollowPosition.Start;
                int code = Follow(context, parse.GetValue(store)!, parse.GetValue(limit), start, position, options, mode, truncate);
                return code == ExitCodes.Ok && skipped > 0 ? ExitCodes.Recoverable : code;
            },
            "datawal scan ./store",
            "datawal scan ./store --limit 10 --bytes hex",
            "datawal scan ./store --from-segment 3 --from-offset 4096",
            "datawal --json scan ./store | jq -r .payload_base64",
            "datawal scan ./store --salvage",
            "datawal scan ./store --follow",
            "datawal --json scan ./store --follow --from now");
        return command;
    }

    public static int Run(CliContext context, string store, ulong? limit, StartFilter start, BytesMode mode, int? truncate, ReadMode readMode = ReadMode.Strict)
    {
        var reader = Store.OpenReader(context, store, readMode);
        var records = reader.ScanIter();
        ulong emitted = 0;
        try
        {
            foreach (var record in records)
            {
                // Past the limit the pass goes on without printing: the exit code describes the whole store.
                if ((limit is ulong max && emitted >= max) || start.Skips(record))
                {
                    continue;
                }

                Print(context, record, mode, truncate);
                emitted++;
            }
        }
        catch (CorruptRecordException e)
        {
            return MidStreamError(context, store, e);
        }

        var report = records.RecoveryReport;
        int code = ExitCodes.Ok;
        if (report.TailTruncated > 0)
        {
            // Exit 2 always says why (stderr, so scripts reading stdout see only records).
            context.Out.Flush();
            string tail = $"damaged tail on the last segment {reader.Segments[^1]:D8}.dwal: {report.TailBytesDiscarded} bytes " +
                "after the last valid record were not read (a write in progress, or a crash before an fsync; a writer open cuts them)";
            code = context.FailIn("scan", tail, ExitCodes.Recoverable);
        }

        return Salvage.Finish(context, "scan", report.SkippedRanges, code);
    }

    /// <summary>
    /// <c>scan --follow</c>: the records from <paramref name="position"/> (minus those <paramref name="start"/> skips),
    /// then each new one, until <see cref="CliContext.Cancellation"/> fires (exit 0) or <paramref name="limit"/> records
    /// were printed (exit 0). Corruption: exit 3; any other <see cref="DataWalException"/>: exit 1.
    /// </summary>
    public static int Follow(CliContext context, string store, ulong? limit, StartFilter start, FollowPosition position, FollowOptions options, BytesMode mode, int? truncate)
    {
        var reader = Store.OpenReader(context, store);
        using var interrupts = context.HandleInterrupts();
        try
        {
            // On the thread pool: this thread blocks on the result, so the follower's continuations must not
            // need a synchronization context the caller may have installed on it.
            return Task.Run(() => FollowAsync(context, reader, limit, start, position, options, mode, truncate), CancellationToken.None)
                .GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (context.Cancellation.IsCancellationRequested)
        {
            context.Out.Flush();
            return ExitCodes.Ok;
        }
        catch (CorruptRecordException e)
        {
            return MidStreamError(context, store, e, follow: true);
        }
        catch (DataWalException e)
        {
            context.Out.Flush();
            return context.Fail(e.Message, ExitCodes.Error);
        }
    }

    private static async Task<int> FollowAsync(CliContext context, RecordLogReader reader, ulong? limit, StartFilter start, FollowPosition position, FollowOptions options, BytesMode mode, int? truncate)
    {
        ulong emitted = 0;
        if (limit == 0)
        {
            return ExitCodes.Ok;
        }

        var records = reader.FollowAsync(position, options, context.Cancellation).GetAsyncEnumerator(context.Cancellation);
        await using (records.ConfigureAwait(false))
        {
            while (true)
            {
                var next = records.MoveNextAsync();
                if (!next.IsCompleted)
                {
                    // The follower is about to wait: whoever reads the output must see every line printed so far.
                    context.Out.Flush();
                }

                if (!await next.ConfigureAwait(false))
                {
                    return ExitCodes.Ok;   // not reached: a follow ends only by cancellation or an error
                }

                var record = records.Current;
                if (start.Skips(record))
                {
                    continue;
                }

                Print(context, record, mode, truncate);
                if (limit is ulong max && ++emitted >= max)
                {
                    context.Out.Flush();
                    return ExitCodes.Ok;
                }
            }
        }
    }

    private static void Print(CliContext context, Record record, BytesMode mode, int? truncate) =>
        context.Line(context.Json ? JsonLines.Record(record) : HumanFormat.ScanLine(record, mode, truncate));

    private static int MidStreamError(CliContext context, string store, CorruptRecordException e, bool follow = false)
    {
        context.Out.Flush();
        context.FailIn("scan", $"mid-stream error: {e.Message}", ExitCodes.Corrupt);
        Salvage.Hint(context, Salvage.ReadHint(store, e, follow));
        return ExitCodes.Corrupt;
    }

    private static uint? PollInterval(ArgumentResult result)
    {
        const string Label = "--poll-interval <MS>";
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (uint.TryParse(text, CultureInfo.InvariantCulture, out uint ms) && ms is > 0 and <= MaxPollIntervalMs)
        {
            return ms;
        }

        result.AddError($"invalid value '{text}' for '{Label}': expected a positive integer number of milliseconds no larger than {MaxPollIntervalMs} (one day)");
        return null;
    }

    /// <summary><c>--from-segment S [--from-offset O]</c>: records before (S, O) are not printed (scan and follow alike).</summary>
    internal readonly record struct StartFilter(uint? Segment, ulong? Offset)
    {
        public bool Skips(Record record) =>
            Segment is uint segment && (record.Segment < segment || (record.Segment == segment && record.Offset < (Offset ?? 0)));
    }
}
