using CsCheck;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// Upstream <c>tests/proptest_recovery.rs</c> (the KV properties) with CsCheck: random sequences of
/// put/delete/fsync/reopen/rotate over 8 single-byte keys and 0–16-byte values, checked against an
/// in-memory dictionary. A failure is shrunk to a minimal sequence and reported with CsCheck's seed.
/// </summary>
/// <remarks>
/// The checks inside a sample throw <see cref="PropertyFailure"/> rather than calling NUnit asserts, so that
/// CsCheck's shrinking (which runs many failing samples, on several threads) does not pile up assertion
/// records in the test result; CsCheck reports the minimal failing input when the test fails.
/// </remarks>
public class PropertyTests
{
    private const int Iterations = 100;

    private static readonly Gen<Op> GenOp = Gen.Frequency(
        (4, Gen.Select(Gen.Int[0, 7], Gen.Byte.Array[0, 16], (k, v) => (Op)new PutOp((byte)k, v))),
        (2, Gen.Int[0, 7].Select(k => (Op)new DeleteOp((byte)k))),
        (2, Gen.Const((Op)new FsyncOp())),
        (1, Gen.Const((Op)new ReopenOp())),
        (1, Gen.Const((Op)new RotateOp())));

    private static readonly Gen<Op[]> GenOps = GenOp.Array[0, 32];

    [Test]
    public void Reopen_preserves_kv_state()
    {
        GenOps.Sample(ops =>
        {
            using var h = new Harness();
            h.ApplyAll(ops);
            h.Check(h.Store, "before the final reopen");
            h.Reopen();
            h.Check(h.Store, "after the final reopen");
            using var readOnly = KvStore.OpenReadOnly(h.Path);
            h.Check(readOnly, "read-only open");
        }, iter: Iterations, print: Print);
    }

    [Test]
    public void Delete_then_put_resurrects_only_new_value()
    {
        Gen.Select(GenOps, Gen.Int[0, 7], Gen.Byte.Array[0, 16]).Sample((ops, k, v) =>
        {
            using var h = new Harness();
            h.ApplyAll(ops);
            h.Apply(new DeleteOp((byte)k));
            h.Apply(new PutOp((byte)k, v));
            h.Reopen();
            var got = h.Store.Get([(byte)k]);
            Expect(got is not null && got.AsSpan().SequenceEqual(v), $"key {k}: expected {Hex(v)}, got {(got is null ? "null" : Hex(got))}");
            h.Check(h.Store, "after reopen");
        }, iter: Iterations, print: t => Print(t.Item1) + $" then Delete({t.Item2}), Put({t.Item2},{Hex(t.Item3)})");
    }

    [Test]
    public void Compact_to_preserves_kv_state_and_never_resurrects_a_deleted_key()
    {
        GenOps.Sample(ops =>
        {
            using var h = new Harness();
            h.ApplyAll(ops);
            var sourceImage = Tree(h.Path);
            var sourceProjection = Dump(h.Store);
            string target = System.IO.Path.Combine(h.Root, "never", "created", "out");

            var stats = h.Store.CompactTo(target);

            Expect(stats.LiveKeys == h.Oracle.Count && stats.RecordsWritten == h.Oracle.Count,
                $"stats {stats} for {h.Oracle.Count} live keys");
            Expect(Tree(h.Path).SequenceEqual(sourceImage), "compaction changed the source directory");
            Expect(Dump(h.Store).SequenceEqual(sourceProjection), "compaction changed the source projection");

            var records = Records(target);
            Expect(records.All(r => r.Type == RecordType.Put), "the output holds only Put records");
            Expect(records.Select(r => r.TxId).SequenceEqual(Enumerable.Range(1, records.Count).Select(i => (ulong)i)), "txids are 1..N");
            Expect(records.Select(r => r.Key.Span[0]).SequenceEqual(h.Oracle.Keys.Order()), "one Put per live key, in key order");
            Expect(stats.BytesWritten == records.Sum(r => (long)r.Length), $"BytesWritten {stats.BytesWritten}");

            using var compacted = KvStore.Open(target);
            h.Check(compacted, "compacted store");
            for (byte k = 0; k < 8; k++)
            {
                if (!h.Oracle.ContainsKey(k))
                {
                    Expect(!compacted.ContainsKey([k]) && compacted.Get([k]) is null, $"key {k} is not live but the compacted store has it");
                }
            }
        }, iter: Iterations, print: Print);
    }

