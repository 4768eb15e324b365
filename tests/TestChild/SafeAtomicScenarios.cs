using System.Globalization;
using SafeAtomic;

namespace TestChild;

/// <summary>Child-process scenarios for the SafeAtomic tests.</summary>
internal static class SafeAtomicScenarios
{
    /// <summary>Runs the scenario named by <c>args[0]</c>, or returns null when it is not one of these.</summary>
    public static int? Run(string[] args) => args[0] switch
    {
        "write-once" => WriteOnceAt(args[1], args[2], long.Parse(args[3], CultureInfo.InvariantCulture)),
        "rewrite-loop" => RewriteLoop(args[1], int.Parse(args[2], CultureInfo.InvariantCulture)),
        _ => null,
    };

    /// <summary>Spins until the given Unix-millisecond start time, then races WriteOnce; prints won/lost.</summary>
    private static int WriteOnceAt(string path, string content, long startAtUnixMs)
    {
        while (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() < startAtUnixMs)
        {
            Thread.SpinWait(100);
        }

        bool won = AtomicFile.WriteOnce(path, System.Text.Encoding.UTF8.GetBytes(content));
        Console.WriteLine(won ? "won" : "lost");
        return 0;
    }

    /// <summary>
    /// Rewrites <paramref name="path"/> forever with self-describing generations (see
    /// <see cref="Generation"/>), printing "wrote N" after each returns.
    /// </summary>
    private static int RewriteLoop(string path, int size)
    {
        for (long generation = 1; ; generation++)
        {
            AtomicFile.WriteAtomic(path, Generation.Build(generation, size));
            Console.WriteLine($"wrote {generation}");
        }
    }
}
