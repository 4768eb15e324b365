using NUnit.Framework;
using NUnit.Framework.Internal;
using TestSupport;

namespace DataWal.Core.Tests;

/// <summary>The snapshot helper itself keeps Verify's conventions (docs/design.md D3).</summary>
public class SnapshotHelperTests
{
    /// <summary>Runs a Verify call whose failure must not fail this test; returns the failure message.</summary>
    private static string? Outcome(string text, string fakeSource, string name)
    {
        using (new TestExecutionContext.IsolatedContext())
        {
            try
            {
                Snapshot.Verify(text, fakeSource, name);
                return null;
            }
            catch (AssertionException e)
            {
                return e.Message;
            }
        }
    }

    [Test]
    public void Missing_verified_file_writes_received_and_fails_then_a_match_passes_and_cleans_up()
    {
        using var dir = new TempDir();
        string source = dir["Fake.cs"];
        string received = dir[$"{nameof(SnapshotHelperTests)}.Case.received.txt"];
        string verified = dir[$"{nameof(SnapshotHelperTests)}.Case.verified.txt"];

        var failure = Outcome("line 1\r\nline 2", source, "Case");
        Assert.That(failure, Does.Contain("No verified snapshot").And.Contain(received));
        Assert.That(File.ReadAllText(received), Is.EqualTo("line 1\nline 2\n"), "normalised to \\n with one trailing newline");

        File.Move(received, verified);
        Assert.That(Outcome("line 1\nline 2\n\n", source, "Case"), Is.Null);
        Assert.That(File.Exists(received), Is.False);
    }

    [Test]
    public void Mismatch_writes_received_and_fails_with_a_line_diff()
    {
        using var dir = new TempDir();
        string source = dir["Fake.cs"];
        File.WriteAllText(dir[$"{nameof(SnapshotHelperTests)}.Case.verified.txt"], "alpha\nbeta\ngamma\n");

        var failure = Outcome("alpha\nBETA\ngamma\ndelta", source, "Case");

        Assert.That(failure, Does.Contain("Snapshot mismatch"));
        Assert.That(failure, Does.Contain("- 0002: beta"));
        Assert.That(failure, Does.Match(@"\+ 000[23]: BETA"));
        Assert.That(failure, Does.Contain("+ ").And.Contain(": delta"));
        Assert.That(File.ReadAllText(dir[$"{nameof(SnapshotHelperTests)}.Case.received.txt"]), Is.EqualTo("alpha\nBETA\ngamma\ndelta\n"));
        Assert.That(File.ReadAllText(dir[$"{nameof(SnapshotHelperTests)}.Case.verified.txt"]), Is.EqualTo("alpha\nbeta\ngamma\n"), "the verified file is never touched");
    }

    [Test]
    public void Diff_marks_only_changed_lines_and_elides_far_context()
    {
        var expected = string.Join("\n", Enumerable.Range(1, 20).Select(i => $"l{i}"));
        var actual = expected.Replace("l10", "L10", StringComparison.Ordinal);
        var diff = Snapshot.Diff(expected, actual).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(diff.Count(l => l.StartsWith('-')), Is.EqualTo(1));
        Assert.That(diff.Count(l => l.StartsWith('+')), Is.EqualTo(1));
        Assert.That(diff, Does.Contain("- 0010: l10"));
        Assert.That(diff, Does.Contain("  ..."));
        Assert.That(diff, Has.Length.LessThan(12));
        Assert.That(Snapshot.Diff("same", "same").Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[] { "  ..." }));
    }
}
