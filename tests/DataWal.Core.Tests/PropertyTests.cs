using CsCheck;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Core.Tests;

/// <summary>
/// Random operation sequences against an in-memory model (upstream proptest_recovery.rs docs/design.md U7.11,
/// scan_iter_equals_scan): after every operation <c>Scan</c>, <c>ScanIter</c> and a
/// <see cref="RecordLogReader"/> agree with the model on every field.
/// </summary>
public class PropertyTests
{
    private static readonly int[] BufferSizes = [1, 24, 40, 64, 256 * 1024];

    private abstract record Op;

    private sealed record AppendOp(RecordType Type, byte[] Key, byte[] Payload) : Op
    {
        public override string ToString() => $"Append({Type}, key {Convert.ToHexStringLower(Key)}, payload {Payload.Length} B)";
    }

    private sealed record FsyncOp : Op;

    private sealed record RotateOp : Op;

    private sealed record BatchOp(AppendOp[] Records) : Op
    {
        public override string ToString() => $"AppendBatch[{string.Join(", ", Records.Select(r => r.ToString()))}]";
    }

    private sealed record ReopenOp(int BufferSize, DurabilityMode Durability) : Op;

    private static readonly Gen<AppendOp> AppendRecordGen =
        Gen.Select(Gen.Int[0, 2], Gen.Byte.Array[0, 16], Gen.Byte.Array[0, 64], (type, key, payload) => new AppendOp((RecordType)type, key, payload));

    /// <summary>Mostly Manual; sometimes Grouped (background flusher) or EveryAppend (an fsync per append).</summary>
    private static readonly Gen<DurabilityMode> DurabilityGen =
        Gen.Int[0, 9].Select(i => i < 7 ? DurabilityMode.Manual : i < 9 ? DurabilityMode.Grouped : DurabilityMode.EveryAppend);

    private static readonly Gen<Op> OpGen = Gen.Frequency(
        (8, AppendRecordGen.Select(a => (Op)a)),
        (1, AppendRecordGen.Array[0, 4].Select(a => (Op)new BatchOp(a))),
        (2, Gen.Const<Op>(new FsyncOp())),
        (1, Gen.Const<Op>(new RotateOp())),
        (1, Gen.Select(Gen.Int[0, BufferSizes.Length - 1], DurabilityGen, (i, d) => (Op)new ReopenOp(BufferSizes[i], d))));

    private static readonly Gen<Op[]> OpsGen = OpGen.Array[0, 40];

    private sealed class Model
    {
        public List<Rec> Records { get; } = [];

        public uint Active { get; set; } = 1;

        public ulong Size { get; set; }

        public ulong NextTxId { get; set; } = 1;
    }

    [Test]
    public void Random_operations_keep_scan_scan_iter_reader_and_model_equal()
    {
        int iterations = 0;
        OpsGen.Sample(
            ops =>
            {
                Run(ops);
                Interlocked.Increment(ref iterations);
            },
            iter: 100,
            threads: 1,
            print: ops => string.Join("\n", ops.Select(o => o.ToString())));
        Assert.That(iterations, Is.GreaterThanOrEqualTo(100));
    }

    private static void Run(Op[] ops)
    {
        using var dir = new TempDir("prop");
        var model = new Model();
        var log = RecordLog.Open(dir.Path);
        try
        {
            Check(log, model, dir.Path, "after open");
            for (int step = 0; step < ops.Length; step++)
            {
                string at = $"after step {step} {ops[step]}";
                switch (ops[step])
                {
                    case AppendOp append:
                        var written = log.AppendRecord(append.Type, append.Key, append.Payload);
                        var expected = new Rec(append.Type, model.NextTxId, Convert.ToHexStringLower(append.Key), Convert.ToHexStringLower(append.Payload),
                            model.Active, model.Size, (uint)WireFormat.FrameSize(append.Key.Length, append.Payload.Length));
                        Assert.That(written, Is.EqualTo(new RecordRef(expected.Segment, expected.Offset, expected.Length)), at);
                        model.Records.Add(expected);
                        model.Size += expected.Length;
                        model.NextTxId++;
                        break;
                    case BatchOp batchOp:
                        using (var batch = new RecordBatch(64))
                        {
                            var expectedRefs = new List<RecordRef>();
                            foreach (var r in batchOp.Records)
                            {
                                batch.Add(r.Type, r.Key, r.Payload);
                                var rec = new Rec(r.Type, model.NextTxId, Convert.ToHexStringLower(r.Key), Convert.ToHexStringLower(r.Payload),
                                    model.Active, model.Size, (uint)WireFormat.FrameSize(r.Key.Length, r.Payload.Length));
                                model.Records.Add(rec);
                                expectedRefs.Add(new RecordRef(rec.Segment, rec.Offset, rec.Length));
                                model.Size += rec.Length;
                                model.NextTxId++;
                            }

                            ulong first = log.AppendBatch(batch);
                            Assert.That(first, Is.EqualTo(model.NextTxId - (ulong)batchOp.Records.Length), at);
                            Assert.That(Enumerable.Range(0, batch.Count).Select(batch.RefAt), Is.EqualTo(expectedRefs), at);
                        }

                        break;
                    case FsyncOp:
                        log.Fsync();
                        break;
                    case RotateOp:
                        log.Rotate();
                        model.Active++;
                        model.Size = 0;
                        break;
                    case ReopenOp reopen:
                        log.Dispose();
                        log = RecordLog.Open(dir.Path, new RecordLogOptions { ReadBufferSize = reopen.BufferSize, Durability = reopen.Durability });
                        Assert.That(log.Durability, Is.EqualTo(reopen.Durability), at);
                        Assert.That(log.RecoveryReport, Is.EqualTo(ExpectedReport(model)), at);
                        break;
                }

                Check(log, model, dir.Path, at);
            }
        }
        finally
        {
            log.Dispose();
        }
    }

