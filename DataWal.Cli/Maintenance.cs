using System.Globalization;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary>What the commands that change a store (<c>compact --in-place</c>, <c>truncate</c>) share.</summary>
internal static class Maintenance
{
    /// <summary>
    /// Checks that <paramref name="path"/> is a directory holding at least one segment. A writer open creates a
    /// missing store, and the changing commands must not turn a mistyped path into a new empty store.
    /// </summary>
    public static void RequireExistingStore(string path, string command)
    {
        Store.RequireDirectory(path);
        if (SegmentFiles.List(path).Count == 0)
        {
            throw new CliException($"{command}: no segment files (NNNNNNNN.dwal) in {path}: not a store (nothing was created)");
        }
    }

    /// <summary>A writer open cuts a damaged tail: say so on stderr, since the command changed the store beyond what it was asked.</summary>
    /// <summary>
    /// The tail rule's note (README "Exit codes"): a command that keeps upstream's exit 0 on a damaged tail — <c>export</c>,
    /// <c>compact</c>, <c>dump</c> — says on stderr, after its output, that it met one. Human and <c>--json</c> alike
    /// (stdout, upstream's pinned output, is unchanged).
    /// </summary>
    public static void NoteDamagedTail(CliContext context, string command, string path, RecoveryReport report)
    {
        if (report.TailTruncated > 0)
        {
            context.Out.Flush();
            string note = string.Create(
                CultureInfo.InvariantCulture,
                $"the last segment of {path} ends in a damaged tail of {report.TailBytesDiscarded} bytes (a write that never completed), left out; nothing acknowledged is lost, and the next writer open cuts it");
            context.Note($"datawal: {command}: note: {note}", note);
        }
    }

    public static void NoteTailCut(CliContext context, string path, RecoveryReport report)
    {
        if (report.TailTruncated > 0)
        {
            string note = string.Create(
                CultureInfo.InvariantCulture,
                $"opening {path} as its writer cut a damaged tail of {report.TailBytesDiscarded} bytes from the last segment (a write that never completed)");
            context.Note($"datawal: note: {note}", note);
        }
    }
}

/// <summary>Byte counts for people: <c>12.3 MiB</c>.</summary>
internal static class BytesText
{
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        double value = bytes;
        int unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }

    /// <summary><paramref name="part"/> as a share of <paramref name="whole"/>, e.g. <c>73.4%</c> (0% of nothing).</summary>
    public static string Percent(long part, long whole) =>
        string.Create(CultureInfo.InvariantCulture, $"{(whole <= 0 ? 0 : part * 100.0 / whole):0.0}%");
}
