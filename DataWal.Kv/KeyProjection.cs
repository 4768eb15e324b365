using System.Runtime.CompilerServices;
using DataWal.Core;

namespace DataWal.Kv;

/// <summary>
/// The store's view of its log: every key mapped to the location of its latest Put (Put sets, Delete removes,
/// Raw is invisible). A writer's log keeps it in step through <see cref="IRecordLogObserver"/>: recovery feeds
/// it frame by frame at open, then the log calls <see cref="OnAppended"/> under its write gate after each
/// write — so the key directory follows the log's exact order, and a write is visible to gets before its
/// append returns.
/// </summary>
/// <remarks>
/// Lock order: the log's gate, then <see cref="_lock"/> (taken for writing only inside <see cref="OnAppended"/>).
/// Readers take <see cref="_lock"/> for reading and never call into the log while holding it.
/// </remarks>
internal sealed class KeyProjection : IRecordLogObserver, IDisposable
{
    private readonly KeyDirectory _keys = new();
    private readonly ReaderWriterLockSlim _lock = new();
    private readonly string _directory;

    // Recovered frames queued by Visit (open only): slots prefetched, not applied yet. Keys of up to RecoveredKeyMax
    // bytes are copied into fixed places of one buffer; a longer key first applies the queue, then itself.
    private const int RecoveredBatch = 16;
    private const int RecoveredKeyMax = 256;
    private Recovered[] _recovered = [];
    private byte[] _recoveredKeys = [];
    private int _recoveredCount;

    private uint _lastSegment;   // the segment of the last append seen, to notice rotations (under the log's gate)
    private uint _activeSegment;   // segments below it are sealed: never written again

    public KeyProjection(string directory) => _directory = directory;

    /// <summary>Called (under the log's gate: it must only queue work) when an append lands in a newer segment.</summary>
    public Action? Rotated { get; set; }

    /// <summary>
    /// The segment that may still be written: those below it are sealed (never written again, so readers may map
    /// them). Set once the log is open, then moved on by the first append that lands in a newer segment — so it may
    /// lag a rotation (a sealed segment is then read with pread a while longer), never run ahead of one. 0 until set:
    /// nothing is sealed.
    /// </summary>
    public uint ActiveSegment
    {
        get => Volatile.Read(ref _activeSegment);
        set => Volatile.Write(ref _activeSegment, value);
    }

    /// <summary>Number of live keys.</summary>
    public int Count
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _keys.Count;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>Approximate memory held by the key directory, in bytes.</summary>
    public long MemoryBytes
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _keys.MemoryBytes;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>
    /// During an open only (one thread, nothing else sees the projection yet): applies one recovered frame — a few
    /// frames late. Frames are queued in small groups, each key hashed and its index slot prefetched as it arrives,
    /// and applied in log order when the group is full (or at <see cref="TrimExcess"/> / the first append): the slot
    /// misses of a big directory then overlap rather than come one after another, which was most of an open's time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Visit(LogFrame frame)
    {
        if (frame.Type is not (RecordType.Put or RecordType.Delete))
        {
            return;
        }

        var key = frame.Key;
        if (key.Length > RecoveredKeyMax)
        {
            ApplyRecovered();
            Apply(frame);
            return;
        }

        if (_recovered.Length == 0)
        {
            _recovered = new Recovered[RecoveredBatch];
            _recoveredKeys = new byte[RecoveredBatch * RecoveredKeyMax];
        }
        else if (_recoveredCount == RecoveredBatch)
        {
            ApplyRecovered();
        }

        uint hash = KeyDirectory.Hash(key);
        _keys.PrefetchSlot(hash);
        int at = _recoveredCount * RecoveredKeyMax;
        key.CopyTo(_recoveredKeys.AsSpan(at));
        _recovered[_recoveredCount++] = new Recovered(frame.Type, hash, key.Length, frame.Ref);
    }

    /// <summary>Applies the queued recovered frames, in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ApplyRecovered()
    {
        for (int i = 0; i < _recoveredCount; i++)
        {
            ref readonly var r = ref _recovered[i];
            var key = _recoveredKeys.AsSpan(i * RecoveredKeyMax, r.KeyLength);
            if (r.Type == RecordType.Put)
            {
                _keys.SetByHash(key, r.Hash, r.Ref);
            }
            else
            {
                _keys.RemoveByHash(key, r.Hash);
            }
        }

        _recoveredCount = 0;
    }