    private static RecoveryReport ExpectedReport(Model model) => new()
    {
        FilesScanned = (int)model.Active,
        RecordsReplayed = model.Records.Count,
        LastTxIdSeen = model.NextTxId - 1,
    };

    private static void Check(RecordLog log, Model model, string directory, string at)
    {
        var eager = TestUtil.Recs(log.Scan());
        var iterator = log.ScanIter();
        var lazy = TestUtil.Recs(iterator);
        var reader = RecordLogReader.Open(directory).ScanIter();
        var fromReader = TestUtil.Recs(reader);

        Assert.That(eager, Is.EqualTo(model.Records), at + ": Scan");
        Assert.That(lazy, Is.EqualTo(model.Records), at + ": ScanIter");
        Assert.That(fromReader, Is.EqualTo(model.Records), at + ": RecordLogReader.ScanIter");
        Assert.That(log.RecoveryReport, Is.EqualTo(ExpectedReport(model)), at + ": Scan's report");
        Assert.That(iterator.RecoveryReport, Is.EqualTo(ExpectedReport(model)), at + ": ScanIter's report");
        Assert.That(reader.RecoveryReport, Is.EqualTo(ExpectedReport(model)), at + ": reader's report");
        Assert.That((log.ActiveSegment, log.NextTxId, log.IsPoisoned), Is.EqualTo((model.Active, model.NextTxId, false)), at);
    }

    [Test]
    public void Random_frames_roundtrip_through_the_wire_format()
    {
        Gen.Select(Gen.Int[0, 2], Gen.ULong, Gen.Byte.Array[0, 300], Gen.Byte.Array[0, 3000]).Sample((type, txId, key, payload) =>
        {
            var frame = WireFormat.Encode((RecordType)type, txId, key, payload);
            var decoded = WireFormat.Decode(frame);
            Assert.That(decoded.Status, Is.EqualTo(DecodeStatus.Ok));
            Assert.That(((int)decoded.Type, decoded.TxId, decoded.BytesConsumed), Is.EqualTo((type, txId, frame.Length)));
            Assert.That(decoded.Key.SequenceEqual(key) && decoded.Payload.SequenceEqual(payload), Is.True);
            Assert.That(frame.Length, Is.EqualTo(WireFormat.FrameSize(key.Length, payload.Length)));
        }, iter: 2000);
    }

    [Test]
    public void Random_bytes_never_crash_the_decoder()
    {
        Gen.Byte.Array[0, 100].Sample(bytes =>
        {
            // Make most inputs start with a valid magic and version so the later checks are reached.
            if (bytes.Length >= 6 && bytes[0] % 2 == 0)
            {
                "DWAL"u8.CopyTo(bytes);
                bytes[4] = 1;
                bytes[5] = 0;
            }

            try
            {
                var decoded = WireFormat.Decode(bytes);
                switch (decoded.Status)
                {
                    case DecodeStatus.Ok:
                    case DecodeStatus.CrcMismatch:
                        Assert.That(decoded.BytesConsumed, Is.InRange(28, bytes.Length));
                        break;
                    default:
                        Assert.That(decoded.Available, Is.EqualTo(bytes.Length));
                        Assert.That(decoded.Needed, Is.GreaterThan(decoded.Available));
                        break;
                }
            }
            catch (InvalidFrameException)
            {
                Assert.That(bytes, Has.Length.GreaterThanOrEqualTo(24), "structural errors need a whole header");
            }
        }, iter: 20000);
    }
}
