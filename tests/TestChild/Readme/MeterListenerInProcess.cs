using System.Diagnostics.Metrics;
using static TestChild.Readme.Harness;

namespace TestChild.Readme;

/// <summary>README.md's snippet, verbatim between the markers (ReadmeSnippetTests compares the two and runs this).</summary>
internal static class MeterListenerInProcess
{
    public static async Task Run()
    {
        // README BEGIN
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Meter.Name.StartsWith("DataWal.", StringComparison.Ordinal)) l.EnableMeasurementEvents(i); };
        listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Console.WriteLine($"{i.Name} += {value}"));
        listener.Start();
        // README END
        await Task.CompletedTask;
    }
}
