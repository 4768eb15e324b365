using TestChild.Readme;

namespace TestChild;

/// <summary>
/// Runs one of README.md's C# snippets (a verbatim copy under Readme/) in a working directory the parent gives,
/// as a user pasting it into a console app would: <c>readme NAME DIR</c>.
/// </summary>
public static class ReadmeScenarios
{
    private static readonly Dictionary<string, Func<Task>> Snippets = new()
    {
        [nameof(SafeAtomicQuickStart)] = SafeAtomicQuickStart.Run,
        [nameof(CoreQuickStart)] = CoreQuickStart.Run,
        [nameof(FollowingALiveLog)] = FollowingALiveLog.Run,
        [nameof(KvQuickStart)] = KvQuickStart.Run,
        [nameof(RunningForMonths)] = RunningForMonths.Run,
        [nameof(MeterListenerInProcess)] = MeterListenerInProcess.Run,
    };

    public static int? Run(string[] args)
    {
        if (args[0] != "readme")
        {
            return null;
        }

        if (args.Length != 3 || !Snippets.TryGetValue(args[1], out var snippet))
        {
            Console.Error.WriteLine($"usage: readme {string.Join('|', Snippets.Keys)} DIR");
            return 64;
        }

        Directory.SetCurrentDirectory(args[2]);
        try
        {
            snippet().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (args[1] == nameof(FollowingALiveLog) && Harness.stoppingToken.IsCancellationRequested)
        {
            // The follow snippet ends only by cancellation, as documented.
        }

        if (args[1] == nameof(FollowingALiveLog))
        {
            // Each run follows on from the previous run's checkpoint: something new must have been handled.
            Console.WriteLine($"handled {Harness.Handled}");
            if (Harness.Handled == 0)
            {
                return 1;
            }
        }

        Console.WriteLine("ok");
        return 0;
    }
}
