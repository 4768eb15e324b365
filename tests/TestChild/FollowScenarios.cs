using System.Globalization;
using DataWal.Core;

namespace TestChild;

/// <summary>Child-process writers for the live-follow tests (tests/DataWal.Core.Tests/FollowTests.cs).</summary>
internal static class FollowScenarios
{
    /// <summary>Size of the payloads <c>follow-writer</c> writes.</summary>
    public const int PayloadSize = 64;

    /// <summary>Runs the scenario named by <c>args[0]</c>, or returns null when it is not one of these.</summary>
    public static int? Run(string[] args) => args[0] switch
    {
        "follow-writer" => Writer(args[1], Int(args[2]), Int(args[3]), Int(args[4])),
        _ => null,
    };

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    /// <summary>
    /// Opens the log as writer (recovering it, cutting a torn tail) and resumes numbering at the number of
    /// records already there (txid - 1): appends <see cref="Generation"/> payloads N, N+1, … without fsync,
    /// printing <c>OPENED N</c> first and <c>appended i</c> once Append(i) returned. After record i it rotates
    /// when (i + 1) is a multiple of <paramref name="rotateEvery"/> (twice — leaving an empty segment — when it
    /// is a multiple of 3 × <paramref name="rotateEvery"/>). Sleeps 1 ms after every <paramref name="pauseEvery"/>
    /// appends (0 = never), so a parent can kill it mid-stream. After <paramref name="count"/> appends
    /// (0 = without end) it prints <c>DONE</c> and idles until killed.
    /// </summary>
    private static int Writer(string directory, int rotateEvery, int count, int pauseEvery)
    {
        using var log = RecordLog.Open(directory);
        long start = (long)(log.NextTxId - 1);
        Console.WriteLine($"OPENED {start}");
        long end = count > 0 ? start + count : long.MaxValue;
        for (long i = start; i < end; i++)
        {
            log.Append(Generation.Build(i, PayloadSize));
            Console.WriteLine($"appended {i}");
            if (rotateEvery > 0 && (i + 1) % rotateEvery == 0)
            {
                log.Rotate();
                if ((i + 1) % (3L * rotateEvery) == 0)
                {
                    log.Rotate();
                }
            }

            if (pauseEvery > 0 && (i + 1) % pauseEvery == 0)
            {
                Thread.Sleep(1);
            }
        }

        Console.WriteLine("DONE");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }
}
