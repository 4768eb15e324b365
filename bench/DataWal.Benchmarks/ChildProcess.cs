using System.Diagnostics;
using System.Globalization;

namespace DataWal.Benchmarks;

/// <summary>
/// The fresh child processes of the measure, compaction and fresh modes: this program re-launched with an internal
/// mode, the same runtime configuration (the same apphost, or <c>dotnet</c> with this assembly) and the parent's
/// environment; the child reports <c>name=value</c> lines on standard output (its standard error goes to the console).
/// </summary>
internal static class ChildProcess
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Runs <c>this-program MODE ARGS...</c> to completion and parses its <c>name=value</c> lines.</summary>
    public static Dictionary<string, string> Run(string mode, params string[] args)
    {
        string processPath = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var info = new ProcessStartInfo(processPath)
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(processPath).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            info.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        }

        info.ArgumentList.Add(mode);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var child = Process.Start(info) ?? throw new InvalidOperationException("could not start the child process");
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        if (child.ExitCode != 0)
        {
            throw new InvalidOperationException($"{mode} {string.Join(' ', args)} exited {child.ExitCode}: {output}");
        }

        return ParseValues(output);
    }

    /// <summary>A child's <c>name=value</c> lines, as a dictionary (other lines ignored).</summary>
    public static Dictionary<string, string> ParseValues(string output)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                values[line[..eq]] = line[(eq + 1)..];
            }
        }

        return values;
    }

    /// <summary>Writes one <c>name=value</c> line (invariant culture) for the parent.</summary>
    public static void Emit(string name, object value) => Console.WriteLine(string.Create(Inv, $"{name}={value}"));
}
