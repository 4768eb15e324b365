using System.Security.Cryptography;
using System.Text;
using NUnit.Framework;

namespace DataWal.Core.Tests;

/// <summary>A record with every field, comparable by value and readable in a failure message.</summary>
internal readonly record struct Rec(RecordType Type, ulong TxId, string Key, string Payload, uint Segment, ulong Offset, uint Length)
{
    public static Rec Of(Record r) =>
        new(r.Type, r.TxId, Convert.ToHexStringLower(r.Key.Span), Convert.ToHexStringLower(r.Payload.Span), r.Segment, r.Offset, r.Length);

    public override string ToString() => $"{Type} tx={TxId} key={Key} payload={Payload} @{Segment}:{Offset}+{Length}";
}

/// <summary>Shared helpers for the DataWal.Core tests.</summary>
internal static class TestUtil
{
    public static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    public static string S(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    public static byte[] FromHex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static List<Rec> Recs(IEnumerable<Record> records) => records.Select(Rec.Of).ToList();

    public static string Seg(string directory, uint id) => SegmentFiles.PathFor(directory, id);


    /// <summary>Reads a whole directory through a <see cref="RecordLogReader"/>.</summary>
    public static List<Rec> ReadAll(string directory, out RecoveryReport report)
    {
        var iterator = RecordLogReader.Open(directory).ScanIter();
        var records = Recs(iterator);
        report = iterator.RecoveryReport;
        return records;
    }

    public static List<Rec> ReadAll(string directory) => ReadAll(directory, out _);

    /// <summary>Reads with a reader, returning what was yielded before an error (if any).</summary>
    public static (List<Rec> Records, RecoveryReport Report, CorruptRecordException? Error) ReadUntilCorrupt(string directory)
    {
        var records = new List<Rec>();
        var iterator = RecordLogReader.Open(directory).ScanIter();
        try
        {
            foreach (var r in iterator)
            {
                records.Add(Rec.Of(r));
            }
        }
        catch (CorruptRecordException e)
        {
            return (records, iterator.RecoveryReport, e);
        }

        return (records, iterator.RecoveryReport, null);
    }

    /// <summary>Snapshot of every segment file's bytes, by id.</summary>
    public static SortedDictionary<uint, byte[]> Image(string directory)
    {
        var image = new SortedDictionary<uint, byte[]>();
        foreach (uint id in SegmentFiles.List(directory))
        {
            image[id] = File.ReadAllBytes(Seg(directory, id));
        }

        return image;
    }

    /// <summary>Makes <paramref name="directory"/> hold exactly the segments of <paramref name="image"/>.</summary>
    public static void WriteImage(string directory, IReadOnlyDictionary<uint, byte[]> image)
    {
        foreach (var file in Directory.GetFiles(directory, "*.dwal"))
        {
            File.Delete(file);
        }

        foreach (var (id, bytes) in image)
        {
            File.WriteAllBytes(Seg(directory, id), bytes);
        }
    }

    public static void Truncate(string path, long length)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        stream.SetLength(length);
    }

    public static void AppendBytes(string path, ReadOnlySpan<byte> bytes)
    {
        using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        stream.Write(bytes);
    }

    public static void XorByte(string path, long offset, byte mask)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[offset] ^= mask;
        File.WriteAllBytes(path, bytes);
    }

    public static void WriteAt(string path, long offset, ReadOnlySpan<byte> bytes)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        stream.Position = offset;
        stream.Write(bytes);
    }

    /// <summary>Replaces the temp directory in a message with <c>&lt;dir&gt;</c>.</summary>
    public static string Normalise(string message, string directory) => message.Replace(directory, "<dir>", StringComparison.Ordinal);

    /// <summary>Deterministic bytes of a given length.</summary>
    public static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)((i * 31) + (seed * 17) + 7);
        }

        return bytes;
    }
}
