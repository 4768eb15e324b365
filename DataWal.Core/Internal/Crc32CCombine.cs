namespace DataWal.Core;

/// <summary>
/// CRC-32C arithmetic over GF(2) (zlib's <c>crc32_combine</c>, for the Castagnoli polynomial): the CRC of a
/// concatenation from the CRCs of its parts, so salvage can check a candidate frame's CRC from running values it
/// already has instead of reading the frame's bytes again.
/// </summary>
/// <remarks>
/// With <c>crc</c> the standard CRC-32C (init and final xor <c>0xFFFFFFFF</c>, as <see cref="WireFormat.Crc32C"/>):
/// <c>crc(A ‖ B) = Shift(crc(A), |B|) ⊕ crc(B)</c>. So if <c>Q(x)</c> is the CRC of a segment's bytes from a base
/// offset up to <c>x</c>, the CRC of the bytes <c>[c, e)</c> is <c>Q(e) ⊕ Shift(Q(c), e − c)</c>.
/// </remarks>
internal static class Crc32CCombine
{
    private const uint Poly = 0x82F63B78;   // CRC-32C, reflected

    /// <summary>x^(2^k) mod P, k = 0..63 (no reliance on the multiplicative order of x).</summary>
    private static readonly uint[] X2N = BuildX2N();

    /// <summary>The CRC of <c>A ‖ B</c> from <c>crc(A)</c>, <c>crc(B)</c> and <c>|B|</c>.</summary>
    public static uint Combine(uint crcA, uint crcB, long lengthB) => Shift(crcA, lengthB) ^ crcB;

    /// <summary>The CRC of <c>[c, e)</c> from the running CRCs at c and e (same base) and e − c.</summary>
    public static uint Between(uint runningAtStart, uint runningAtEnd, long length) => runningAtEnd ^ Shift(runningAtStart, length);

    /// <summary>Multiplies <paramref name="crc"/> by x^(8·<paramref name="bytes"/>) mod P: feeding that many zero bytes, unconditioned.</summary>
    public static uint Shift(uint crc, long bytes) => bytes == 0 || crc == 0 ? crc : MultModP(X8NModP(bytes), crc);

    /// <summary>The operator of <see cref="Shift"/> for a fixed length, to apply with <see cref="Apply"/> many times.</summary>
    public static uint ShiftOperator(long bytes) => X8NModP(bytes);

    /// <summary>Applies an operator made by <see cref="ShiftOperator"/>.</summary>
    public static uint Apply(uint shiftOperator, uint crc) => crc == 0 ? 0 : MultModP(shiftOperator, crc);

    /// <summary>a·b mod P (reflected); <paramref name="a"/> must not be 0 (x^n mod P never is).</summary>
    private static uint MultModP(uint a, uint b)
    {
        uint m = 1u << 31;
        uint p = 0;
        while (true)
        {
            if ((a & m) != 0)
            {
                p ^= b;
                if ((a & (m - 1)) == 0)
                {
                    return p;
                }
            }

            m >>= 1;
            b = (b & 1) != 0 ? (b >> 1) ^ Poly : b >> 1;
        }
    }

    /// <summary>x^(8n) mod P.</summary>
    private static uint X8NModP(long n)
    {
        uint p = 1u << 31;   // x^0
        int k = 3;           // 8n = n << 3
        while (n > 0)
        {
            if ((n & 1) != 0)
            {
                p = MultModP(X2N[k], p);
            }

            n >>= 1;
            k++;
        }

        return p;
    }

    private static uint[] BuildX2N()
    {
        var table = new uint[64];
        uint p = 1u << 30;   // x^1
        table[0] = p;
        for (int k = 1; k < 64; k++)
        {
            p = MultModP(p, p);
            table[k] = p;
        }

        return table;
    }
}
