namespace DataWal.Kv;

/// <summary>
/// When a writable <see cref="KvStore"/> compacts itself (<see cref="KvStoreOptions.AutoCompaction"/>; off unless set):
/// after each rotation of its log, on a background thread, if the bytes no live key needs are both at least
/// <see cref="MinDeadBytes"/> and at least <see cref="DeadFraction"/> of the store.
/// </summary>
/// <remarks>
/// Rotations come from <see cref="Core.RecordLogOptions.MaxSegmentBytes"/> (or <see cref="KvStore.Rotate"/>), so with the
/// defaults a store is checked every 128 MiB written, and its disk use stays within about
/// live / (1 - <see cref="DeadFraction"/>) plus one segment. Each value is checked when it is set.
/// </remarks>
public sealed class KvAutoCompaction
{
    private readonly double _deadFraction = 0.5;
    private readonly long _minDeadBytes = 64L * 1024 * 1024;

    /// <summary>The share of the store's bytes that must be dead (overwritten or deleted) before it compacts; above 0, at most 1 (default 0.5).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not in (0, 1].</exception>
    public double DeadFraction
    {
        get => _deadFraction;
        init => _deadFraction = value > 0 && value <= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(DeadFraction), value, "KvAutoCompaction.DeadFraction must be above 0 and at most 1.");
    }

    /// <summary>The dead bytes needed before it compacts, so that a small store is left alone (default 64 MiB; 0 allowed).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public long MinDeadBytes
    {
        get => _minDeadBytes;
        init => _minDeadBytes = value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MinDeadBytes), value, "KvAutoCompaction.MinDeadBytes must not be negative.");
    }

    /// <summary>Whether a store of <paramref name="storeBytes"/> holding <paramref name="liveBytes"/> of live records should compact.</summary>
    /// <param name="storeBytes">The segments' total size.</param>
    /// <param name="liveBytes">The live records' frame bytes (<see cref="KvStore.LiveBytes"/>).</param>
    /// <returns>True when both thresholds are met.</returns>
    public bool ShouldCompact(long storeBytes, long liveBytes)
    {
        long dead = storeBytes - liveBytes;
        return storeBytes > 0 && dead >= _minDeadBytes && dead >= _deadFraction * storeBytes;
    }
}
