using System.Buffers.Binary;
using System.Collections.Concurrent;
using NUnit.Framework;
using TestChild;
using TestSupport;

namespace DataWal.Core.Tests;

/// <summary>Thread safety (docs/design.md D8) and crashes of a writer process.</summary>
public class ConcurrencyTests
{
    private const int Writers = 8;
    private const int PerWriter = 500;

    private static byte[] Payload(int writer, int index)
    {
        var payload = new byte[8 + (index % 13)];
        BinaryPrimitives.WriteInt32LittleEndian(payload, writer);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(4), index);
        payload.AsSpan(8).Fill((byte)(writer * 16 + index));
        return payload;
    }

    private static (int Writer, int Index) Parse(Record record)
    {
        var p = record.Payload.Span;
        int writer = BinaryPrimitives.ReadInt32LittleEndian(p);
        int index = BinaryPrimitives.ReadInt32LittleEndian(p[4..]);
        Assert.That(p.ToArray(), Is.EqualTo(Payload(writer, index)), $"payload of {record}");
        Assert.That(record.Key.ToArray(), Is.EqualTo(new[] { (byte)writer }));
        return (writer, index);
    }

    /// <summary>
    /// A scan taken while writers run must be a prefix of the log: txids 1..n with none missing or repeated,
    /// and each writer's records in the order that writer appended them, none skipped.
    /// </summary>
    private static void AssertPrefixConsistent(IReadOnlyList<Record> records)
    {
        var next = new int[Writers];
        for (int i = 0; i < records.Count; i++)
        {
            Assert.That(records[i].TxId, Is.EqualTo((ulong)i + 1), "txids of a snapshot are 1..n");
            var (writer, index) = Parse(records[i]);
            Assert.That(index, Is.EqualTo(next[writer]), $"writer {writer}'s records are in order with no gap");
            next[writer]++;
        }
    }

    [TestCase(DurabilityMode.Manual)]
    [TestCase(DurabilityMode.EveryAppend)]
    [TestCase(DurabilityMode.Grouped)]
    public void Concurrent_appends_fsyncs_rotations_and_scans_lose_nothing_and_see_consistent_prefixes(DurabilityMode durability)
    {
        using var dir = new TempDir();
        var options = new RecordLogOptions { Durability = durability, GroupCommitInterval = TimeSpan.FromMilliseconds(2) };
        var refs = new RecordRef[Writers, PerWriter];
        var errors = new ConcurrentQueue<Exception>();
        var scans = new int[3];
        int writersDone = 0;

        using (var log = RecordLog.Open(dir.Path, options))
        {
            using var start = new Barrier(Writers + 3);
            var threads = new List<Thread>();
            for (int w = 0; w < Writers; w++)
            {
                int writer = w;
                threads.Add(new Thread(() =>
                {
                    try
                    {
                        start.SignalAndWait();
                        for (int i = 0; i < PerWriter; i++)
                        {
                            refs[writer, i] = log.AppendRecord(RecordType.Put, [(byte)writer], Payload(writer, i));
                            if (i % 100 == 99)
                            {
                                log.Fsync();
                            }

                            if (writer == 0 && i % 125 == 124)
                            {
                                log.Rotate();
                            }
                        }
                    }
                    catch (Exception e)
                    {
                        errors.Enqueue(e);
                    }
                    finally
                    {
                        Interlocked.Increment(ref writersDone);
                    }
                }));
            }

            for (int s = 0; s < 3; s++)
            {
                int scanner = s;
                threads.Add(new Thread(() =>
                {
                    try
                    {
                        start.SignalAndWait();
                        bool last;
                        do
                        {
                            last = Volatile.Read(ref writersDone) == Writers;
                            var records = scanner switch
                            {
                                0 => log.ScanIter().ToList(),
                                1 => (IReadOnlyList<Record>)log.Scan(),
                                _ => RecordLogReader.Open(dir.Path).ScanIter().ToList(),
                            };
                            AssertPrefixConsistent(records);
                            if (last)
                            {
                                Assert.That(records, Has.Count.EqualTo(Writers * PerWriter), $"scanner {scanner}'s pass after the writers finished");
                            }

                            scans[scanner]++;
                        }
                        while (!last);
                    }
                    catch (Exception e)
                    {
                        errors.Enqueue(e);
                    }
                }));
            }

            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            Assert.That(errors, Is.Empty, string.Join("\n\n", errors));
            Assert.That(log.IsPoisoned, Is.False);
            Assert.That(log.ActiveSegment, Is.EqualTo(5u));
        }

        using var reopened = RecordLog.Open(dir.Path);
        var all = reopened.Scan();
        Assert.That(all, Has.Count.EqualTo(Writers * PerWriter));
        Assert.That(all.Select(r => r.TxId), Is.EqualTo(Enumerable.Range(1, Writers * PerWriter).Select(i => (ulong)i)));
        AssertPrefixConsistent(all);
        var seen = new HashSet<(int, int)>();
        foreach (var record in all)
        {
            var (writer, index) = Parse(record);
            Assert.That(seen.Add((writer, index)), Is.True, "each append exactly once");
            Assert.That(record.Ref, Is.EqualTo(refs[writer, index]), "the RecordRef returned by the append locates the frame");
        }

        Assert.That(reopened.RecoveryReport, Is.EqualTo(new RecoveryReport { FilesScanned = 5, RecordsReplayed = Writers * PerWriter, LastTxIdSeen = Writers * PerWriter }));
        Assert.That(scans, Is.All.GreaterThanOrEqualTo(1));
        TestContext.Out.WriteLine($"scans during the run: ScanIter {scans[0]}, Scan {scans[1]}, reader {scans[2]}");
    }

    /// <summary>
    /// Under <see cref="DurabilityMode.Grouped"/> with a threshold, appenders that cross it wake the
    /// background flusher. Several crossing it at once must not make an append that was written fail.
    /// </summary>
    [Test]
    public void Grouped_appenders_crossing_the_threshold_together_never_fail()
    {
        using var dir = new TempDir();
        var errors = new ConcurrentQueue<Exception>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int rounds = 0;
        long appended = 0;
        while (errors.IsEmpty && rounds < 200 && clock.Elapsed < TimeSpan.FromSeconds(3))
        {
            rounds++;
            using var log = RecordLog.Open(dir.Path, new RecordLogOptions
            {
                Durability = DurabilityMode.Grouped,
                GroupCommitRecords = 1,
                GroupCommitInterval = TimeSpan.FromHours(1),
            });
            using var barrier = new Barrier(Writers);
            var threads = Enumerable.Range(0, Writers).Select(w => new Thread(() =>
            {
                for (int i = 0; i < 20; i++)
                {
                    barrier.SignalAndWait();
                    try
                    {
                        log.AppendRecord(RecordType.Put, [(byte)w], Payload(w, i));
                        Interlocked.Increment(ref appended);
                    }
                    catch (Exception e)
                    {
                        errors.Enqueue(e);
                    }
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
        }

        Assert.That(errors, Is.Empty, $"round {rounds}: {errors.Count} appends failed although written; first: {errors.FirstOrDefault()}");
        using var reopened = RecordLog.Open(dir.Path);
        Assert.That(reopened.Scan(), Has.Count.EqualTo(appended + errors.Count));
    }

    [Test]
    public void Concurrent_oversize_appends_never_disturb_the_others()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        var tooBig = new byte[65_537];
        Parallel.For(0, 400, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            if (i % 2 == 0)
            {
                log.AppendRecord(RecordType.Put, [(byte)(i % 8)], Payload(i % 8, i));
            }
            else
            {
                Assert.Throws<RecordTooLargeException>(() => log.AppendRecord(RecordType.Put, tooBig, []));
            }
        });

        Assert.That(log.IsPoisoned, Is.False);
        Assert.That(log.Scan().Select(r => r.TxId), Is.EqualTo(Enumerable.Range(1, 200).Select(i => (ulong)i)));
    }

    /// <summary>Upstream crash_append_fsync / crash_rotate (docs/design.md U7.6): SIGKILL a writer mid-stream.</summary>
    [TestCase(true, 0)]
    [TestCase(false, 7)]
    public void Killed_writer_leaves_a_contiguous_prefix_holding_every_acknowledged_append(bool fsync, int rotateEvery)
    {
        using var dir = new TempDir();
        long acknowledged = -1;
        using (var child = ChildProcess.Start("append-loop", dir.Path, fsync ? "1" : "0", rotateEvery.ToString(System.Globalization.CultureInfo.InvariantCulture)))
        {
            Assert.That(child.WaitForLine("OPENED", TimeSpan.FromSeconds(30)), Is.True, child.StandardError);
            while (acknowledged < 200)
            {
                var line = child.ReadLine(TimeSpan.FromSeconds(30));
                Assert.That(line, Is.Not.Null, "child stalled: " + child.StandardError);
                acknowledged = long.Parse(line!["appended ".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }

            child.Kill();
        }

        using var log = RecordLog.Open(dir.Path);
        var records = log.Scan();
        for (int i = 0; i < records.Count; i++)
        {
            Assert.That(Generation.Parse(records[i].Payload.Span), Is.EqualTo(i), "recovered records are whole and contiguous from 0");
            Assert.That(records[i].TxId, Is.EqualTo((ulong)i + 1));
        }

        Assert.That(records.Count, Is.GreaterThan(acknowledged), "every append that returned before the kill survives it");
        log.Append(Generation.Build(records.Count, 64));
        Assert.That(log.Scan(), Has.Count.EqualTo(records.Count + 1));
    }
}
