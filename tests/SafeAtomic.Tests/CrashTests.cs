using System.Globalization;
using NUnit.Framework;
using SafeAtomic.Internal;
using TestChild;
using TestSupport;

namespace SafeAtomic.Tests;

/// <summary>
/// kill -9 in the middle of a rewrite loop: afterwards the target is always exactly one whole generation,
/// the last acknowledged one or the one after it, and anything else in the directory is a temp file.
/// </summary>
[Platform(Exclude = "Win")]
public class CrashTests
{
    private static readonly int[] Sizes = [100, 4096, 70_000, 1 << 20];

    private static int Cycles =>
        int.TryParse(Environment.GetEnvironmentVariable("SAFEATOMIC_CRASH_CYCLES"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0
            ? n
            : 40;

    [Test]
    public void Sigkill_during_rewrites_leaves_exactly_one_whole_acknowledged_generation()
    {
        using var root = new TempDir("crash");
        var log = new List<string>();
        int cycles = Cycles;
        for (int cycle = 0; cycle < cycles; cycle++)
        {
            int size = Sizes[cycle % Sizes.Length];
            int delayMs = cycle * 13 % 51;   // 0..50 ms, spread over the cycles
            var dir = Path.Combine(root.Path, "c" + cycle.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(dir);
            var target = Path.Combine(dir, "data.bin");

            long acknowledged;
            using (var child = ChildProcess.Start("rewrite-loop", target, size.ToString(CultureInfo.InvariantCulture)))
            {
                var first = child.ReadLine(TimeSpan.FromSeconds(60));
                Assert.That(first, Does.StartWith("wrote "), "child did not start writing: " + child.StandardError);
                if (delayMs > 0)
                {
                    Thread.Sleep(delayMs);   // lets the loop run on; the kill lands at a varied point of a write
                }

                child.Kill();
                acknowledged = new[] { first! }.Concat(child.DrainLines())
                    .Where(l => l.StartsWith("wrote ", StringComparison.Ordinal))
                    .Max(l => long.Parse(l["wrote ".Length..], CultureInfo.InvariantCulture));
            }

            var bytes = File.ReadAllBytes(target);
            long generation = Generation.Parse(bytes);
            var others = Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Where(n => n != "data.bin").ToList();
            log.Add($"cycle {cycle}: size {size}, delay {delayMs} ms, acknowledged {acknowledged}, on disk {generation}, leftovers {others.Count}");

            Assert.That(generation, Is.GreaterThan(0), $"cycle {cycle}: target is not one whole generation ({bytes.Length} bytes)");
            Assert.That(bytes, Has.Length.EqualTo(Math.Max(size, 16)));
            // The write after the last acknowledged one may have been renamed in just before the kill.
            Assert.That(generation, Is.InRange(acknowledged, acknowledged + 1), $"cycle {cycle}");

            Assert.That(others, Has.Count.LessThanOrEqualTo(1), $"cycle {cycle}: one write at a time, so at most one temp");
            Assert.That(others, Has.All.StartsWith(".data.bin."), $"cycle {cycle}");
            Assert.That(others.All(n => TempName.IsTempName(n!)), Is.True, $"cycle {cycle}: leftover is not temp-shaped: {string.Join(", ", others)}");
            Assert.That(AtomicFile.FindTempFiles(dir).Select(Path.GetFileName), Is.EquivalentTo(others));
            Assert.That(TempName.IsTempName("data.bin"), Is.False);
        }

        TestContext.Out.WriteLine(string.Join(Environment.NewLine, log));
    }
}
