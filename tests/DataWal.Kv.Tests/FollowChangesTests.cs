using System.Text;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>KvStore.FollowChangesAsync: the log's live feed restricted to puts and deletes.</summary>
public class FollowChangesTests
{
    private static readonly FollowOptions NoPolling = new() { PollInterval = TimeSpan.FromHours(1), WatchFileSystem = false };

    private static string Describe(Record r) =>
        $"{r.Type} {Encoding.UTF8.GetString(r.Key.Span)}={Encoding.UTF8.GetString(r.Payload.Span)}";

    [Test]
    public async Task Feed_yields_existing_then_live_puts_and_deletes_and_skips_raw_records()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            log.AppendRecord(RecordType.Put, B("a"), B("1"));
            log.Append(B("raw, not a change"));
        }

        using var store = KvStore.Open(dir.Path);
        store.Delete(B("a"));

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var seen = new List<string>();
        var follow = Task.Run(async () =>
        {
            await foreach (var change in store.FollowChangesAsync(FollowPosition.Start, NoPolling, cts.Token))
            {
                seen.Add(Describe(change));
                if (seen.Count == 4)
                {
                    return;
                }
            }
        });

        await Task.Delay(100);
        await store.PutAsync(B("b"), B("2"));
        store.Rotate();
        store.Put(B("c"), B("3"));
        await follow.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(seen, Is.EqualTo(new[] { "Put a=1", "Delete a=", "Put b=2", "Put c=3" }));
    }

    [Test]
    public async Task Feed_resumes_after_a_stored_ref_and_ends_on_cancellation()
    {
        using var dir = new TempDir();
        using var store = KvStore.Open(dir.Path);
        store.Put(B("a"), B("1"));
        store.Put(B("b"), B("2"));
        var checkpoint = store.RefOf(B("a"))!.Value;

        using var cts = new CancellationTokenSource();
        var seen = new List<string>();
        var follow = Task.Run(async () =>
        {
            await foreach (var change in store.FollowChangesAsync(FollowPosition.After(checkpoint), NoPolling).WithCancellation(cts.Token))
            {
                lock (seen)
                {
                    seen.Add(Describe(change));
                }
            }
        });

        store.Put(B("c"), B("3"));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            lock (seen)
            {
                if (seen.Count == 2)
                {
                    break;
                }
            }

            await Task.Delay(10);
        }

        cts.Cancel();
        Assert.That(async () => await follow, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(seen, Is.EqualTo(new[] { "Put b=2", "Put c=3" }));
    }

    [Test]
    public void Feed_rejects_bad_options_at_once()
    {
        using var dir = new TempDir();
        using var store = KvStore.Open(dir.Path);
        Assert.Throws<ArgumentOutOfRangeException>(() => store.FollowChangesAsync(FollowPosition.Start, new FollowOptions { PollInterval = TimeSpan.Zero }));
    }
}
