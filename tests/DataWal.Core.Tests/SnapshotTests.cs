using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// Snapshot tests (Verify conventions, docs/design.md D3): frame bytes and the exact text of every error message
/// are committed in <c>SnapshotTests.*.verified.txt</c> beside this file, so any change shows up as a diff.
/// </summary>
public class SnapshotTests
{
    /// <summary>A frame as "header | key | payload | crc" in hex.</summary>
    private static string Frame(byte[] frame)
    {
        int key = (int)BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(16));
        int payload = (int)BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(20));
        return $"{Hex(frame.AsSpan(0, 24))} | {Hex(frame.AsSpan(24, key))} | {Hex(frame.AsSpan(24 + key, payload))} | {Hex(frame.AsSpan(24 + key + payload))}";
    }

    [Test]
    public void Frame_encodings()
    {
        var cases = new (string Name, RecordType Type, ulong TxId, byte[] Key, byte[] Payload)[]
        {
            ("raw, empty key", RecordType.Raw, 1, [], B("alpha")),
            ("raw with a key", RecordType.Raw, 2, B("k"), B("v")),
            ("put", RecordType.Put, 3, B("alpha"), B("1")),
            ("delete (empty payload)", RecordType.Delete, 4, B("beta"), []),
            ("put, empty key and payload", RecordType.Put, 5, [], []),
            ("raw, empty payload", RecordType.Raw, 6, [], []),
            ("put, binary key and payload", RecordType.Put, 7, [0x00, 0xFF, 0x7F], [0x00, 0x00, 0x01]),
            ("txid 0", RecordType.Raw, 0, [], B("zero")),
            ("txid u64::MAX", RecordType.Delete, ulong.MaxValue, B("last"), []),
            ("txid 0x0102030405060708", RecordType.Put, 0x0102030405060708, B("k"), B("v")),
        };

        var text = new StringBuilder("# name: length bytes, CRC-32C: header | key | payload | crc (hex)\n");
        foreach (var (name, type, txId, key, payload) in cases)
        {
            var frame = WireFormat.Encode(type, txId, key, payload);
            uint crc = BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(frame.Length - 4));
            text.Append(CultureInfo.InvariantCulture, $"{name}: {frame.Length} bytes, crc 0x{crc:X8}\n  {Frame(frame)}\n");
        }

        Snapshot.Verify(text.ToString());
    }

    [Test]
    public void Worked_encodings_of_spec_1_9()
    {
        var raw = WireFormat.Encode(RecordType.Raw, 7, [], B("hello"));
        var put = WireFormat.Encode(RecordType.Put, 42, B("alpha"), B("value-1"));
        Snapshot.Verify(
            $"Raw, txid 7, key \"\", payload \"hello\": {raw.Length} bytes\n  {Frame(raw)}\n" +
            $"Put, txid 42, key \"alpha\", payload \"value-1\": {put.Length} bytes\n  {Frame(put)}\n");
    }

    [Test]
    public void Maximum_size_key_frame()
    {
        var key = new byte[WireFormat.MaxKeyLength];
        for (int i = 0; i < key.Length; i++)
        {
            key[i] = (byte)(i % 251);
        }

        var frame = WireFormat.Encode(RecordType.Put, 1, key, B("v"));
        Snapshot.Verify(
            $"Put, txid 1, key = 65536 bytes (i % 251), payload \"v\"\n" +
            $"length: {frame.Length}\n" +
            $"header: {Hex(frame.AsSpan(0, 24))}\n" +
            $"key head: {Hex(frame.AsSpan(24, 16))}\n" +
            $"crc: {Hex(frame.AsSpan(frame.Length - 4))}\n" +
            $"sha256 of the frame: {Sha256(frame)}\n");
    }

    [Test]
    public void Error_messages()
    {
        var text = new StringBuilder();
        void Add(string name, Exception? e, string? directory = null)
        {
            Assert.That(e, Is.Not.Null, name);
            string details = e is CorruptRecordException c ? $" (segment {c.Segment}, offset {c.Offset}, {c.Kind})" : "";
            string message = directory is null ? e!.Message : Normalise(e!.Message, directory);
            text.Append(CultureInfo.InvariantCulture, $"{name}\n  {e.GetType().Name}{details}: {message}\n");
        }

        InvalidFrameException Decode(Action<byte[]> damage)
        {
            var frame = WireFormat.Encode(RecordType.Raw, 7, [], B("hello"));
            damage(frame);
            return Assert.Throws<InvalidFrameException>(() => { WireFormat.Decode(frame); })!;
        }

        text.Append("## WireFormat\n");
        Add("bad magic", Decode(f => f[0] = (byte)'X'));
        Add("unknown version", Decode(f => BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(4), 99)));
        Add("unknown record type", Decode(f => f[6] = 200));
        Add("reserved flags", Decode(f => f[7] = 1));
        Add("key too large on decode", Decode(f => BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(16), 65537)));
        Add("payload too large on decode", Decode(f => BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(20), 67108865)));
        Add("key too large on encode", Assert.Throws<RecordTooLargeException>(() => WireFormat.Encode(RecordType.Put, 1, new byte[65537], [])));
        var hugePayload = GC.AllocateUninitializedArray<byte>(67108865);
        Add("payload too large on encode", Assert.Throws<RecordTooLargeException>(() => WireFormat.Encode(RecordType.Raw, 1, [], hugePayload)));
        Add("segment id overflow", Assert.Throws<DataWalException>(() => SegmentFiles.NextId([SegmentFiles.MaxId])));

        text.Append("## Recovery (paths: <dir>)\n");
        using (var dir = new TempDir())
        {
            using (var log = RecordLog.Open(dir.Path))
            {
                log.Append(B("one"));
                log.Append(B("two"));
                log.Rotate();
                log.Append(B("three"));
            }

            var image = Image(dir.Path);
            Truncate(Seg(dir.Path, 1), 40);
            Add("truncated sealed segment", Assert.Catch<DataWalException>(() => RecordLog.Open(dir.Path)), dir.Path);
            WriteImage(dir.Path, image);
            XorByte(Seg(dir.Path, 1), 60, 0x01);
            Add("CRC mismatch in a sealed segment", Assert.Catch<DataWalException>(() => RecordLog.Open(dir.Path)), dir.Path);
            WriteImage(dir.Path, image);
            XorByte(Seg(dir.Path, 2), 0, 0xFF);
            Add("structural decode error (bad magic, last segment)", Assert.Catch<DataWalException>(() => RecordLog.Open(dir.Path)), dir.Path);
            WriteImage(dir.Path, image);
            WriteAt(Seg(dir.Path, 1), 31 + 4, [0xFE, 0xCA]);
            Add("structural decode error (unknown version, sealed segment)", Assert.Catch<DataWalException>(() => RecordLogReader.Open(dir.Path).ScanIter().ToList()), dir.Path);
            WriteImage(dir.Path, image);
            AppendBytes(Seg(dir.Path, 2), Enumerable.Repeat((byte)0xAB, 24).ToArray());
            Add("structural decode error (non-zero garbage tail)", Assert.Catch<DataWalException>(() => RecordLog.Open(dir.Path)), dir.Path);

            text.Append("## Reader\n");
            Add("reader on a missing directory", Assert.Catch<DataWalException>(() => RecordLogReader.Open(dir["missing"])), dir.Path);
            File.WriteAllText(dir["file"], "x");
            Add("reader on a file", Assert.Catch<DataWalException>(() => RecordLogReader.Open(dir["file"])), dir.Path);
        }

        text.Append("## Lock\n");
        using (var dir = new TempDir())
        using (RecordLog.Open(dir.Path))
        {
            // EWOULDBLOCK is 11 on Linux and 35 on macOS: the number is normalised, the wording is not.
            var locked = Assert.Catch<StoreLockedException>(() => RecordLog.Open(dir.Path))!;
            Add("lock contention", new StoreLockedException(
                System.Text.RegularExpressions.Regex.Replace(locked.Message, @"\(os error \d+\)", "(os error N)"), locked.LockPath), dir.Path);
        }

        text.Append("## Writer\n");
        using (var dir = new TempDir())
        using (var log = RecordLog.Open(dir.Path))
        {
            Add("record too large (key)", Assert.Throws<RecordTooLargeException>(() => log.AppendRecord(RecordType.Put, new byte[65537], [])));
            Add("record too large (payload)", Assert.Throws<RecordTooLargeException>(() => log.Append(hugePayload)));
        }

        text.Append("## Poisoning: the failing call, then every later write\n");
        PoisonCase(text, "write", (f, _) => f.Fail(Call.Write, ErrorNumbers.EIO), log => log.Append(B("x")));
        PoisonCase(text, "append batch", (f, _) => f.Fail(Call.Write, ErrorNumbers.EIO), log =>
        {
            using var batch = new RecordBatch();
            batch.Add(RecordType.Put, B("k"), B("v"));
            log.AppendBatch(batch);
        });
        PoisonCase(text, "fsync (fdatasync)", (f, _) => f.Fail(Call.FsyncData, ErrorNumbers.EIO), log => log.Fsync());
        PoisonCase(text, "fsync (directory)", (f, _) => f.Fail(Call.FsyncDirectory, ErrorNumbers.EIO), log => log.Fsync());
        PoisonCase(text, "rotate (fdatasync of the previous segment)", (f, _) => f.Fail(Call.FsyncData, ErrorNumbers.EIO), log => log.Rotate());
        PoisonCase(text, "rotate (create the new segment)", (f, d) => f.Fail(Call.Open, ErrorNumbers.ENOSPC, path: p => p == Seg(d, 2)), log => log.Rotate());
        PoisonCase(text, "rotate (directory fsync after create)", (f, _) => f.Fail(Call.FsyncDirectory, ErrorNumbers.EIO), log => log.Rotate());
        using (var dir = new TempDir())
        {
            File.WriteAllBytes(Seg(dir.Path, 1), WireFormat.Encode(RecordType.Raw, ulong.MaxValue - 1, [], []));
            using var log = RecordLog.Open(dir.Path);
            log.Append(B("last txid"));
            var then = Assert.Throws<WriterPoisonedException>(() => log.Append(B("x")))!;
            text.Append(CultureInfo.InvariantCulture, $"txid overflow (after appending txid u64::MAX)\n  then {then.GetType().Name}: {then.Message}\n");
        }

        Snapshot.Verify(text.ToString());

        void PoisonCase(StringBuilder builder, string name, Action<FaultInjector, string> inject, Action<RecordLog> trigger)
        {
            using var dir = new TempDir();
            using var log = RecordLog.Open(dir.Path);
            log.Append(B("seed"));
            using var faults = FaultInjector.Install();
            inject(faults, dir.Path);
            var first = Assert.Throws<DataWalException>(() => trigger(log))!;

            // Our context prefix is pinned; the system call's own text (SafeAtomic's) is reduced to its errno.
            var inner = (SystemCallException)first.InnerException!;
            string message = first.Message.Replace(inner.Message, $"<{inner.ErrorName}>", StringComparison.Ordinal);
            builder.Append(CultureInfo.InvariantCulture, $"{name}\n  {first.GetType().Name}: {Normalise(message, dir.Path)}\n");
            var then = Assert.Throws<WriterPoisonedException>(() => log.Append(B("y")))!;
            builder.Append(CultureInfo.InvariantCulture, $"  then {then.GetType().Name}: {then.Message}\n");
        }
    }

    [Test]
    public void Corpus_listings()
    {
        var text = new StringBuilder();
        foreach (var fixture in new[] { "valid_log", "truncated_tail", "bad_crc", "unknown_version", "delete_tombstone", "compact_to_output" })
        {
            using var dir = new TempDir();
            Corpus.CopyTo(fixture, dir.Path);
            text.Append(CultureInfo.InvariantCulture, $"## {fixture}\n");
            var iterator = RecordLogReader.Open(dir.Path).ScanIter();
            try
            {
                foreach (var record in iterator)
                {
                    text.Append(CultureInfo.InvariantCulture, $"  {record} key=\"{S(record.Key)}\" payload=\"{S(record.Payload)}\"\n");
                }

                text.Append(CultureInfo.InvariantCulture, $"  reader: {iterator.RecoveryReport}\n");
                using var log = RecordLog.Open(dir.Path);
                text.Append(CultureInfo.InvariantCulture, $"  writer open: {log.RecoveryReport}\n");
            }
            catch (CorruptRecordException e)
            {
                text.Append(CultureInfo.InvariantCulture, $"  error: segment={e.Segment} offset={e.Offset} kind={e.Kind}: {Normalise(e.Message, dir.Path)}\n");
            }
        }

        Snapshot.Verify(text.ToString());
    }
}
