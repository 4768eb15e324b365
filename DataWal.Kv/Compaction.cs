using System.Diagnostics;
using DataWal.Core;

namespace DataWal.Kv;

/// <summary>
/// <see cref="KvStore.CompactTo"/>: a snapshot-style rebuild into a fresh directory. Streams one value
/// at a time and hands the output to the kernel in ~1 MiB batches; memory is the sorted key snapshot plus
/// one frame and one batch buffer.
/// </summary>
internal static class Compaction
{
    private const int BatchBytes = 1024 * 1024;

    /// <summary>Keys between two progress reports: often enough for a display, rare enough to cost nothing.</summary>
    internal const int ProgressEvery = 4096;

    public static CompactionStats Run(KvStore source, string outDirectory, IProgress<KvCopyProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(outDirectory);
        long started = Stopwatch.GetTimestamp();
        string target = Path.GetFullPath(outDirectory);
        if (File.Exists(target))
        {
            ThrowHelper.ThrowCompactTargetIsNotADirectory(target);
        }

        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
        {
            ThrowHelper.ThrowCompactTargetIsNotEmpty(target);
        }

        using var stable = source.EnterStableLocations();
        var live = source.Snapshot(sorted: true);
        long bytes = 0;
        long copied = 0;
        using var output = RecordLog.Open(target);
        using var batch = new RecordBatch(BatchBytes + (BatchBytes / 4));
        source.ReadValues(
            live,
            (key, value, location) =>
            {
                batch.Add(RecordType.Put, key, value);
                bytes += location.Length;
                if (batch.Length >= BatchBytes)
                {
                    output.AppendBatch(batch);
                    batch.Clear();
                }

                if (++copied % ProgressEvery == 0)
                {
                    // Counted as copied once batched: the final report comes only after everything is written and fsynced.
                    progress?.Report(new KvCopyProgress(copied, live.Count, bytes));
                }
            },
            cancellationToken);
        output.AppendBatch(batch);
        output.Fsync();
        progress?.Report(new KvCopyProgress(live.Count, live.Count, bytes));
        var stats = new CompactionStats(live.Count, live.Count, bytes);
        KvTelemetry.Compacted(source.Directory, target, stats, Stopwatch.GetElapsedTime(started));
        return stats;
    }
}