    /// <summary>Under the log's gate: applies one append's frames at once, so a reader sees a batch whole or not at all.</summary>
    public void OnAppended(AppendedFrames frames)
    {
        int puts = 0;
        _lock.EnterWriteLock();
        try
        {
            ApplyRecovered();   // normally done at the end of the open already

            for (int i = 0; i < frames.Count; i++)
            {
                var frame = frames[i];
                Apply(frame);
                puts += frame.Type == RecordType.Put ? 1 : 0;
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }

        KvTelemetry.Written(_directory, puts, frames.Count - puts);
        if (frames.Count > 0 && frames[0].Ref.Segment != _lastSegment)
        {
            bool rotated = _lastSegment != 0;
            _lastSegment = frames[0].Ref.Segment;
            ActiveSegment = Math.Max(ActiveSegment, _lastSegment);
            if (rotated)
            {
                Rotated?.Invoke();
            }
        }
    }

    /// <summary>After recovery: gives back what the key directory over-allocated while growing.</summary>
    public void TrimExcess()
    {
        ApplyRecovered();
        _recovered = [];
        _recoveredKeys = [];
        _keys.TrimExcess();
    }

    /// <summary>Whether <paramref name="key"/> is live.</summary>
    public bool ContainsKey(ReadOnlySpan<byte> key)
    {
        _lock.EnterReadLock();
        try
        {
            return _keys.ContainsKey(key);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Where the latest Put of <paramref name="key"/> is.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryGet(ReadOnlySpan<byte> key, out RecordRef location)
    {
        // Hashed before the lock: readers hold it only for the probe.
        uint hash = KeyDirectory.Hash(key);
        _lock.EnterReadLock();
        try
        {
            return _keys.TryGetByHash(key, hash, out location);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// The location of the first entry filed under <paramref name="hash"/> (keys not compared: see
    /// <see cref="KeyDirectory.TryGetCandidate"/>); false when no live key has that hash.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryGetCandidate(uint hash, out RecordRef location)
    {
        _lock.EnterReadLock();
        try
        {
            return _keys.TryGetCandidate(hash, out location);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Copies of the live keys, in no particular order.</summary>
    public IReadOnlyList<byte[]> Keys()
    {
        _lock.EnterReadLock();
        try
        {
            var keys = new byte[_keys.Count][];
            for (int i = 0; i < keys.Length; i++)
            {
                keys[i] = _keys.KeyAt(i).ToArray();
            }

            return keys;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>A consistent copy of the live (key, location) pairs, optionally sorted bytewise by key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // once per live key: full speed from the first
    public KeySnapshot Snapshot(bool sorted)
    {
        _lock.EnterReadLock();
        try
        {
            var snapshot = new KeySnapshot(_keys.Count);
            if (sorted)
            {
                // In key order the entries and keys are scattered: load each entry sixteen steps ahead and its key
                // eight steps ahead, so the misses overlap instead of coming two at a time per key.
                var order = _keys.SortedOrder();
                for (int k = 0; k < order.Length; k++)
                {
                    if (k + 16 < order.Length)
                    {
                        _keys.PrefetchEntry(order[k + 16]);
                    }

                    if (k + 8 < order.Length)
                    {
                        _keys.PrefetchKey(order[k + 8]);
                    }

                    int i = order[k];
                    snapshot.Add(_keys.KeyAt(i), _keys.RefAt(i));
                }
            }
            else
            {
                for (int i = 0; i < _keys.Count; i++)
                {
                    snapshot.Add(_keys.KeyAt(i), _keys.RefAt(i));
                }
            }

            return snapshot;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>The frame bytes of the live keys' latest Puts: what a compaction keeps.</summary>
    public long LiveBytes
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _keys.LiveBytes;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>
    /// The live (key, location) pairs whose latest Put is in segments <paramref name="first"/>..<paramref name="last"/>,
    /// in log order (segment, then offset): the frames a compaction of that range keeps, in txid order.
    /// </summary>
    public List<(byte[] Key, RecordRef Ref)> SnapshotSegments(uint first, uint last)
    {
        var list = new List<(byte[] Key, RecordRef Ref)>();
        _lock.EnterReadLock();
        try
        {
            for (int i = 0; i < _keys.Count; i++)
            {
                var location = _keys.RefAt(i);
                if (location.Segment >= first && location.Segment <= last)
                {
                    list.Add((_keys.KeyAt(i).ToArray(), location));
                }
            }
        }
        finally
        {
            _lock.ExitReadLock();
        }

        list.Sort(static (a, b) => a.Ref.Segment != b.Ref.Segment ? a.Ref.Segment.CompareTo(b.Ref.Segment) : a.Ref.Offset.CompareTo(b.Ref.Offset));
        return list;
    }

    /// <summary>
    /// After a compaction installed its image: points each key still at its old location to the copy in the image
    /// (a key written since keeps its newer location). In slices, so writers and gets wait microseconds, not the
    /// whole switch.
    /// </summary>
    public int Relocate(List<(byte[] Key, RecordRef Ref)> moves, RecordRef[] to)
    {
        const int Slice = 4096;
        int moved = 0;
        for (int start = 0; start < moves.Count; start += Slice)
        {
            int end = Math.Min(moves.Count, start + Slice);
            _lock.EnterWriteLock();
            try
            {
                for (int i = start; i < end; i++)
                {
                    var (key, from) = moves[i];
                    moved += _keys.Relocate(key, from, to[i]) ? 1 : 0;
                }
            }
            finally
            {
                _lock.ExitWriteLock();
            }
        }

        return moved;
    }

    public void Dispose() => _lock.Dispose();

    private readonly record struct Recovered(RecordType Type, uint Hash, int KeyLength, RecordRef Ref);

    private void Apply(LogFrame frame)
    {
        switch (frame.Type)
        {
            case RecordType.Put:
                _keys.Set(frame.Key, frame.Ref);
                break;
            case RecordType.Delete:
                _keys.Remove(frame.Key);
                break;
        }
    }
}
