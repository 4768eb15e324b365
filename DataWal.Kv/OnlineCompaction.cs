using System.Buffers;
using System.Diagnostics;
using DataWal.Core;

namespace DataWal.Kv;

/// <summary>
/// <see cref="KvStore.Compact"/>: compaction in the store's own directory beside live writes and gets
/// (docs/design.md D15). The log seals its active segment and hands out the sealed range L..N; each key whose latest
/// Put is in that range is copied, frame and txid unchanged, in log order, into an image; the log installs the image
/// over L; the key directory moves those keys into the image; the log deletes L+1..N in ascending order.
/// </summary>
/// <remarks>
/// Why every crash state reads the same: the image holds, for every key of the range, its latest record there if that
/// is a Put, so reading the image and then whatever is left of L+1..N under last-write-wins ends, for each key, at the
/// same record as reading all of L..N did. Gets never wait for the copy: they read the old segments until the switch,
/// and one that races the switch retries (<see cref="KvStore"/>'s relocation epoch).
/// </remarks>
internal static class OnlineCompaction
{
    private const int ProgressEvery = 4096;

    public static KvCompactionResult Run(RecordLog log, KeyProjection keys, ReadHandlePool pool, Relocation relocation, IProgress<KvCompactionProgress>? progress, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        cancellationToken.ThrowIfCancellationRequested();
        using var compaction = log.BeginCompaction();
        if (compaction is null)
        {
            return new KvCompactionResult(0, 0, 0, 0, 0, Stopwatch.GetElapsedTime(started));
        }

        var live = keys.SnapshotSegments(compaction.FirstSegment, compaction.LastSegment);
        uint activeSegment = keys.ActiveSegment;   // the compacted range is sealed: its frames may come from mappings
        var tombstones = Tombstones.Find(compaction, keys, cancellationToken);
        var copies = new RecordRef[live.Count];   // where each snapshotted key's frame lands in the image
        int copied = 0;
        byte[] frame = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int nextTombstone = 0;
            foreach (var (key, from) in live)
            {
                cancellationToken.ThrowIfCancellationRequested();
                nextTombstone = tombstones.AddBefore(compaction, from, nextTombstone);
                if (frame.Length < from.Length)
                {
                    ArrayPool<byte>.Shared.Return(frame);
                    frame = ArrayPool<byte>.Shared.Rent((int)from.Length);
                }

                // The same checks as a get (length, structure, CRC, Put, the key itself): a frame that no longer
                // verifies stops the compaction rather than being copied.
                var bytes = frame.AsSpan(0, (int)from.Length);
                ValueReader.Verify(pool, key, from, bytes, activeSegment);
                copies[copied++] = compaction.Add(bytes);
                if (progress is not null && copied % ProgressEvery == 0)
                {
                    progress.Report(new KvCompactionProgress(copied, live.Count, compaction.ImageBytes));
                }
            }

            tombstones.AddBefore(compaction, new RecordRef(uint.MaxValue, ulong.MaxValue, 0), nextTombstone);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }

        cancellationToken.ThrowIfCancellationRequested();

        // The image leaves out every key whose latest write (when the snapshot was taken) is newer than the range: a
        // Put or Delete already in the new active segment. Those writes must be durable before the range's copies of
        // such keys can go, or a power loss that drops them would also drop the key's older, fsynced value (the
        // view must read the same at every crash point, docs/design.md D15). One fsync covers every one of them.
        log.Fsync();
        IReadOnlyList<uint> deleted;
        using (relocation.Begin())
        {
            try
            {
                deleted = compaction.Commit(() =>
                {
                    // Right after the rename: locations in L now name the image, so cached handles of the range go,
                    // then every key that still points at its old frame moves to the copy.
                    pool.Invalidate(compaction.FirstSegment, compaction.LastSegment);
                    keys.Relocate(live, copies);
                    relocation.Switched();
                });
            }
            finally
            {
                // Again once L+1..N are unlinked (or the deletion stopped): a get that took its location before the
                // switch may have mapped one of them again in between, and a cached mapping of a deleted file would
                // keep its disk space until evicted. A get still holding an old location then finds the file gone and
                // looks its key up again.
                pool.Invalidate(compaction.FirstSegment + 1, compaction.LastSegment);
            }
        }

        progress?.Report(new KvCompactionProgress(copied, live.Count, compaction.ImageBytes));
        var result = new KvCompactionResult(compaction.Segments.Count, deleted.Count, live.Count, compaction.SourceBytes, compaction.ImageBytes, Stopwatch.GetElapsedTime(started));
        KvTelemetry.Compacted(log.Directory, log.Directory, new CompactionStats(live.Count, compaction.Frames, compaction.ImageBytes), result.Elapsed);
        return result;
    }
}

