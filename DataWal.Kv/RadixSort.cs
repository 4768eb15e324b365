using System.Runtime.CompilerServices;

namespace DataWal.Kv;

/// <summary>The sort under <see cref="KeyDirectory.SortedOrder"/>: 64-bit keys with an item each, in linear passes.</summary>
internal static class RadixSort
{
    /// <summary>
    /// Sorts <paramref name="keys"/> ascending and permutes <paramref name="items"/> alongside (stable). Least significant
    /// byte first, one counting pass per byte; a byte that is the same in every key (the high bytes of small numbers,
    /// a shared prefix) costs no pass. The arrays may come back as new ones.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Sort(ref ulong[] keys, ref int[] items)
    {
        int n = keys.Length;
        if (n < 512)
        {
            Array.Sort(keys, items);   // stable enough: equal keys are ordered by the caller's tie-break anyway
            return;
        }

        var counts = new int[8 * 256];
        foreach (ulong key in keys)
        {
            for (int b = 0; b < 8; b++)
            {
                counts[(b << 8) | (int)((key >> (b * 8)) & 0xFF)]++;
            }
        }

        ulong[]? keysOut = null;
        int[]? itemsOut = null;
        for (int b = 0; b < 8; b++)
        {
            var bucket = counts.AsSpan(b << 8, 256);
            if (bucket.Contains(n))
            {
                continue;   // every key has the same byte here: the pass would not move anything
            }

            int sum = 0;
            for (int d = 0; d < 256; d++)
            {
                int c = bucket[d];
                bucket[d] = sum;
                sum += c;
            }

            keysOut ??= new ulong[n];
            itemsOut ??= new int[n];
            int shift = b * 8;
            for (int i = 0; i < n; i++)
            {
                ulong key = keys[i];
                int to = bucket[(int)((key >> shift) & 0xFF)]++;
                keysOut[to] = key;
                itemsOut[to] = items[i];
            }

            (keys, keysOut) = (keysOut, keys);
            (items, itemsOut) = (itemsOut, items);
        }
    }
}
