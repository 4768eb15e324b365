// Salvage throughput on a generated store with damage in the middle (docs/design.md D16). Explicit: run with
//   DATAWAL_SALVAGE_MB=200 dotnet test tests/DataWal.Core.Tests -c Release --filter "FullyQualifiedName~SalvageThroughputTests"
using System.Buffers.Binary;
using System.Diagnostics;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Core.Tests;

[Explicit("a benchmark: writes a few hundred MB")]
public class SalvageThroughputTests
{
    [Test]
    public void Salvage_throughput_with_damage_in_the_middle()
    {
        int megabytes = int.TryParse(Environment.GetEnvironmentVariable("DATAWAL_SALVAGE_MB"), out int mb) ? mb : 200;
        using var dir = new TempDir("salvage-throughput");
        using var outDir = new TempDir("salvage-throughput-out");
        var payload = new byte[1000];
        new Random(1).NextBytes(payload);
        long target = megabytes * 1024L * 1024;
        using (var log = RecordLog.Open(dir.Path))
        using (var batch = new RecordBatch(1 << 20))
        {
            long written = 0;
            ulong n = 0;
            while (written < target)
            {
                batch.Add(RecordType.Put, BitConverter.GetBytes(n++), payload);
                written += 1036;
                if (batch.Length >= 1 << 20)
                {
                    log.AppendBatch(batch);
                    batch.Clear();
                }
            }

            log.AppendBatch(batch);
            log.Fsync();
        }

        long total = SegmentFiles.List(dir.Path).Sum(id => new FileInfo(SegmentFiles.PathFor(dir.Path, id)).Length);
        var first = RecordLogReader.Open(dir.Path).ScanIter().First(r => r.Offset > 50_000_000);
        Measure("strict scan, intact", dir.Path, ReadMode.Strict, total);
        Measure("salvage scan, intact", dir.Path, ReadMode.Salvage, total);

        // A length field in the middle of sealed segment 1 now claims 64 MiB: the worst case for resync.
        var bytes = File.ReadAllBytes(SegmentFiles.PathFor(dir.Path, 1));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)first.Offset + 20), WireFormat.MaxPayloadLength);
        bytes[(int)first.Offset + 30_000_000] ^= 0x40;   // and a flipped byte 30 MB later
        File.WriteAllBytes(SegmentFiles.PathFor(dir.Path, 1), bytes);
        var report = Measure("salvage scan, 2 damaged frames", dir.Path, ReadMode.Salvage, total);
        TestContext.Out.WriteLine($"  skipped: {string.Join("; ", report.SkippedRanges)}");

        var clock = Stopwatch.StartNew();
        var result = RecordLogReader.Open(dir.Path).SalvageTo(Path.Combine(outDir.Path, "out"));
        clock.Stop();
        TestContext.Out.WriteLine($"SalvageTo: {total / 1e6:F0} MB in {clock.Elapsed.TotalSeconds:F2} s = {total / 1e6 / clock.Elapsed.TotalSeconds:F0} MB/s, {result.RecordsWritten} records, {result.SegmentsWritten} segments");
        Assert.That(result.Report.SkippedRanges, Has.Count.EqualTo(2));
    }

    private static RecoveryReport Measure(string name, string dir, ReadMode mode, long total)
    {
        var clock = Stopwatch.StartNew();
        var it = RecordLogReader.Open(dir, mode).ScanIter();
        long records = 0;
        foreach (var r in it)
        {
            records++;
        }

        clock.Stop();
        TestContext.Out.WriteLine($"{name}: {total / 1e6:F0} MB in {clock.Elapsed.TotalSeconds:F2} s = {total / 1e6 / clock.Elapsed.TotalSeconds:F0} MB/s, {records} records");
        return it.RecoveryReport;
    }
}