/// <summary>
/// The tombstones an image keeps: for each key whose last record in L+1..N is a Delete, that Delete (a Put after it in
/// the range wins). Not needed for the key/value view — L is the lowest segment, nothing older can come back — but a
/// reader or follower that was inside the range when it was compacted resumes from the image above the last txid it
/// returned (docs/design.md D15), and without the tombstone it would keep a value it read before the delete. Tombstones
/// already in L (an earlier image) are dropped, so a tombstone lives through one compaction and the image stays
/// proportional to the live keys plus the keys deleted since the last compaction.
/// </summary>
internal sealed class Tombstones : IFrameVisitor
{
    private readonly uint _first;
    private readonly Dictionary<byte[], (ulong TxId, RecordRef Ref)> _last = new(ByteArrayComparer.Instance);
    private readonly CancellationToken _cancellationToken;
    private List<(byte[] Key, ulong TxId, RecordRef Ref)> _kept = [];

    private Tombstones(uint first, CancellationToken cancellationToken)
    {
        _first = first;
        _cancellationToken = cancellationToken;
    }

    public static Tombstones Find(SegmentCompaction compaction, KeyProjection keys, CancellationToken cancellationToken)
    {
        var found = new Tombstones(compaction.FirstSegment, cancellationToken);
        if (compaction.Segments.Count > 1)
        {
            compaction.Replay(found);
        }

        foreach (var (key, (txId, at)) in found._last)
        {
            // A Put of the key later in the range, still the key's latest, makes the Delete history.
            if (keys.TryGet(key, out var latest) && latest.Segment <= compaction.LastSegment && IsAfter(latest, at))
            {
                continue;
            }

            found._kept.Add((key, txId, at));
        }

        found._kept.Sort(static (a, b) => a.TxId.CompareTo(b.TxId));
        found._last.Clear();
        return found;
    }

    public void Visit(LogFrame frame)
    {
        if (frame.Ref.Segment == _first)
        {
            return;
        }

        if (frame.Type == RecordType.Delete)
        {
            _cancellationToken.ThrowIfCancellationRequested();
            _last[frame.Key.ToArray()] = (frame.TxId, frame.Ref);
        }
    }

    /// <summary>Adds to the image, in order, the kept tombstones located before <paramref name="before"/>; returns the next index.</summary>
    public int AddBefore(SegmentCompaction compaction, RecordRef before, int next)
    {
        while (next < _kept.Count && IsAfter(before, _kept[next].Ref))
        {
            var (key, txId, _) = _kept[next++];
            compaction.Add(WireFormat.Encode(RecordType.Delete, txId, key, default));
        }

        return next;
    }

    private static bool IsAfter(RecordRef a, RecordRef b) => a.Segment != b.Segment ? a.Segment > b.Segment : a.Offset > b.Offset;

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var hash = default(HashCode);
            hash.AddBytes(obj);
            return hash.ToHashCode();
        }
    }
}

/// <summary>
/// The relocation epoch: even while key locations are stable, odd from just before a compaction renames its image
/// until the key directory points into it. A read that fails after its location was looked up while the epoch was odd,
/// or that sees the epoch moved, may have raced the switch (its frame moved, or its segment is gone): it waits for an
/// even epoch and looks the key up again. Snapshot readers (items, export, copy) hold <see cref="EnterStable"/> for
/// their whole pass instead, which the switch waits for.
/// </summary>
internal sealed class Relocation : IDisposable
{
    private readonly ReaderWriterLockSlim _stable = new(LockRecursionPolicy.SupportsRecursion);
    private long _epoch;

    public long Epoch => Volatile.Read(ref _epoch);

    /// <summary>True when a read that started at <paramref name="epoch"/> may have raced a switch; waits until none is in progress.</summary>
    public bool Raced(long epoch)
    {
        if ((epoch & 1) == 0 && Epoch == epoch)
        {
            return false;
        }

        var spin = default(SpinWait);
        while ((Epoch & 1) != 0)
        {
            spin.SpinOnce(sleep1Threshold: 20);
        }

        return true;
    }

    /// <summary>Holds locations stable for a snapshot pass (no switch starts meanwhile).</summary>
    public Scope EnterStable()
    {
        _stable.EnterReadLock();
        return new Scope(_stable, write: false);
    }

    /// <summary>Starts a switch: waits for snapshot passes, makes the epoch odd.</summary>
    public Scope Begin()
    {
        _stable.EnterWriteLock();
        Interlocked.Increment(ref _epoch);
        return new Scope(_stable, write: true, this);
    }

    /// <summary>The key directory points into the image: the epoch is even again.</summary>
    public void Switched()
    {
        if ((Epoch & 1) != 0)
        {
            Interlocked.Increment(ref _epoch);
        }
    }

    public void Dispose() => _stable.Dispose();

    internal readonly struct Scope(ReaderWriterLockSlim gate, bool write, Relocation? owner = null) : IDisposable
    {
        public void Dispose()
        {
            if (write)
            {
                owner!.Switched();   // also when the commit failed before its rename: nothing moved
                gate.ExitWriteLock();
            }
            else
            {
                gate.ExitReadLock();
            }
        }
    }
}
