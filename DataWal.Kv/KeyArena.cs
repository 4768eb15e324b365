using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace DataWal.Kv;

/// <summary>
/// Key bytes of the key directory, packed back to back in 1 MiB chunks instead of one array object per
/// key (which costs 24 bytes of object overhead each). A key is stored as a 4-byte length and its bytes,
/// padded to 4; positions are in 4-byte units, so a <see cref="uint"/> addresses 16 GiB of keys.
/// </summary>
internal sealed class KeyArena
{
    private const int ChunkShift = 20;
    private const int ChunkSize = 1 << ChunkShift;   // 1 MiB, larger than the largest key record (64 KiB + 4)
    private const int FirstChunkSize = 4096;

    private readonly List<byte[]> _chunks = [];
    private long _used;   // bytes, always a multiple of 4

    /// <summary>Bytes of key records stored (including ones no longer referenced).</summary>
    public long UsedBytes => _used;

    /// <summary>Bytes allocated for chunks.</summary>
    public long CapacityBytes => _chunks.Sum(c => (long)c.Length);

    public uint Add(ReadOnlySpan<byte> key)
    {
        int record = RecordSize(key.Length);
        long chunkIndex = _used >> ChunkShift;
        long offsetInChunk = _used & (ChunkSize - 1);
        if (offsetInChunk + record > ChunkSize)
        {
            // The record does not fit in the rest of this chunk: skip that tail, start the next chunk.
            chunkIndex++;
            offsetInChunk = 0;
            _used = chunkIndex << ChunkShift;
        }

        // A chunk filled exactly leaves _used on the boundary of a chunk that does not exist yet.
        if (chunkIndex == _chunks.Count)
        {
            // The first chunk starts small and grows, so a store of a few keys does not pay 1 MiB.
            _chunks.Add(GC.AllocateUninitializedArray<byte>(chunkIndex == 0 ? FirstChunkSize : ChunkSize));
        }

        if (chunkIndex == 0 && offsetInChunk + record > _chunks[0].Length)
        {
            var grown = GC.AllocateUninitializedArray<byte>((int)Math.Min(ChunkSize, Math.Max(offsetInChunk + record, _chunks[0].Length * 2L)));
            _chunks[0].AsSpan(0, (int)offsetInChunk).CopyTo(grown);
            _chunks[0] = grown;
        }

        if (_used / 4 > uint.MaxValue)
        {
            throw new InvalidOperationException("datawal: key directory exceeds 16 GiB of key bytes");
        }

        var chunk = _chunks[(int)chunkIndex];
        BinaryPrimitives.WriteInt32LittleEndian(chunk.AsSpan((int)offsetInChunk), key.Length);
        key.CopyTo(chunk.AsSpan((int)offsetInChunk + 4));
        uint position = (uint)(_used / 4);
        _used += record;
        return position;
    }

    public ReadOnlySpan<byte> Get(uint position)
    {
        long at = (long)position * 4;
        var chunk = _chunks[(int)(at >> ChunkShift)];
        int offset = (int)(at & (ChunkSize - 1));
        int length = BinaryPrimitives.ReadInt32LittleEndian(chunk.AsSpan(offset));
        return chunk.AsSpan(offset + 4, length);
    }

    /// <summary>Asks the CPU to start loading the key record at <paramref name="position"/> (a hint; nothing off x86).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(uint position)
    {
        if (CpuPrefetch.Supported)
        {
            long at = (long)position * 4;
            CpuPrefetch.Line(ref _chunks[(int)(at >> ChunkShift)][(int)(at & (ChunkSize - 1))]);
        }
    }

    public static int RecordSize(int keyLength) => (4 + keyLength + 3) & ~3;
}
