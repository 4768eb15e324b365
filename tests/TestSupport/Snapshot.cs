using System.Runtime.CompilerServices;
using System.Text;
using NUnit.Framework;

namespace TestSupport;

/// <summary>
/// The smallest snapshot helper that keeps Verify's conventions (docs/design.md D3), so that switching to
/// Verify.NUnit later is a rename: the expected text lives in <c>&lt;TestClass&gt;.&lt;Method&gt;.verified.txt</c>
/// committed next to the test's source file; on a mismatch the actual text is written to
/// <c>&lt;TestClass&gt;.&lt;Method&gt;.received.txt</c> beside it and the test fails with a line diff. When the
/// verified file is missing, the received file is written and the test fails, so that a human reviews
/// it and renames it to <c>.verified.txt</c>. A matching run deletes a stale received file.
/// </summary>
/// <remarks>
/// Line endings are normalised to <c>\n</c> and the text is stored with exactly one trailing newline.
/// One snapshot per test method (parameterised tests would share a file name).
/// </remarks>
public static class Snapshot
{
    /// <summary>Compares <paramref name="text"/> with the verified snapshot of the calling test.</summary>
    /// <param name="text">The actual text.</param>
    /// <param name="file">Filled in by the compiler: the calling source file.</param>
    /// <param name="name">Filled in by the compiler: the calling member (the test method).</param>
    public static void Verify(string text, [CallerFilePath] string file = "", [CallerMemberName] string name = "")
    {
        string directory = SourceDirectory(file);
        string baseName = Path.Combine(directory, ClassName(file) + "." + name);
        string verifiedPath = baseName + ".verified.txt";
        string receivedPath = baseName + ".received.txt";
        string received = Normalise(text);

        if (!File.Exists(verifiedPath))
        {
            File.WriteAllText(receivedPath, received, new UTF8Encoding(false));
            Assert.Fail($"No verified snapshot {verifiedPath}. Wrote {receivedPath}: review it and rename it to .verified.txt.\n{received}");
            return;
        }

        string verified = Normalise(File.ReadAllText(verifiedPath, Encoding.UTF8));
        if (verified == received)
        {
            if (File.Exists(receivedPath))
            {
                File.Delete(receivedPath);
            }

            return;
        }

        File.WriteAllText(receivedPath, received, new UTF8Encoding(false));
        Assert.Fail($"Snapshot mismatch: {verifiedPath}\nReceived text written to {receivedPath}.\n" +
                    "Diff (- verified, + received):\n" + Diff(verified, received));
    }

    /// <summary>A readable line diff (longest common subsequence), with line numbers of the verified file.</summary>
    /// <param name="expected">The verified text.</param>
    /// <param name="actual">The received text.</param>
    /// <returns>Lines prefixed by <c>- </c>, <c>+ </c> or <c>  </c>; unchanged runs far from a change are elided.</returns>
    public static string Diff(string expected, string actual)
    {
        string[] a = expected.Split('\n');
        string[] b = actual.Split('\n');
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (int i = a.Length - 1; i >= 0; i--)
        {
            for (int j = b.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var lines = new List<(char Tag, int Line, string Text)>();
        int x = 0;
        int y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                lines.Add((' ', x + 1, a[x]));
                x++;
                y++;
            }
            else if (y < b.Length && (x == a.Length || lcs[x, y + 1] > lcs[x + 1, y]))
            {
                lines.Add(('+', x + 1, b[y]));
                y++;
            }
            else
            {
                lines.Add(('-', x + 1, a[x]));
                x++;
            }
        }

        const int context = 2;
        var output = new StringBuilder();
        bool elided = false;
        for (int k = 0; k < lines.Count; k++)
        {
            bool near = false;
            for (int d = Math.Max(0, k - context); d <= Math.Min(lines.Count - 1, k + context); d++)
            {
                near |= lines[d].Tag != ' ';
            }

            if (!near)
            {
                if (!elided)
                {
                    output.Append("  ...\n");
                    elided = true;
                }

                continue;
            }

            elided = false;
            output.Append(lines[k].Tag).Append(' ').Append(lines[k].Line.ToString("D4", System.Globalization.CultureInfo.InvariantCulture))
                  .Append(": ").Append(lines[k].Text).Append('\n');
        }

        return output.ToString();
    }

    private static string Normalise(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n') + "\n";

    private static string ClassName(string file)
    {
        string? full = TestContext.CurrentContext?.Test?.ClassName;
        if (!string.IsNullOrEmpty(full))
        {
            string simple = full[(full.LastIndexOf('.') + 1)..];
            return simple[(simple.LastIndexOf('+') + 1)..];
        }

        return Path.GetFileNameWithoutExtension(file);
    }

    /// <summary>
    /// The directory of the test source file. A deterministic CI build maps source paths to <c>/_/…</c>;
    /// then the repository is found by walking up from the test assembly's directory.
    /// </summary>
    private static string SourceDirectory(string file)
    {
        string? directory = Path.GetDirectoryName(file);
        if (directory is not null && Directory.Exists(directory))
        {
            return directory;
        }

        string relative = file.Replace('\\', '/');
        foreach (var prefix in new[] { "/_/", "/_1/", "/_2/" })
        {
            if (relative.StartsWith(prefix, StringComparison.Ordinal))
            {
                relative = relative[prefix.Length..];
                break;
            }
        }

        for (var candidate = new DirectoryInfo(AppContext.BaseDirectory); candidate is not null; candidate = candidate.Parent)
        {
            string mapped = Path.Combine(candidate.FullName, relative);
            if (File.Exists(mapped))
            {
                return Path.GetDirectoryName(mapped)!;
            }
        }

        throw new DirectoryNotFoundException($"cannot find the source directory of {file} (needed for its snapshots)");
    }
}
