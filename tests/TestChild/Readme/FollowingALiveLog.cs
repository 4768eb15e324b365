using DataWal.Core;
using static TestChild.Readme.Harness;

namespace TestChild.Readme;

/// <summary>README.md's snippet, verbatim between the markers (ReadmeSnippetTests compares the two and runs this).</summary>
internal static class FollowingALiveLog
{
    public static async Task Run()
    {
        // README BEGIN
        var reader = RecordLogReader.Open("./events");
        var checkpoint = LoadCheckpoint();                      // a RecordRef you stored, or null
        var from = checkpoint is { } last ? FollowPosition.After(last) : FollowPosition.Start;
        await foreach (var record in reader.FollowAsync(from, new FollowOptions { DurableOnly = true }, stoppingToken))
        {
            Handle(record.Payload);
            SaveCheckpoint(record.Ref);                         // resume exactly after it next time
        }
        // README END
        await Task.CompletedTask;
    }
}
