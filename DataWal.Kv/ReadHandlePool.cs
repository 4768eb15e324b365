using System.Runtime.CompilerServices;
using DataWal.Core;

namespace DataWal.Kv;

/// <summary>
/// A bounded set of open segments (upstream <c>fd_pool</c>, default capacity 16) shared by concurrent readers: sealed
/// segments memory-mapped where <see cref="MappedSegment.Supported"/>, the active segment (and every segment where
/// mapping is off) read with pread. Lookups take no lock — a scan of a small array and a reference taken on the
/// segment found — and replacement is a clock (second chance), so a hit writes nothing shared but that reference.
/// </summary>
/// <remarks>
/// Lifetime: the pool holds one reference on each cached <see cref="MappedSegment"/> and each read one more while it
/// reads, so eviction, <see cref="Invalidate"/> and <see cref="Dispose"/> only drop the pool's: the mapping is unmapped
/// (or the handle closed) when the last read using it finishes, never under it. A read that finds a segment already
/// released (its count at 0) looks it up again.
/// </remarks>
internal sealed class ReadHandlePool : IDisposable
{
    public const int DefaultCapacity = 16;

    private readonly string _directory;
    private readonly MappedSegment?[] _slots;
    private readonly bool _map;
    private readonly Lock _gate = new();
    private int _hand;
    private bool _disposed;
    private long _version;   // moved on by Invalidate: a segment opened before it is used once, never cached

    /// <param name="directory">The store directory.</param>
    /// <param name="capacity">How many segments stay open; 0 opens and closes one per read.</param>
    /// <param name="mapSealed">False reads every segment with pread even where mapping is supported (the path other systems take).</param>
    public ReadHandlePool(string directory, int capacity = DefaultCapacity, bool mapSealed = true)
    {
        _directory = directory;
        _slots = new MappedSegment?[Math.Max(capacity, 0)];
        _map = mapSealed && MappedSegment.Supported;
    }

    /// <summary>True when sealed segments are read through mappings.</summary>
    public bool MapsSealedSegments => _map;

    /// <summary>Number of cached segments.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _slots.Count(static s => s is not null);
            }
        }
    }

    /// <summary>Number of cached segments read through a mapping.</summary>
    public int MappedCount
    {
        get
        {
            lock (_gate)
            {
                return _slots.Count(static s => s is { IsMapped: true });
            }
        }
    }

    /// <summary>
    /// Reads exactly <paramref name="destination"/>.Length bytes at <paramref name="offset"/> of a segment;
    /// returns how many bytes the file actually had there (fewer at its end). A segment below
    /// <paramref name="activeSegment"/> is sealed and may be read through a mapping; 0 reads with pread. Required, as in
    /// <see cref="ValueReader"/>: a default would let a caller read every segment with pread without noticing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int ReadAt(uint segment, long offset, Span<byte> destination, uint activeSegment)
    {
        bool wantMapped = _map && segment < activeSegment;
        var slots = _slots;
        for (int i = 0; i < slots.Length; i++)
        {
            var cached = Volatile.Read(ref slots[i]);
            if (cached is not null && cached.Segment == segment && (cached.IsMapped || !wantMapped) && cached.TryAcquire())
            {
                if (!cached.Recent)
                {
                    cached.Recent = true;
                }

                try
                {
                    return cached.ReadAt(_directory, offset, destination);
                }
                finally
                {
                    cached.Release();
                }
            }
        }

        var rented = Rent(segment, wantMapped);
        try
        {
            return rented.ReadAt(_directory, offset, destination);
        }
        finally
        {
            rented.Release();
        }
    }

    /// <summary>
    /// Starts loading a sealed segment's bytes at <paramref name="offset"/> into the cache when that segment is mapped
    /// already (otherwise nothing: this never opens or maps). For bulk readers, a few locations ahead of their reads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Prefetch(uint segment, long offset, int length, uint activeSegment)
    {
        if (!_map || segment >= activeSegment)
        {
            return;
        }

        var slots = _slots;
        for (int i = 0; i < slots.Length; i++)
        {
            var cached = Volatile.Read(ref slots[i]);
            if (cached is not null && cached.Segment == segment && cached.IsMapped)
            {
                cached.Prefetch(offset, length);
                return;
            }
        }
    }

    /// <summary>The slow path: opens (or maps) the segment, caches it when it may, and returns it with a reference taken.</summary>
    private MappedSegment Rent(uint segment, bool wantMapped)
    {
        long version;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            version = _version;
            if (FindLocked(segment, wantMapped) is { } found)
            {
                return found;
            }
        }

        // Opened outside the lock: an open or a mapping is a system call other readers need not wait for.
        string path = SegmentFiles.PathFor(_directory, segment);
        var opened = wantMapped && _slots.Length > 0 ? MappedSegment.Map(segment, path) : MappedSegment.OpenForPread(segment, path);
        lock (_gate)
        {
            if (_disposed)
            {
                opened.Release();
                ObjectDisposedException.ThrowIf(true, this);
            }

            if (_slots.Length == 0 || version != _version)
            {
                // Uncached, or the path may have named a file a compaction has replaced since: read through it once
                // (the creator's reference is the read's) and let the next read open the path again.
                return opened;
            }

            if (FindLocked(segment, wantMapped) is { } raced)
            {
                opened.Release();   // another thread opened it meanwhile
                return raced;
            }

            Insert(opened);
            _ = opened.TryAcquire();   // the creator's reference is now the pool's; this one is the read's
            return opened;
        }
    }

    private MappedSegment? FindLocked(uint segment, bool wantMapped)
    {
        foreach (var cached in _slots)
        {
            if (cached is not null && cached.Segment == segment && (cached.IsMapped || !wantMapped) && cached.TryAcquire())
            {
                return cached;
            }
        }

        return null;
    }

    /// <summary>
    /// Under the lock: puts <paramref name="opened"/> in the slot of the same segment's pread entry (a segment sealed
    /// since, now mapped), else an empty slot, else the clock's victim — the first segment not read since the hand
    /// last passed it.
    /// </summary>
    private void Insert(MappedSegment opened)
    {
        int target = Array.FindIndex(_slots, s => s is not null && s.Segment == opened.Segment);
        if (target < 0)
        {
            target = Array.IndexOf(_slots, null);
        }

        while (target < 0)
        {
            var candidate = _slots[_hand]!;
            if (candidate.Recent)
            {
                candidate.Recent = false;
            }
            else
            {
                target = _hand;
            }

            _hand = (_hand + 1) % _slots.Length;
        }

        var evicted = _slots[target];
        Volatile.Write(ref _slots[target], opened);
        evicted?.Release();
    }

    /// <summary>
    /// Drops the cached segments <paramref name="first"/>..<paramref name="last"/> (a compaction replaced or deleted
    /// them); reads in progress keep theirs until they finish, and a segment opened before this call is never cached
    /// after it.
    /// </summary>
    public void Invalidate(uint first, uint last)
    {
        lock (_gate)
        {
            _version++;
            for (int i = 0; i < _slots.Length; i++)
            {
                if (_slots[i] is { } cached && cached.Segment >= first && cached.Segment <= last)
                {
                    Volatile.Write(ref _slots[i], null);
                    cached.Release();
                }
            }
        }
    }

    /// <summary>Drops every cached segment: each is unmapped or closed once the reads using it finish.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            for (int i = 0; i < _slots.Length; i++)
            {
                if (_slots[i] is { } cached)
                {
                    Volatile.Write(ref _slots[i], null);
                    cached.Release();
                }
            }
        }
    }
}
