using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace DataWal.Kv;

/// <summary>
/// Software prefetch for the bulk walks whose next addresses are known a few steps ahead (an open's index slots, a
/// sorted snapshot's entries and keys, an export's mapped frames). A hint only: it never faults, even on an address
/// that is gone meanwhile, and changes no state; where the CPU has no such instruction (off x86) it does nothing.
/// </summary>
internal static class CpuPrefetch
{
    /// <summary>Whether a prefetch does anything here: callers may skip working out addresses when it does not.</summary>
    public static bool Supported => Sse.IsSupported;

    /// <summary>Starts loading the cache line holding <paramref name="address"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Line(void* address)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(address);
        }
    }

    /// <summary>Starts loading the cache line holding <paramref name="value"/> (an array element or a field).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Line<T>(ref T value) => Line(Unsafe.AsPointer(ref value));
}
