using System.Globalization;
using DataWal.Core;

namespace TestChild;

/// <summary>Child-process scenarios for the DataWal.Core tests.</summary>
internal static class CoreScenarios
{
    /// <summary>Size of the payloads <c>append-loop</c> writes.</summary>
    public const int PayloadSize = 64;

    /// <summary>Runs the scenario named by <c>args[0]</c>, or returns null when it is not one of these.</summary>
    public static int? Run(string[] args) => args[0] switch
    {
        "hold-lock" => HoldLock(args[1]),
        "append-loop" => AppendLoop(
            args[1],
            args[2] == "1",
            int.Parse(args[3], CultureInfo.InvariantCulture),
            args.Length > 4 ? long.Parse(args[4], CultureInfo.InvariantCulture) : long.MaxValue),
        _ => null,
    };

    /// <summary>Opens the log as writer, prints LOCK_HELD, then waits until killed.</summary>
    private static int HoldLock(string directory)
    {
        using var log = RecordLog.Open(directory);
        Console.WriteLine("LOCK_HELD");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    /// <summary>
    /// Opens the log as writer and appends <see cref="Generation"/> payloads numbered 0, 1, 2, … (fsyncing
    /// each one when asked, rotating every <paramref name="rotateEvery"/> appends when non-zero), printing
    /// <c>appended N</c> once append N (and its fsync) returned. After <paramref name="count"/> appends it
    /// prints <c>DONE</c> and waits to be killed.
    /// </summary>
    private static int AppendLoop(string directory, bool fsync, int rotateEvery, long count)
    {
        using var log = RecordLog.Open(directory);
        Console.WriteLine("OPENED");
        for (long i = 0; i < count; i++)
        {
            log.Append(Generation.Build(i, PayloadSize));
            if (fsync)
            {
                log.Fsync();
            }

            Console.WriteLine($"appended {i}");
            if (rotateEvery > 0 && (i + 1) % rotateEvery == 0)
            {
                log.Rotate();
            }
        }

        Console.WriteLine("DONE");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }
}
