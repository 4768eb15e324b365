using DataWal.Core;

namespace DataWal.Kv;

/// <summary>
/// A consistent copy of live (key, location) pairs, for the copies that read every value (export, CompactTo,
/// Items). The keys are packed into shared chunks rather than one array each: a million-key snapshot is a handful
/// of allocations instead of a million, which a fresh process otherwise pays for in page faults and collections.
/// </summary>
internal sealed class KeySnapshot
{
    private const int ChunkBytes = 1 << 20;

    private readonly List<byte[]> _chunks = [];
    private readonly int[] _chunk;       // which chunk holds key i
    private readonly int[] _start;       // where in it key i starts
    private readonly int[] _length;
    private readonly RecordRef[] _refs;
    private int _count;
    private int _used;                   // bytes used in the last chunk

    /// <summary>Room for <paramref name="capacity"/> pairs, added in order with <see cref="Add"/>.</summary>
    public KeySnapshot(int capacity)
    {
        _chunk = new int[capacity];
        _start = new int[capacity];
        _length = new int[capacity];
        _refs = new RecordRef[capacity];
    }

    /// <summary>The number of pairs.</summary>
    public int Count => _count;

    /// <summary>The key of pair <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> KeyAt(int index) => _chunks[_chunk[index]].AsSpan(_start[index], _length[index]);

    /// <summary>The location of pair <paramref name="index"/>.</summary>
    public RecordRef RefAt(int index) => _refs[index];

    /// <summary>Appends a pair, copying the key.</summary>
    public void Add(ReadOnlySpan<byte> key, RecordRef location)
    {
        if (_chunks.Count == 0 || _chunks[^1].Length - _used < key.Length)
        {
            // A key longer than a chunk (keys go up to 64 KiB) gets a chunk of its own size.
            _chunks.Add(new byte[Math.Max(ChunkBytes, key.Length)]);
            _used = 0;
        }

        int index = _count++;
        _chunk[index] = _chunks.Count - 1;
        _start[index] = _used;
        _length[index] = key.Length;
        _refs[index] = location;
        key.CopyTo(_chunks[^1].AsSpan(_used));
        _used += key.Length;
    }
}
