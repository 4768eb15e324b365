using System.Text.RegularExpressions;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Kv.Tests;

/// <summary>
/// README.md's C# snippets are kept as compiled copies in tests/TestChild/Readme (one file each, the snippet
/// between <c>// README BEGIN</c> and <c>// README END</c>, its using directives at the top of the file). These
/// tests keep the copies equal to the README and run each one, in README order, twice in the same working
/// directory, as a user would paste them into one app and run it again.
/// </summary>
public sealed partial class ReadmeSnippetTests
{
    // README order; each name is the copy's file and class name.
    private static readonly string[] Names =
    [
        "SafeAtomicQuickStart", "CoreQuickStart", "FollowingALiveLog", "KvQuickStart", "RunningForMonths", "MeterListenerInProcess",
    ];

    [Test]
    public void Every_csharp_block_of_the_README_has_an_identical_compiled_copy()
    {
        string root = RepositoryRoot();
        var blocks = CSharpBlock().Matches(File.ReadAllText(Path.Combine(root, "README.md"))).Select(m => m.Groups[1].Value).ToList();
        Assert.That(blocks, Has.Count.EqualTo(Names.Length), "a C# block was added to or removed from README.md: add or remove its copy under tests/TestChild/Readme and in Names");

        for (int i = 0; i < Names.Length; i++)
        {
            var (usings, body) = SplitSnippet(blocks[i]);
            string copy = File.ReadAllText(Path.Combine(root, "tests", "TestChild", "Readme", Names[i] + ".cs"));
            var copyUsings = copy.Split('\n').TakeWhile(l => l.StartsWith("using ", StringComparison.Ordinal)).ToList();
            Assert.That(copyUsings, Is.SupersetOf(usings), $"{Names[i]}: the README's using directives must open the copy");

            int begin = copy.IndexOf("// README BEGIN\n", StringComparison.Ordinal);
            int end = copy.IndexOf("// README END", StringComparison.Ordinal);
            Assert.That(begin, Is.GreaterThan(0).And.LessThan(end), $"{Names[i]}: markers");
            string copied = Dedent(copy[(begin + "// README BEGIN\n".Length)..copy.LastIndexOf('\n', end)]);
            Assert.That(copied, Is.EqualTo(body), $"README.md block {i + 1} differs from tests/TestChild/Readme/{Names[i]}.cs");
        }
    }

    [Test]
    public void Every_README_snippet_runs_twice_in_the_same_directory()
    {
        using var dir = new TempDir("readme");
        for (int run = 1; run <= 2; run++)
        {
            foreach (string name in Names)
            {
                using var child = ChildProcess.Start("readme", name, dir.Path);
                int code = child.WaitForExit(TimeSpan.FromSeconds(60));
                var lines = child.DrainLines();
                Assert.That(code, Is.Zero, $"run {run}, {name}: exit {code}\n{string.Join('\n', lines)}\n{child.StandardError}");
                Assert.That(lines, Does.Contain("ok"), $"run {run}, {name}");
            }
        }

        // What the snippets promise to leave behind.
        Assert.That(File.Exists(dir["published/report.pdf"]), Is.True);
        Assert.That(File.Exists(dir["staging/report.pdf"]), Is.False);
        Assert.That(File.ReadAllText(dir["settings.json"]), Is.EqualTo("""{"theme":"dark"}"""));
        Assert.That(File.ReadAllLines(dir["state.jsonl"]), Has.Length.EqualTo(2));
        using var compacted = KvStore.OpenReadOnly(dir["state.compact"]);
        Assert.That(compacted.GetString("greeting"), Is.EqualTo("héllo"));
    }

    private static (List<string> Usings, string Body) SplitSnippet(string block)
    {
        var lines = block.TrimEnd('\n').Split('\n');
        var usings = new List<string>();
        int i = 0;
        while (i < lines.Length && (UsingDirective().IsMatch(lines[i]) || (lines[i].Length == 0 && usings.Count > 0)))
        {
            if (lines[i].Length > 0)
            {
                usings.Add(lines[i]);
            }

            i++;
        }

        return (usings, string.Join('\n', lines[i..]));
    }

    // The copy sits inside a method: dotnet format indents it by two levels, the README does not.
    private static string Dedent(string text) =>
        string.Join('\n', text.Split('\n').Select(l => l.StartsWith("        ", StringComparison.Ordinal) ? l[8..] : l.TrimStart(' ')));

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "DataWal.sln")) && File.Exists(Path.Combine(dir.FullName, "README.md")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("no DataWal.sln above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"^using [A-Za-z0-9_.]+;$")]
    private static partial Regex UsingDirective();
}
