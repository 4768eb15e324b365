using System.Buffers.Binary;
using SafeAtomic;

namespace TestChild;

/// <summary>
/// Helper process for the test suites: each scenario does real work against the libraries and prints
/// what it has acknowledged, one line at a time, so a parent can race it or kill it with SIGKILL.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: TestChild <scenario> [args]");
            return 64;
        }

        if (args[0] == "--serve")
        {
            // Started ahead of its cycle: pays the runtime start-up while the parent runs and checks the cycle
            // before, then runs the scenario given by the first stdin line (tab-separated arguments). (Warming
            // the JIT up as well was measured slower: it costs more than the overlap saves on 2 cores.)
            Console.WriteLine("ready");
            string? line = Console.In.ReadLine();
            if (line is null)
            {
                return 0;
            }

            args = line.Split('\t');
        }

        Console.Out.Flush();
        // Each library's scenarios live in their own file; the first that knows the name runs it.
        int? code = SafeAtomicScenarios.Run(args) ?? CoreScenarios.Run(args) ?? KvScenarios.Run(args) ?? ReliabilityScenarios.Run(args) ?? FollowScenarios.Run(args) ?? ReadmeScenarios.Run(args);
        return code ?? Unknown(args[0]);
    }

    private static int Unknown(string scenario)
    {
        Console.Error.WriteLine($"unknown scenario {scenario}");
        return 64;
    }
}

/// <summary>
/// Content whose every byte is determined by a generation number and a length, so a reader can tell a
/// whole generation from a torn or mixed one.
/// </summary>
public static class Generation
{
    public static byte[] Build(long generation, int size)
    {
        var bytes = new byte[Math.Max(size, 16)];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, generation);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), bytes.Length);
        for (int i = 12; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(generation * 31 + i * 7);
        }

        return bytes;
    }

    /// <summary>Returns the generation if <paramref name="bytes"/> is exactly one whole generation, else -1.</summary>
    public static long Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 16)
        {
            return -1;
        }

        long generation = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        int length = BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]);
        if (length != bytes.Length)
        {
            return -1;
        }

        // The bytes Build would give, compared in place: the reliability suite parses millions of records.
        for (int i = 12; i < bytes.Length; i++)
        {
            if (bytes[i] != (byte)(generation * 31 + i * 7))
            {
                return -1;
            }
        }

        return generation;
    }
}
