using DataWal.Core;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Kv;

/// <summary>
/// A bounded, least-recently-used set of read-only segment handles (upstream <c>fd_pool</c>, default
/// capacity 16), shared by concurrent readers. Positional reads (pread) on a shared handle are safe from
/// several threads; an evicted handle stays open until the reads using it finish (SafeHandle reference
/// counting), so eviction never pulls a handle from under a reader.
/// </summary>
internal sealed class ReadHandlePool : IDisposable
{
    public const int DefaultCapacity = 16;

    private readonly string _directory;
    private readonly int _capacity;
    private readonly Lock _gate = new();
    private readonly LinkedList<(uint Segment, SafeFileHandle Handle)> _lru = new();
    private bool _disposed;
    private long _version;   // moved on by Invalidate: a handle opened before it is used once, never cached

    public ReadHandlePool(string directory, int capacity = DefaultCapacity)
    {
        _directory = directory;
        _capacity = Math.Max(capacity, 0);
    }

    /// <summary>Number of cached handles.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _lru.Count;
            }
        }
    }

    /// <summary>
    /// Reads exactly <paramref name="destination"/>.Length bytes at <paramref name="offset"/> of a segment;
    /// returns how many bytes the file actually had there (fewer at its end).
    /// </summary>
    public int ReadAt(uint segment, long offset, Span<byte> destination)
    {
        bool added = false;
        bool useOnce = _capacity == 0;
        var handle = Rent(segment, ref added, ref useOnce);
        try
        {
            return FileSync.Read(handle, destination, offset);
        }
        catch (SafeAtomicException e)
        {
            // A failed read is an error naming the segment, never a shorter value or a miss.
            throw ThrowHelper.ReadSegmentFailed(SegmentFiles.PathFor(_directory, segment), offset, e);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }

            if (useOnce)
            {
                handle.Dispose();
            }
        }
    }

    /// <summary>
    /// Returns the segment's handle with a reference already taken (<paramref name="added"/>), taken while
    /// the pool's lock is held so that no concurrent eviction can dispose it first.
    /// </summary>
    private SafeFileHandle Rent(uint segment, ref bool added, ref bool useOnce)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            for (var node = _lru.Last; node is not null; node = node.Previous)
            {
                if (node.Value.Segment == segment)
                {
                    if (node != _lru.Last)
                    {
                        _lru.Remove(node);
                        _lru.AddLast(node);
                    }

                    node.Value.Handle.DangerousAddRef(ref added);
                    return node.Value.Handle;
                }
            }
        }

        long version;
        lock (_gate)
        {
            version = _version;
        }

        string path = SegmentFiles.PathFor(_directory, segment);
        SafeFileHandle opened;
        try
        {
            opened = FileSync.OpenRegular(path, FileAccess.Read);
        }
        catch (SafeAtomicException e)
        {
            throw ThrowHelper.OpenSegmentFailed(path, e);
        }

        if (_capacity == 0)
        {
            opened.DangerousAddRef(ref added);
            return opened;
        }

        lock (_gate)
        {
            if (_disposed)
            {
                opened.Dispose();
                ObjectDisposedException.ThrowIf(true, this);
            }

            if (version != _version)
            {
                // The path may have named a file a compaction has replaced since: read through it once, like an
                // uncached pool, and let the next read open the path again.
                opened.DangerousAddRef(ref added);
                useOnce = true;
                return opened;
            }

            foreach (var (s, h) in _lru)
            {
                if (s == segment)
                {
                    opened.Dispose();   // another thread opened it meanwhile
                    h.DangerousAddRef(ref added);
                    return h;
                }
            }

            if (_lru.Count >= _capacity)
            {
                var oldest = _lru.First!;
                _lru.RemoveFirst();
                oldest.Value.Handle.Dispose();
            }

            _lru.AddLast((segment, opened));
            opened.DangerousAddRef(ref added);
            return opened;
        }
    }

    /// <summary>
    /// Drops the cached handles of segments <paramref name="first"/>..<paramref name="last"/> (a compaction replaced
    /// or deleted them); reads in progress keep theirs until they finish, and a handle opened before this call is
    /// never cached after it.
    /// </summary>
    public void Invalidate(uint first, uint last)
    {
        lock (_gate)
        {
            _version++;
            for (var node = _lru.First; node is not null;)
            {
                var next = node.Next;
                if (node.Value.Segment >= first && node.Value.Segment <= last)
                {
                    _lru.Remove(node);
                    node.Value.Handle.Dispose();
                }

                node = next;
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            foreach (var (_, handle) in _lru)
            {
                handle.Dispose();
            }

            _lru.Clear();
        }
    }
}
