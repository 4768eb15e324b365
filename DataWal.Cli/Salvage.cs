using System.CommandLine;
using System.Globalization;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary>
/// What the commands share about damage (docs/design.md D16): the <c>--salvage</c> flag of the read-only commands,
/// how skipped ranges are shown, and the hint that follows a corruption error.
/// </summary>
/// <remarks>
/// <para>With <c>--salvage</c>, a command reads in <see cref="ReadMode.Salvage"/> and prints its normal output first,
/// unchanged in shape. When ranges were skipped it then says so — human: lines on stderr (stdout stays the command's
/// normal, parseable output); <c>--json</c>: one more line on stdout, <c>kind:"skipped"</c> with <c>skipped_ranges</c> —
/// and exits 2 (recoverable state: what was read is intact, but what the ranges held is unknown). A <c>get</c> hit is
/// no exception: its value may be older than the key's lost latest write.</para>
/// <para>Without <c>--salvage</c> nothing changes, except that a corruption error (exit 3) is followed by one
/// <c>datawal: hint:</c> line on stderr naming the damage and the way out. Under <c>--json</c> the error is one
/// <c>kind:"error"</c> JSON line and the hint is left out: it is prose for people, and a consumer reads the exit code.</para>
/// </remarks>
internal static class Salvage
{
    /// <summary>The sentence that says what a skipped range means.</summary>
    public const string Meaning =
        "the records in these ranges are unknown; a key whose later record was there may show an older value (or none, or one that was deleted)";

    public static Option<bool> Option() => new("--salvage")
    {
        Description = "Read past damage instead of stopping at it (still read-only): resynchronise at the next intact frame, " +
            "print the normal output from every intact record, then list each skipped range (segment, offset, length, reason) " +
            "on stderr (with --json: one more line, kind \"skipped\") and exit 2 if any was skipped. " +
            "A key whose later record was in a skipped range shows its last intact value.",
        Arity = ArgumentArity.Zero,
    };

    public static ReadMode Mode(bool salvage) => salvage ? ReadMode.Salvage : ReadMode.Strict;

    /// <summary>The JSON and human name of a range's reason: <c>truncated</c>, <c>crc_mismatch</c>, <c>structural</c>.</summary>
    public static string ReasonName(CorruptionKind kind) => kind switch
    {
        CorruptionKind.Truncated => "truncated",
        CorruptionKind.CrcMismatch => "crc_mismatch",
        CorruptionKind.Structural => "structural",
        _ => kind.ToString().ToLowerInvariant(),
    };

    /// <summary>One range for people: <c>segment 00000002 offset 4096 length 71 (crc_mismatch)</c>.</summary>
    public static string Describe(SkippedRange range) => string.Create(
        CultureInfo.InvariantCulture,
        $"segment {range.Segment:D8} offset {range.Offset} length {range.Length} ({ReasonName(range.Reason)})");

    /// <summary>
    /// Ends a <c>--salvage</c> command: with no skipped range returns <paramref name="code"/> as is; otherwise prints the
    /// ranges after the normal output (human: stderr; JSON: a <c>skipped</c> line on stdout) and returns 2 (a
    /// <paramref name="code"/> that is already 2 stays 2).
    /// </summary>
    public static int Finish(CliContext context, string command, IReadOnlyList<SkippedRange> ranges, int code)
    {
        if (ranges.Count == 0)
        {
            return code;
        }

        if (context.Json)
        {
            context.Line(JsonLines.Skipped(ranges));
        }
        else
        {
            context.Out.Flush();
            foreach (var range in ranges)
            {
                context.ErrorLine($"datawal: {command}: skipped {Describe(range)}");
            }

            context.ErrorLine(string.Create(
                CultureInfo.InvariantCulture,
                $"datawal: {command}: {ranges.Count} damaged range{(ranges.Count == 1 ? " was" : "s were")} skipped: {Meaning}"));
        }

        return code == ExitCodes.Ok ? ExitCodes.Recoverable : code;
    }

    /// <summary>The hint after a read-only command's corruption error: <c>--salvage</c> and <c>datawal salvage</c>.</summary>
    public static string ReadHint(string store, CorruptRecordException e, bool follow = false) =>
        $"datawal: hint: {Where(e)}; to read past it, run {(follow ? $"datawal scan {store} --follow --salvage" : "the same command with --salvage")} " +
        $"(read-only; it lists what it skips), or copy what is intact into a new store: datawal salvage {store} OUT";

    /// <summary>The hint after <c>compact STORE TARGET</c>'s corruption error: <c>datawal salvage --kv</c> is the compaction that reads past damage.</summary>
    public static string CompactHint(string store, string target, CorruptRecordException e) =>
        $"datawal: hint: {Where(e)}; to copy the live keys that are intact, run: datawal salvage {store} {target} --kv (it lists what it skips)";

    /// <summary>The hint after a writer command's corruption error: writers stay strict; salvage into a new store.</summary>
    public static string WriterHint(string store, CorruptRecordException e) =>
        $"datawal: hint: {Where(e)}; writers stay strict and do not open a damaged store. Copy what is intact into a new store with " +
        $"datawal salvage {store} OUT, check it, then replace the store with it by hand; the read-only commands take --salvage to read past the damage";

    /// <summary>Prints <paramref name="hint"/> on stderr, except under <c>--json</c> (whose stderr carries JSON lines only).</summary>
    public static void Hint(CliContext context, string hint)
    {
        if (!context.Json)
        {
            context.ErrorLine(hint);
        }
    }

    private static string Where(CorruptRecordException e) => string.Create(
        CultureInfo.InvariantCulture,
        $"the damage is in segment {e.Segment} ({e.Segment:D8}.dwal) at offset {e.Offset}");
}
