using System.Buffers.Binary;
using System.Diagnostics;
using DataWal.Core;
using Mono.Unix.Native;

namespace DataWal.Benchmarks;

/// <summary>
/// The raw floors of the fresh mode: the system calls a workload cannot avoid, with nothing of DataWal around them —
/// libc <c>open</c> / <c>write</c> / <c>fdatasync</c> / <c>pread</c> / <c>read</c> / <c>close</c> through Mono.Posix's
/// <see cref="Syscall"/> (the same system-call layer SafeAtomic uses), and CRC-32C through the public
/// <see cref="WireFormat.Crc32C"/>.
/// </summary>
internal static unsafe class RawFloors
{
    /// <summary>A Raw frame with a 100-byte payload and no key: 24 B header + 100 B + 4 B CRC.</summary>
    public const int AppendFrameBytes = 128;

    /// <summary>A KV Put frame with a 16-byte key and a 100-byte value: 24 + 16 + 100 + 4.</summary>
    public const int KvFrameBytes = 144;

    /// <summary>Bytes per <c>read</c> call of the scan floor.</summary>
    public const int ScanChunkBytes = 256 * 1024;

    private const FilePermissions FileMode = FilePermissions.S_IRUSR | FilePermissions.S_IWUSR | FilePermissions.S_IRGRP | FilePermissions.S_IROTH;

    /// <summary><paramref name="records"/> × <c>write</c>(128 B) appending to a new file, then one <c>fdatasync</c>; seconds.</summary>
    public static double WriteLoop(string path, int records)
    {
        var data = BenchEnv.Filled(AppendFrameBytes, BenchEnv.PayloadFill);
        int fd = Open(path, OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_CLOEXEC);
        try
        {
            fixed (byte* p = data)
            {
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < records; i++)
                {
                    Write(fd, p, data.Length);
                }

                Check(Syscall.fdatasync(fd), "fdatasync");
                return Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
        }
        finally
        {
            _ = Syscall.close(fd);
        }
    }

    /// <summary><paramref name="records"/> × (<c>write</c>(128 B) + <c>fdatasync</c>) on a new file; seconds and per-op latencies in µs (sorted).</summary>
    public static (double Seconds, double[] Micros) WriteFdatasyncLoop(string path, int records)
    {
        var data = BenchEnv.Filled(AppendFrameBytes, BenchEnv.PayloadFill);
        var micros = new double[records];
        int fd = Open(path, OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_CLOEXEC);
        try
        {
            // The file exists durably before the loop, as a log's segment does after its open.
            Check(Syscall.fsync(fd), "fsync");
            fixed (byte* p = data)
            {
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < records; i++)
                {
                    long t = Stopwatch.GetTimestamp();
                    Write(fd, p, data.Length);
                    Check(Syscall.fdatasync(fd), "fdatasync");
                    micros[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
                }

                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                Array.Sort(micros);
                return (seconds, micros);
            }
        }
        finally
        {
            _ = Syscall.close(fd);
        }
    }

    /// <summary>
    /// For each index: <c>pread</c> of the 144-byte frame at index × 144 of <paramref name="path"/>, CRC-32C of its first
    /// 140 bytes checked against the stored CRC (little-endian, last 4 bytes); seconds.
    /// </summary>
    public static double PreadCrc(string path, int[] indices)
    {
        var frame = new byte[KvFrameBytes];
        long bad = 0;
        int fd = Open(path, OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC);
        try
        {
            fixed (byte* p = frame)
            {
                long start = Stopwatch.GetTimestamp();
                foreach (int index in indices)
                {
                    long n = Syscall.pread(fd, p, KvFrameBytes, (long)index * KvFrameBytes);
                    if (n != KvFrameBytes)
                    {
                        throw new IOException($"pread returned {n} ({Stdlib.GetLastError()})");
                    }

                    if (WireFormat.Crc32C(frame.AsSpan(0, KvFrameBytes - 4)) != BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(KvFrameBytes - 4)))
                    {
                        bad++;
                    }
                }

                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                return bad == 0 ? seconds : throw new InvalidDataException($"{bad} frames of {path} failed their CRC: not a file of {KvFrameBytes}-byte frames");
            }
        }
        finally
        {
            _ = Syscall.close(fd);
        }
    }

    /// <summary>
    /// Sequential <c>read</c>s of 256 KiB of <paramref name="path"/>, CRC-32C of each 144-byte frame checked against its
    /// stored CRC (a frame split across two reads is completed from the next); seconds and frames.
    /// </summary>
    public static (double Seconds, long Frames) ReadCrc(string path)
    {
        var buffer = new byte[ScanChunkBytes + KvFrameBytes];
        long frames = 0;
        long bad = 0;
        int fd = Open(path, OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC);
        try
        {
            fixed (byte* p = buffer)
            {
                long start = Stopwatch.GetTimestamp();
                int carry = 0;
                while (true)
                {
                    long n = Syscall.read(fd, p + carry, ScanChunkBytes);
                    if (n < 0)
                    {
                        throw new IOException($"read failed ({Stdlib.GetLastError()})");
                    }

                    if (n == 0)
                    {
                        break;
                    }

                    int available = carry + (int)n;
                    int offset = 0;
                    for (; available - offset >= KvFrameBytes; offset += KvFrameBytes)
                    {
                        var frame = buffer.AsSpan(offset, KvFrameBytes);
                        if (WireFormat.Crc32C(frame[..^4]) != BinaryPrimitives.ReadUInt32LittleEndian(frame[^4..]))
                        {
                            bad++;
                        }

                        frames++;
                    }

                    carry = available - offset;
                    buffer.AsSpan(offset, carry).CopyTo(buffer);
                }

                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                if (bad != 0 || carry != 0)
                {
                    throw new InvalidDataException($"{bad} frames of {path} failed their CRC, {carry} bytes left over: not a file of {KvFrameBytes}-byte frames");
                }

                return (seconds, frames);
            }
        }
        finally
        {
            _ = Syscall.close(fd);
        }
    }

    private static int Open(string path, OpenFlags flags)
    {
        int fd = Syscall.open(path, flags, FileMode);
        return fd >= 0 ? fd : throw new IOException($"open {path} failed ({Stdlib.GetLastError()})");
    }

    private static void Write(int fd, byte* data, int length)
    {
        long n = Syscall.write(fd, data, (ulong)length);
        if (n != length)
        {
            throw new IOException($"write returned {n} of {length} ({Stdlib.GetLastError()})");
        }
    }

    private static void Check(int result, string call)
    {
        if (result != 0)
        {
            throw new IOException($"{call} failed ({Stdlib.GetLastError()})");
        }
    }
}
