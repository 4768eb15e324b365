using NUnit.Framework;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

public class FollowSmokeTests
{
    [Test]
    public async Task Follow_from_start_crosses_rotation_and_wakes_on_append()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("a"));
        log.Rotate();
        log.Append(B("b"));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var seen = new List<string>();
        var reader = RecordLogReader.Open(dir.Path);
        var follow = Task.Run(async () =>
        {
            await foreach (var r in reader.FollowAsync(FollowPosition.Start, new FollowOptions { PollInterval = TimeSpan.FromHours(1) }, cts.Token))
            {
                lock (seen) { seen.Add(S(r.Payload)); }
                if (seen.Count == 4) break;
            }
        });
        await Task.Delay(200);
        log.Append(B("c"));
        log.Rotate();
        log.Append(B("d"));
        await follow.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(seen, Is.EqualTo(new[] { "a", "b", "c", "d" }));
    }
}
