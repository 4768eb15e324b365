using System.CommandLine;
using System.Globalization;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary>
/// <c>check STORE</c>: rebuilds the key view read-only and reads every live value back (CRC re-verified).
/// Exit 2 for a damaged tail, 3 when a value no longer verifies or the log is corrupt.
/// </summary>
internal static class CheckCommand
{
    public const int LabelWidth = 22;

    public static Command Create(App app)
    {
        var store = CommonOptions.Store();
        var salvage = Salvage.Option();
        var command = new Command("check", "Read every live key's value back and verify it (KV-level check, read-only).") { store, salvage };
        app.Bind(
            command,
            (parse, context) => Run(context, parse.GetValue(store)!, Salvage.Mode(parse.GetValue(salvage))),
            "datawal check ./store",
            "datawal check ./store --salvage",
            "datawal --json check ./store");
        return command;
    }

    public static int Run(CliContext context, string store, ReadMode mode = ReadMode.Strict)
    {
        Kv.KvStore kv;
        try
        {
            kv = Store.OpenKv(context, store, mode);
        }
        catch (CorruptRecordException e)
        {
            throw new CliException($"open store {store}: {e.Message}", ExitCodes.Corrupt, e, Salvage.ReadHint(store, e));
        }

        using (kv)
        {
            var keys = kv.Keys().OrderBy(k => k, ByteOrder.Instance).ToList();
            using (var progress = context.Progress())
            {
                for (int i = 0; i < keys.Count; i++)
                {
                    byte[]? value;
                    try
                    {
                        value = kv.Get(keys[i]);
                    }
                    catch (DataWalException e)
                    {
                        progress.Dispose();
                        context.FailIn("check", $"get failed: {e.Message}", ExitCodes.Corrupt);
                        if (e is CorruptRecordException corrupt)
                        {
                            Salvage.Hint(context, Salvage.ReadHint(store, corrupt));
                        }

                        return ExitCodes.Corrupt;
                    }

                    if (value is null)
                    {
                        progress.Dispose();
                        string missing = $"key reported by keys() is missing on get: b64:{Convert.ToBase64String(keys[i])}";
                        return context.FailIn("check", missing, ExitCodes.Corrupt);
                    }

                    int done = i + 1;
                    progress.Update(() => string.Create(CultureInfo.InvariantCulture, $"check: {VerifyCommand.Percent(done, keys.Count)} {done:N0}/{keys.Count:N0} keys"));
                }
            }

            var report = kv.RecoveryReport;
            if (context.Json)
            {
                context.Line(JsonLines.Check(keys.Count, report));
            }
            else
            {
                context.Field("schema:", JsonLines.Schema, LabelWidth);
                context.Field("kind:", "check", LabelWidth);
                context.Field("keys_checked:", keys.Count, LabelWidth);
                context.Field("tail_truncated:", report.TailTruncated, LabelWidth);
                context.Field("tail_bytes_discarded:", report.TailBytesDiscarded, LabelWidth);
                context.Field("mid_stream_errors:", report.MidStreamErrors, LabelWidth);
                context.Field("unsupported_versions:", report.UnsupportedVersions, LabelWidth);
            }

            return Salvage.Finish(context, "check", report.SkippedRanges, report.TailTruncated > 0 || report.MidStreamErrors > 0 ? ExitCodes.Recoverable : ExitCodes.Ok);
        }
    }
}

/// <summary>Bytewise (unsigned, shorter prefix first) ordering of keys.</summary>
internal sealed class ByteOrder : IComparer<byte[]>
{
    public static readonly ByteOrder Instance = new();

    public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
}
