using System.Globalization;
using System.Text;
using DataWal.Core;
using NUnit.Framework;
using TestChild;
using TestSupport;

namespace DataWal.Reliability.Tests;

/// <summary>Shared helpers of the reliability suite: kill schedule, cycle counts, log checks, KV models.</summary>
internal static class Reliability
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The multiplier of the default cycle counts (env <c>DATAWAL_CRASH_CYCLES</c>, default 1).</summary>
    public static int Multiplier =>
        int.TryParse(Environment.GetEnvironmentVariable("DATAWAL_CRASH_CYCLES"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0
            ? n
            : 1;

    /// <summary>Cycles for a scenario whose default share is <paramref name="defaultCycles"/>.</summary>
    public static int Cycles(int defaultCycles) => defaultCycles * Multiplier;

    /// <summary>
    /// The kill delay of a cycle: null = at start (every 10th: 0..3 ms after the scenario was handed over),
    /// else 0..60 ms after the first ack.
    /// </summary>
    public static int? DelayFor(int cycle) => cycle % 10 == 0 ? null : cycle * 7 % 61;

    private static ChildProcess? _spare;

    /// <summary>
    /// Hands <paramref name="args"/> to a TestChild started ahead of time, starts the spare for the next
    /// cycle, and SIGKILLs the child per <see cref="DelayFor"/>; returns every line it printed before dying
    /// (the acknowledgements). The runtime's start-up, a large part of a cycle's cost, so overlaps the run
    /// and the checks of the cycle before.
    /// </summary>
    public static List<string> RunAndKill(int cycle, params string[] args)
    {
        using var child = _spare ?? ChildProcess.StartWithInput("--serve");
        _spare = null;
        var ready = child.ReadLine(StartTimeout);
        Assert.That(ready, Is.EqualTo("ready"), $"cycle {cycle}: the child did not get ready; stderr: {child.StandardError}");
        child.SendLine(string.Join('\t', args));
        _spare = ChildProcess.StartWithInput("--serve");
        var lines = new List<string>();
        int? delay = DelayFor(cycle);
        if (delay is null)
        {
            Thread.Sleep(cycle / 10 % 4);
        }
        else if (delay is int ms)
        {
            var first = child.ReadLine(StartTimeout);
            Assert.That(first, Is.Not.Null, $"cycle {cycle}: child printed nothing; stderr: {child.StandardError}");
            lines.Add(first!);
            if (ms > 0)
            {
                Thread.Sleep(ms);
            }
        }

        child.Kill();
        lines.AddRange(child.DrainLines());
        Assert.That(lines.Where(l => l.StartsWith("error", StringComparison.Ordinal)), Is.Empty, $"cycle {cycle}");
        Assert.That(child.StandardError, Does.Not.Contain("Unhandled"), $"cycle {cycle}: the child failed on its own");
        return lines;
    }

    /// <summary>Kills the spare child of <see cref="RunAndKill"/> (call when a fixture's cycles are over).</summary>
    public static void StopSpare()
    {
        _spare?.Dispose();
        _spare = null;
    }

    /// <summary>The largest number printed as <c>prefix N</c>, or -1.</summary>
    public static long MaxAck(IEnumerable<string> lines, string prefix) =>
        lines.Where(l => l.StartsWith(prefix + " ", StringComparison.Ordinal))
            .Select(l => long.Parse(l[(prefix.Length + 1)..], CultureInfo.InvariantCulture))
            .DefaultIfEmpty(-1)
            .Max();

    /// <summary>
    /// Every record in <paramref name="directory"/>, scanned to the end by a reader, with its report. A child
    /// killed before it created the directory leaves none: that reads as an empty log.
    /// </summary>
    public static (List<Record> Records, RecoveryReport Report) ReadAll(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return ([], new RecoveryReport());
        }

        var iterator = RecordLogReader.Open(directory).ScanIter();
        var records = iterator.ToList();
        return (records, iterator.RecoveryReport);
    }

    /// <summary>Asserts the records are <see cref="ReliabilityData.Record"/> 0..n-1 with txids 1..n.</summary>
    public static void AssertContiguousPrefix(IReadOnlyList<Record> records, string context)
    {
        uint lastSegment = 0;
        for (int j = 0; j < records.Count; j++)
        {
            var r = records[j];
            if (r.TxId != (ulong)j + 1 || r.Type != RecordType.Raw || r.Key.Length != 0 ||
                Generation.Parse(r.Payload.Span) != j || r.Payload.Length != ReliabilityData.RecordSize(j) || r.Segment < lastSegment)
            {
                Assert.Fail($"{context}: record {j} is not record {j} ({r})");
            }

            lastSegment = r.Segment;
        }
    }

    /// <summary>The KV state after operations 0..count-1 of <see cref="ReliabilityData.KvOp"/>.</summary>
    public static SortedDictionary<string, string> KvModel(long count)
    {
        var model = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (long seq = 0; seq < count; seq++)
        {
            var (isPut, key, value) = ReliabilityData.KvOp(seq);
            if (isPut)
            {
                model[Encoding.ASCII.GetString(key)] = Encoding.ASCII.GetString(value);
            }
            else
            {
                model.Remove(Encoding.ASCII.GetString(key));
            }
        }

        return model;
    }

    /// <summary>The live items of a store as strings, in key order.</summary>
    public static SortedDictionary<string, string> Items(DataWal.Kv.KvStore store)
    {
        var items = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in store.Items())
        {
            items[Encoding.Latin1.GetString(kv.Key)] = Encoding.Latin1.GetString(kv.Value);
        }

        return items;
    }

    /// <summary>Writes one figures line to the test output (collected for docs/reliability.md).</summary>
    public static void Figures(string line) => TestContext.Out.WriteLine("FIGURES " + line);
}
