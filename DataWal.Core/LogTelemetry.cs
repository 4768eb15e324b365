namespace DataWal.Core;

/// <summary>
/// The writer's observability call sites (metrics and events). Every method must cost nothing measurable
/// when nobody listens.
/// </summary>
internal static class LogTelemetry
{
    /// <summary>Frames handed to the kernel: <paramref name="records"/> records, <paramref name="bytes"/> bytes.</summary>
    public static void Appended(string directory, int records, long bytes)
    {
    }

    /// <summary>
    /// A successful fsync: of the active segment's data (<paramref name="isDirectory"/> false) or of the
    /// log directory; <paramref name="records"/> is how many records it made durable (group-commit size).
    /// </summary>
    public static void Fsynced(string directory, bool isDirectory, TimeSpan elapsed, long records)
    {
    }

    /// <summary>A writer open finished recovery; <paramref name="tailBytesCut"/> bytes of damaged tail were cut (0 when none).</summary>
    public static void Recovered(string directory, RecoveryReport report, TimeSpan elapsed, long tailBytesCut)
    {
    }

    /// <summary>The writer was poisoned (first failure only).</summary>
    public static void Poisoned(string directory, string reason)
    {
    }

    /// <summary>A rotation sealed a segment and started <paramref name="newSegment"/>.</summary>
    public static void Rotated(string directory, uint newSegment)
    {
    }
}