    [Test]
    public void Rotate_is_kv_transparent()
    {
        Gen.Select(GenOps, GenOps).Sample((before, after) =>
        {
            using var h = new Harness();
            h.ApplyAll(before);
            h.Store.Dispose();
            int segmentsBefore = SegmentFiles.List(h.Path).Count;
            using (var log = RecordLog.Open(h.Path))
            {
                log.Rotate();
                log.Fsync();
            }

            Expect(SegmentFiles.List(h.Path).Count == segmentsBefore + 1, "the rotation added a segment");
            h.Store = KvStore.Open(h.Path);
            h.Check(h.Store, "after the rotation");
            h.ApplyAll(after);
            h.Reopen();
            h.Check(h.Store, "after the final reopen");
        }, iter: Iterations, print: t => Print(t.Item1) + " | rotate | " + Print(t.Item2));
    }

    private static string Print(Op[] ops) => "[" + string.Join(", ", ops.Select(o => o.ToString())) + "]";

    private static void Expect(bool condition, string message)
    {
        if (!condition)
        {
            throw new PropertyFailure(message);
        }
    }

    private abstract record Op;

    private sealed record PutOp(byte Key, byte[] Value) : Op
    {
        public override string ToString() => $"Put({Key},{Hex(Value)})";
    }

    private sealed record DeleteOp(byte Key) : Op
    {
        public override string ToString() => $"Delete({Key})";
    }

    private sealed record FsyncOp : Op
    {
        public override string ToString() => "Fsync";
    }

    private sealed record ReopenOp : Op
    {
        public override string ToString() => "Reopen";
    }

    private sealed record RotateOp : Op
    {
        public override string ToString() => "Rotate";
    }

    private sealed class PropertyFailure(string message) : Exception(message);

    /// <summary>A store in a fresh directory plus the oracle dictionary the operations are mirrored into.</summary>
    private sealed class Harness : IDisposable
    {
        private readonly TempDir _dir = new("prop");

        public Harness()
        {
            Store = KvStore.Open(Path);
        }

        public string Root => _dir.Path;

        public string Path => _dir["store"];

        public KvStore Store { get; set; }

        public SortedDictionary<byte, byte[]> Oracle { get; } = [];

        public void ApplyAll(IEnumerable<Op> ops)
        {
            foreach (var op in ops)
            {
                Apply(op);
            }
        }

        public void Apply(Op op)
        {
            switch (op)
            {
                case PutOp put:
                    Store.Put([put.Key], put.Value);
                    Oracle[put.Key] = put.Value;
                    break;
                case DeleteOp delete:
                    Store.Delete([delete.Key]);
                    Oracle.Remove(delete.Key);
                    break;
                case FsyncOp:
                    Store.Fsync();
                    break;
                case ReopenOp:
                    Reopen();
                    break;
                case RotateOp:
                    Store.Rotate();
                    break;
            }
        }

        public void Reopen()
        {
            Store.Dispose();
            Store = KvStore.Open(Path);
        }

        /// <summary>Count, key set and every Get (live or not) of <paramref name="store"/> equal the oracle.</summary>
        public void Check(KvStore store, string when)
        {
            string expected = string.Join(" ", Oracle.Select(p => $"{p.Key}={Hex(p.Value)}"));
            var keys = store.Keys();
            string actualKeys = string.Join(",", keys.Select(k => Hex(k)).Order(StringComparer.Ordinal));
            string expectedKeys = string.Join(",", Oracle.Keys.Select(k => Hex([k])));
            Expect(store.Count == Oracle.Count, $"{when}: Count {store.Count}, expected {Oracle.Count} ({expected})");
            Expect(actualKeys == expectedKeys, $"{when}: keys [{actualKeys}], expected [{expectedKeys}]");
            for (byte k = 0; k < 8; k++)
            {
                var got = store.Get([k]);
                bool live = Oracle.TryGetValue(k, out var want);
                Expect(live == store.ContainsKey([k]), $"{when}: ContainsKey({k}) is {!live}");
                Expect(live ? got is not null && got.AsSpan().SequenceEqual(want) : got is null,
                    $"{when}: Get({k}) = {(got is null ? "null" : Hex(got))}, expected {(live ? Hex(want) : "null")} ({expected})");
            }
        }

        public void Dispose()
        {
            Store.Dispose();
            _dir.Dispose();
        }
    }
}
