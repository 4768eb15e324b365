using DataWal.Core;

namespace TestChild;

/// <summary>Child-process scenarios for the DataWal.Core tests.</summary>
internal static class CoreScenarios
{
    /// <summary>Runs the scenario named by <c>args[0]</c>, or returns null when it is not one of these.</summary>
    public static int? Run(string[] args) => args[0] switch
    {
        "hold-lock" => HoldLock(args[1]),
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
}
