using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using DataWal.Core;
using NUnit.Framework;
using SafeAtomic;

namespace DataWal.Kv.Tests;

/// <summary>Shared helpers for the DataWal.Kv tests.</summary>
internal static class TestUtil
{
    public static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    public static string S(byte[]? bytes) => bytes is null ? "<null>" : Encoding.UTF8.GetString(bytes);

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static string Seg(string directory, uint id) => SegmentFiles.PathFor(directory, id);


    /// <summary>
    /// Every entry under <paramref name="directory"/> (relative path, '/' separated) mapped to the SHA-256 of
    /// its bytes, or to <c>&lt;dir&gt;</c> for a directory: a before/after image that catches any change.
    /// </summary>
    public static SortedDictionary<string, string> Tree(string directory)
    {
        var tree = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(directory, entry).Replace('\\', '/');
            tree[relative] = Directory.Exists(entry) ? "<dir>" : Sha256(ReadShared(entry));
        }

        return tree;
    }

    /// <summary>
    /// Reads a file that another handle may hold open or locked (a live writer's <c>.lock</c> is flocked,
    /// which .NET's own FileStream refuses to open): a plain open(2) through SafeAtomic's seam.
    /// </summary>
    public static byte[] ReadShared(string path)
    {
        using var handle = FileSync.Open(path, FileMode.Open, FileAccess.Read);
        var bytes = new byte[RandomAccess.GetLength(handle)];
        int total = 0;
        while (total < bytes.Length)
        {
            int n = RandomAccess.Read(handle, bytes.AsSpan(total), total);
            Assert.That(n, Is.Positive, $"{path} shrank while being read");
            total += n;
        }

        return bytes;
    }

    /// <summary>Every record of a log directory, read through a lock-free reader.</summary>
    public static List<Record> Records(string directory) => [.. RecordLogReader.Open(directory).ScanIter()];

    /// <summary>
    /// The live pairs of a store as <c>hexkey=hexvalue</c> strings in bytewise key order (read through
    /// <see cref="KvStore.Items"/>). A sorted list compares in linear time with a readable first difference.
    /// </summary>
    public static List<string> Dump(KvStore store) => HexMap(store.Items());

    /// <summary>Like <see cref="Dump"/>, but reading key by key through <see cref="KvStore.Get(ReadOnlySpan{byte})"/>.</summary>
    public static List<string> DumpByGet(KvStore store) =>
        HexMap(store.Keys().Select(key => new KeyValuePair<byte[], byte[]>(key, store.Get(key) ?? throw new AssertionException($"live key {Hex(key)} has no value"))));

    /// <summary>Pairs as <c>hexkey=hexvalue</c> strings in bytewise key order (later duplicates win).</summary>
    public static List<string> HexMap(IEnumerable<KeyValuePair<byte[], byte[]>> pairs)
    {
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in pairs)
        {
            map[Hex(key)] = Hex(value);
        }

        return map.Select(p => p.Key + "=" + p.Value).ToList();
    }

    /// <summary>XORs one byte of a file in place (other handles may hold it open).</summary>
    public static void FlipByte(string path, long offset, byte mask = 0xFF)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        stream.Position = offset;
        int b = stream.ReadByte();
        Assert.That(b, Is.GreaterThanOrEqualTo(0), $"offset {offset} is past the end of {path}");
        stream.Position = offset;
        stream.WriteByte((byte)(b ^ mask));
    }

    /// <summary>Overwrites bytes of a file in place (other handles may hold it open).</summary>
    public static void WriteAt(string path, long offset, ReadOnlySpan<byte> bytes)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        stream.Position = offset;
        stream.Write(bytes);
    }

    /// <summary>Truncates a file in place (other handles may hold it open).</summary>
    public static void Truncate(string path, long length)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        stream.SetLength(length);
    }

    /// <summary>
    /// Rewrites the frame at <paramref name="at"/> in its segment: <paramref name="edit"/> changes the bytes
    /// (header, key, payload; the CRC slot is ignored), then a valid CRC-32C is stored for the edited frame
    /// at the position its (possibly edited) header implies. The file length never changes.
    /// </summary>
    public static void RewriteFrameWithValidCrc(string directory, RecordRef at, Action<byte[]> edit)
    {
        string path = Seg(directory, at.Segment);
        var frame = new byte[at.Length];
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            stream.Position = (long)at.Offset;
            stream.ReadExactly(frame);
        }

        edit(frame);
        int keyLength = BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(16));
        int payloadLength = BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(20));
        int body = WireFormat.HeaderLength + keyLength + payloadLength;
        Assert.That(body + WireFormat.CrcLength, Is.LessThanOrEqualTo(frame.Length), "an edited frame must not grow");
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(body), WireFormat.Crc32C(frame.AsSpan(0, body)));
        WriteAt(path, (long)at.Offset, frame);
    }

    /// <summary>Number of open file descriptors of this process (Linux only).</summary>
    public static int OpenFileDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    /// <summary>Bytewise (unsigned, shorter prefix first) key comparison, written independently of the library.</summary>
    public static int CompareBytes(byte[] a, byte[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            if (a[i] != b[i])
            {
                return a[i] < b[i] ? -1 : 1;
            }
        }

        return a.Length.CompareTo(b.Length);
    }

    /// <summary>The JSON line upstream's export writes for one pair.</summary>
    public static string JsonLine(byte[] key, byte[] value) =>
        "{\"key_b64\":\"" + Convert.ToBase64String(key) + "\",\"value_b64\":\"" + Convert.ToBase64String(value) + "\"}\n";
}
