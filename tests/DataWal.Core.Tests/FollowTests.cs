using System.Globalization;
using System.Threading.Channels;
using NUnit.Framework;
using SafeAtomic;
using TestChild;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// Live tailing (<see cref="RecordLogReader.FollowAsync"/>): positions, wake-ups (in-process writer, file-change
/// notification, polling), rotations, torn tails completed or cut (docs/design.md D5, D6, D13), writer crashes in other
/// processes, cancellation, durable-only mode and the errors.
/// </summary>
public class FollowTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>Only an in-process writer can wake it: no polling to speak of, no file-system watcher.</summary>
    private static readonly FollowOptions InProcess = new() { PollInterval = TimeSpan.FromHours(1), WatchFileSystem = false };

    /// <summary>Polling only, often (for changes made to the files directly, without a writer).</summary>
    private static readonly FollowOptions FastPoll = new() { PollInterval = TimeSpan.FromMilliseconds(20), WatchFileSystem = false };

    /// <summary>File-change notification only (no polling to speak of).</summary>
    private static readonly FollowOptions WatchOnly = new() { PollInterval = TimeSpan.FromHours(1), WatchFileSystem = true };

    // ---------------------------------------------------------------- 1. positions

    [Test]
    public async Task Start_yields_every_record_across_segments_then_live_appends()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("a"));
        log.Rotate();
        log.AppendRecord(RecordType.Put, B("k"), B("b"));
        log.Rotate();   // an empty active segment

        await using var follow = new Follow(dir.Path, FollowPosition.Start, InProcess);
        Assert.That(Payloads(await follow.TakeAsync(2)), Is.EqualTo(new[] { "a", "b" }));
        follow.AssertNothingYet();

        log.Append(B("c"));
        log.Rotate();
        log.AppendRecord(RecordType.Delete, B("k"), []);
        var live = await follow.TakeAsync(2);
        Assert.That(Payloads(live), Is.EqualTo(new[] { "c", "" }));
        Assert.That(Recs(follow.All), Is.EqualTo(ReadAll(dir.Path)), "type, txid, key, payload and location of every record");
    }

    [Test]
    public async Task Now_skips_existing_records_and_yields_only_later_appends()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("old1"));
        log.Rotate();
        log.Append(B("old2"));

        await using var follow = new Follow(dir.Path, FollowPosition.Now, InProcess);
        follow.AssertNothingYet();
        var c = log.Append(B("new1"));
        log.Rotate();
        log.Append(B("new2"));
        var got = await follow.TakeAsync(2);
        Assert.That(Payloads(got), Is.EqualTo(new[] { "new1", "new2" }));
        Assert.That(got[0].Ref, Is.EqualTo(c));
        Assert.That(got.Select(r => r.TxId), Is.EqualTo(new ulong[] { 3, 4 }));
    }

    [Test]
    public async Task Now_without_a_writer_in_process_starts_at_the_last_valid_frame_so_a_frame_being_written_counts_as_new()
    {
        using var dir = new TempDir();
        Seed(dir.Path, "a", "b");
        var frame = WireFormat.Encode(RecordType.Raw, 3, default, B("in flight"));
        AppendBytes(Seg(dir.Path, 1), frame.AsSpan(0, 30));

        await using var follow = new Follow(dir.Path, FollowPosition.Now, FastPoll);
        follow.AssertNothingYet();
        AppendBytes(Seg(dir.Path, 1), frame.AsSpan(30));
        var got = await follow.NextAsync();
        Assert.That((got.TxId, S(got.Payload)), Is.EqualTo((3UL, "in flight")));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Start_and_Now_on_a_directory_without_segments_wait_for_the_writer_that_creates_one(bool now)
    {
        using var dir = new TempDir();
        await using var follow = new Follow(dir.Path, now ? FollowPosition.Now : FollowPosition.Start, InProcess);
        follow.AssertNothingYet();

        // Nothing existed when the follow started: every record is appended after it, so every one counts.
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("first"));
        await Task.Delay(100);   // lets the follower wake on the first append before the second one
        log.Append(B("second"));
        Assert.That(S((await follow.NextAsync()).Payload), Is.EqualTo("first"), "appended after the follow started, to a segment that did not exist then");
        Assert.That(S((await follow.NextAsync()).Payload), Is.EqualTo("second"));
    }

    [Test]
    public async Task After_and_At_a_record_resume_there_across_segments_then_follow_live()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        var a = log.Append(B("a"));
        var b = log.Append(B("b"));
        log.Rotate();
        var c = log.Append(B("c"));

        await using var afterA = new Follow(dir.Path, FollowPosition.After(a), InProcess);
        await using var atA = new Follow(dir.Path, FollowPosition.At(a), InProcess);
        await using var afterB = new Follow(dir.Path, FollowPosition.After(b), InProcess);   // the end of a sealed segment
        await using var atB = new Follow(dir.Path, FollowPosition.At(b), InProcess);
        await using var atC = new Follow(dir.Path, FollowPosition.At(c), InProcess);
        await using var afterC = new Follow(dir.Path, FollowPosition.After(c), InProcess);   // the end of the log
        afterC.AssertNothingYet();

        log.Append(B("d"));
        log.Rotate();
        log.Append(B("e"));
        Assert.That(Payloads(await afterA.TakeAsync(4)), Is.EqualTo(new[] { "b", "c", "d", "e" }));
        Assert.That(Payloads(await atA.TakeAsync(5)), Is.EqualTo(new[] { "a", "b", "c", "d", "e" }));
        Assert.That(Payloads(await afterB.TakeAsync(3)), Is.EqualTo(new[] { "c", "d", "e" }));
        Assert.That(Payloads(await atB.TakeAsync(4)), Is.EqualTo(new[] { "b", "c", "d", "e" }));
        Assert.That(Payloads(await atC.TakeAsync(3)), Is.EqualTo(new[] { "c", "d", "e" }));
        Assert.That(Payloads(await afterC.TakeAsync(2)), Is.EqualTo(new[] { "d", "e" }));
        Assert.That(Recs(atA.All), Is.EqualTo(ReadAll(dir.Path)));
    }

    [Test]
    public async Task A_read_buffer_smaller_than_a_frame_grows_to_fit_it()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(Pattern(10_000, 1));
        await using var follow = new Follow(dir.Path, FollowPosition.Start, new FollowOptions { PollInterval = TimeSpan.FromHours(1), WatchFileSystem = false, ReadBufferSize = 16 });
        log.Append(Pattern(300_000, 2));
        var got = await follow.TakeAsync(2);
        Assert.That(got[0].Payload.ToArray(), Is.EqualTo(Pattern(10_000, 1)));
        Assert.That(got[1].Payload.ToArray(), Is.EqualTo(Pattern(300_000, 2)));
    }

    // ---------------------------------------------------------------- 2. in-process wake-up

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_writer_in_this_process_wakes_the_follower_without_polling(bool trailingSeparator)
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        string readerPath = trailingSeparator ? dir.Path + Path.DirectorySeparatorChar : dir.Path;
        await using var follow = new Follow(RecordLogReader.Open(readerPath), FollowPosition.Start, InProcess);
        follow.AssertNothingYet();

        const int count = 300;
        var writer = Task.Run(async () =>
        {
            for (int i = 0; i < count; i++)
            {
                switch (i % 3)
                {
                    case 0:
                        log.Append(B($"r{i}"));
                        break;
                    case 1:
                        await log.AppendAsync(B($"r{i}"));
                        break;
                    default:
                        using (var batch = new RecordBatch())
                        {
                            batch.Add(RecordType.Raw, default, B($"r{i}"));
                            log.AppendBatch(batch);
                        }

                        break;
                }

                if (i % 25 == 0)
                {
                    await Task.Delay(2);   // let the follower catch up and go back to sleep now and then
                }
            }
        });

        var got = await follow.TakeAsync(count);
        await writer.WaitAsync(Patience);
        Assert.That(Payloads(got), Is.EqualTo(Enumerable.Range(0, count).Select(i => $"r{i}")));
        Assert.That(got.Select(r => r.TxId), Is.EqualTo(Enumerable.Range(1, count).Select(i => (ulong)i)));
    }

    // ---------------------------------------------------------------- 3. rotations

    [Test]
    public async Task Through_many_rotations_and_empty_segments_the_txids_are_exactly_1_to_N()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        await using var follow = new Follow(dir.Path, FollowPosition.Start, InProcess);

        const int count = 2000;
        int rotations = 0;
        var writer = Task.Run(async () =>
        {
            var random = new Random(20240601);
            for (int i = 1; i <= count; i++)
            {
                if (random.Next(20) == 0)
                {
                    log.Rotate();
                    rotations++;
                    while (random.Next(3) == 0)
                    {
                        log.Rotate();   // leaves an empty segment behind
                        rotations++;
                    }
                }

                log.Append(B($"r{i}"));
                if (i % 100 == 0)
                {
                    await Task.Delay(1);
                }
            }
        });

        var got = await follow.TakeAsync(count);
        await writer.WaitAsync(Patience);
        Assert.That(got.Select(r => r.TxId), Is.EqualTo(Enumerable.Range(1, count).Select(i => (ulong)i)), "no gap, no duplicate, in order");
        Assert.That(Payloads(got), Is.EqualTo(Enumerable.Range(1, count).Select(i => $"r{i}")));
        Assert.That(Recs(got), Is.EqualTo(ReadAll(dir.Path)));
        Assert.That(rotations, Is.GreaterThan(50));
        var segments = RecordLogReader.Open(dir.Path).Segments;
        Assert.That(segments.Count(id => new FileInfo(Seg(dir.Path, id)).Length == 0), Is.GreaterThan(1), "empty segments were crossed");
        follow.AssertNothingYet();
    }

    // ---------------------------------------------------------------- 4. torn tail completed later

    [Test]
    public async Task A_torn_tail_is_not_yielded_and_its_completion_is_yielded_exactly_once()
    {
        using var dir = new TempDir();
        var refs = Seed(dir.Path, "base1", "base2");
        string seg = Seg(dir.Path, 1);
        await using var live = new Follow(dir.Path, FollowPosition.Start, FastPoll);   // sees every state while waiting
        Assert.That(Payloads(await live.TakeAsync(2)), Is.EqualTo(new[] { "base1", "base2" }));

        ulong txId = 3;
        var last = refs[^1];
        var frameLength = WireFormat.Encode(RecordType.Put, 0, B("key"), B("a payload of some length")).Length;
        // Header split (1, 10, 23 bytes), header whole but no body, mid-key, mid-payload, only the CRC missing, one CRC byte missing.
        int[] splits = [1, 10, 23, 24, 26, 40, frameLength - 4, frameLength - 1];
        var expected = new List<string>();
        foreach (int split in splits)
        {
            string payload = $"a payload {split,14}";
            var frame = WireFormat.Encode(RecordType.Put, txId, B("key"), B(payload));
            Assert.That(frame, Has.Length.EqualTo(frameLength));
            AppendBytes(seg, frame.AsSpan(0, split));

            // A follower starting now makes its first pass over the torn frame before the constructor returns.
            await using var fresh = new Follow(dir.Path, FollowPosition.After(last), FastPoll);
            fresh.AssertNothingYet($"split {split}: a torn frame is never yielded");

            AppendBytes(seg, frame.AsSpan(split));
            var got = await fresh.NextAsync();
            Assert.That((got.TxId, S(got.Key), S(got.Payload)), Is.EqualTo((txId, "key", payload)), $"split {split}");
            Assert.That((long)got.Offset, Is.EqualTo(End(last)));
            expected.Add(payload);
            last = got.Ref;
            txId++;
        }

        // docs/design.md D13: a zero-filled region (e.g. preallocated after a crash) is waited on, then overwritten.
        var zeroFrame = WireFormat.Encode(RecordType.Raw, txId, default, B("over zeros"));
        var sentinel = WireFormat.Encode(RecordType.Raw, txId + 1, default, B("sentinel"));
        AppendBytes(seg, new byte[zeroFrame.Length + sentinel.Length + 16]);
        await using (var fresh = new Follow(dir.Path, FollowPosition.After(last), FastPoll))
        {
            fresh.AssertNothingYet("an all-zero remainder is a torn tail, not a record and not corruption");
            WriteAt(seg, End(last), zeroFrame);
            Assert.That(S((await fresh.NextAsync()).Payload), Is.EqualTo("over zeros"));
            WriteAt(seg, End(last) + zeroFrame.Length, sentinel);
            Assert.That(S((await fresh.NextAsync()).Payload), Is.EqualTo("sentinel"), "the completed frame came once, the next one follows it");
        }

        expected.Add("over zeros");
        expected.Add("sentinel");
        var all = await live.TakeAsync(expected.Count);
        Assert.That(Payloads(all), Is.EqualTo(expected), "the long-running follower saw each completed frame once, in order");
        Assert.That(all.Select(r => r.TxId), Is.EqualTo(Enumerable.Range(3, expected.Count).Select(i => (ulong)i)));
        live.AssertNothingYet();
    }

    // ---------------------------------------------------------------- 5. torn tail cut by a restarted writer

    [TestCase("torn", false)]
    [TestCase("crc", false)]
    [TestCase("zeros", false)]
    [TestCase("torn", true)]
    [TestCase("zeros", true)]
    public async Task A_damaged_tail_cut_by_a_restarted_writer_is_never_yielded_and_the_new_records_are(string damage, bool writerInOtherProcess)
    {
        using var dir = new TempDir();
        var refs = Seed(dir.Path, "a", "b", "c");
        string seg = Seg(dir.Path, 1);
        long cut = End(refs[^1]);
        var torn = WireFormat.Encode(RecordType.Raw, 4, default, Pattern(300, 4));
        switch (damage)
        {
            case "torn":
                AppendBytes(seg, torn.AsSpan(0, 200));
                break;
            case "crc":
                torn[^1] ^= 0xFF;
                AppendBytes(seg, torn);
                break;
            default:
                AppendBytes(seg, new byte[4096]);
                break;
        }

        var options = writerInOtherProcess ? new FollowOptions { WatchFileSystem = true } : InProcess;
        await using var follow = new Follow(dir.Path, FollowPosition.Start, options);
        Assert.That(Payloads(await follow.TakeAsync(3)), Is.EqualTo(new[] { "a", "b", "c" }));
        follow.AssertNothingYet("the damaged tail is waited on, not yielded, not reported");

        List<Record> got;
        if (writerInOtherProcess)
        {
            using var child = ChildProcess.Start("follow-writer", dir.Path, "0", "3", "0");
            Assert.That(child.ReadLine(Patience), Is.EqualTo("OPENED 3"), child.StandardError);
            got = await follow.TakeAsync(3);
            Assert.That(got.Select(r => Generation.Parse(r.Payload.Span)), Is.EqualTo(new long[] { 3, 4, 5 }));
        }
        else
        {
            using var log = RecordLog.Open(dir.Path);
            Assert.That(log.RecoveryReport.TailCut, Is.True);
            log.Append(B("x"));
            log.Append(B("y"));
            got = await follow.TakeAsync(2);
            Assert.That(Payloads(got), Is.EqualTo(new[] { "x", "y" }));
        }

        Assert.That(got.Select(r => r.TxId), Is.EqualTo(Enumerable.Range(4, got.Count).Select(i => (ulong)i)));
        Assert.That((long)got[0].Offset, Is.EqualTo(cut), "the new records start where the cut was made");
        Assert.That(Recs(follow.All), Is.EqualTo(ReadAll(dir.Path)));
    }

    // ---------------------------------------------------------------- 6. writer crashes in another process

    [Test]
    public async Task Follower_survives_SIGKILLed_writers_and_restarts_in_other_processes()
    {
        using var dir = new TempDir();
        await using var follow = new Follow(dir.Path, FollowPosition.Start, new FollowOptions { WatchFileSystem = true });
        long acknowledged = -1;
        long nextStart = 0;
        for (int cycle = 0; cycle < 3; cycle++)
        {
            using var child = ChildProcess.Start("follow-writer", dir.Path, "40", "0", "10");
            var opened = child.ReadLine(Patience);
            Assert.That(opened, Is.Not.Null, child.StandardError);
            long start = long.Parse(opened!["OPENED ".Length..], CultureInfo.InvariantCulture);
            Assert.That(start, Is.GreaterThanOrEqualTo(nextStart).And.GreaterThan(acknowledged), $"cycle {cycle}: the restarted writer recovered every acknowledged record");
            while (acknowledged < start + 300)
            {
                var line = child.ReadLine(Patience);
                Assert.That(line, Is.Not.Null, "child stalled: " + child.StandardError);
                acknowledged = long.Parse(line!["appended ".Length..], CultureInfo.InvariantCulture);
            }

            child.Kill();   // SIGKILL, mid-stream
            foreach (var line in child.DrainLines())
            {
                if (line.StartsWith("appended ", StringComparison.Ordinal))
                {
                    acknowledged = long.Parse(line["appended ".Length..], CultureInfo.InvariantCulture);
                }
            }

            nextStart = acknowledged + 1;
        }

        long total;
        using (var child = ChildProcess.Start("follow-writer", dir.Path, "40", "200", "10"))
        {
            var opened = child.ReadLine(Patience);
            Assert.That(opened, Is.Not.Null, child.StandardError);
            long start = long.Parse(opened!["OPENED ".Length..], CultureInfo.InvariantCulture);
            Assert.That(start, Is.GreaterThan(acknowledged));
            Assert.That(child.WaitForLine("DONE", Patience), Is.True, child.StandardError);
            total = start + 200;
        }

        var got = await follow.TakeAsync((int)total);
        Assert.That(got.Select(r => r.TxId), Is.EqualTo(Enumerable.Range(1, (int)total).Select(i => (ulong)i)), "gap-free and duplicate-free across kills");
        for (int i = 0; i < got.Count; i++)
        {
            Assert.That(Generation.Parse(got[i].Payload.Span), Is.EqualTo(i), $"record {i} is whole");
        }

        Assert.That(total, Is.GreaterThan(acknowledged + 200), "every acknowledged record was followed");
        Assert.That(Recs(got), Is.EqualTo(ReadAll(dir.Path)));
        Assert.That(RecordLogReader.Open(dir.Path).Segments, Has.Count.GreaterThan(10), "the follow crossed rotations");
    }

    // ---------------------------------------------------------------- 7. cross-process delivery

    [TestCase(true)]
    [TestCase(false)]
    public async Task A_writer_in_another_process_is_followed_record_by_record(bool watchFileSystem)
    {
        using var dir = new TempDir();
        // With notification on, polling is off (one hour): the watcher alone must deliver every change.
        var options = watchFileSystem ? WatchOnly : FastPoll;
        await using var follow = new Follow(dir.Path, FollowPosition.Start, options);   // no segment yet: waits for one
        const int count = 500;
        using var child = ChildProcess.Start("append-loop", dir.Path, "0", "50", count.ToString(CultureInfo.InvariantCulture));
        var got = await follow.TakeAsync(count);
        for (int i = 0; i < count; i++)
        {
            Assert.That(Generation.Parse(got[i].Payload.Span), Is.EqualTo(i));
            Assert.That(got[i].TxId, Is.EqualTo((ulong)i + 1));
        }

        Assert.That(child.WaitForLine("DONE", Patience), Is.True, child.StandardError);
        Assert.That(got.Select(r => r.Segment).Distinct().Count(), Is.EqualTo(10), "crossed every rotation");
    }

    // ---------------------------------------------------------------- 8. cancellation

    [TestCase("parameter", false)]
    [TestCase("enumerator", false)]
    [TestCase("parameter", true)]
    [TestCase("enumerator", true)]
    public async Task Cancelling_while_waiting_ends_the_follow_with_OperationCanceledException(string tokenVia, bool emptyDirectory)
    {
        using var dir = new TempDir();
        if (!emptyDirectory)
        {
            Seed(dir.Path, "a");
        }

        using var cts = new CancellationTokenSource();
        var reader = RecordLogReader.Open(dir.Path);
        var follow = tokenVia == "parameter"
            ? reader.FollowAsync(FollowPosition.Start, InProcess, cts.Token).GetAsyncEnumerator()
            : reader.FollowAsync(FollowPosition.Start, InProcess).GetAsyncEnumerator(cts.Token);
        try
        {
            if (!emptyDirectory)
            {
                Assert.That(await follow.MoveNextAsync(), Is.True);
                Assert.That(S(follow.Current.Payload), Is.EqualTo("a"));
            }

            var pending = follow.MoveNextAsync();
            Assert.That(pending.IsCompleted, Is.False, "the follower is waiting (for a record, or for a first segment)");
            cts.Cancel();
            await Assert.CatchAsync<OperationCanceledException>(async () => await pending.AsTask().WaitAsync(Patience));
        }
        finally
        {
            await follow.DisposeAsync();
        }
    }

    [Test]
    public async Task WithCancellation_on_await_foreach_ends_the_follow()
    {
        using var dir = new TempDir();
        Seed(dir.Path, "a", "b");
        using var cts = new CancellationTokenSource();
        var seen = new List<string>();
        var run = Task.Run(async () =>
        {
            await foreach (var r in RecordLogReader.Open(dir.Path).FollowAsync(FollowPosition.Start, InProcess).WithCancellation(cts.Token))
            {
                seen.Add(S(r.Payload));
                if (seen.Count == 2)
                {
                    _ = Task.Run(async () =>
                    {
                        await Task.Delay(100);   // most likely asleep by then; cancelled either way
                        await cts.CancelAsync();
                    });
                }
            }
        });
        await Assert.CatchAsync<OperationCanceledException>(async () => await run.WaitAsync(Patience));
        Assert.That(seen, Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public async Task An_already_cancelled_token_ends_the_follow_on_the_first_MoveNextAsync()
    {
        using var dir = new TempDir();
        Seed(dir.Path, "a");
        var follow = RecordLogReader.Open(dir.Path).FollowAsync(FollowPosition.Start, InProcess, new CancellationToken(canceled: true));
        await Assert.CatchAsync<OperationCanceledException>(async () =>
        {
            await foreach (var r in follow)
            {
                Assert.Fail("yielded " + r);
            }
        });
    }

    [Test]
    public async Task Breaking_out_of_await_foreach_releases_the_follower()
    {
        using var dir = new TempDir();
        Seed(dir.Path, "a", "b");
        string seg = Seg(dir.Path, 1);
        var reader = RecordLogReader.Open(dir.Path);
        Assert.That(OpenHandlesTo(seg), Is.Zero);
        for (int round = 0; round < 3; round++)
        {
            await foreach (var r in reader.FollowAsync(FollowPosition.Start, new FollowOptions { WatchFileSystem = true, DurableOnly = round == 2 }))
            {
                Assert.That(S(r.Payload), Is.EqualTo("a"));
                break;
            }

            Assert.That(OpenHandlesTo(seg), Is.Zero, $"round {round}: the segment handle is closed after break");
        }

        // A later follower still gets a working file-system watcher (the first ones' watcher was shut down).
        await using var follow = new Follow(reader, FollowPosition.Start, WatchOnly);
        Assert.That(Payloads(await follow.TakeAsync(2)), Is.EqualTo(new[] { "a", "b" }));
        AppendBytes(seg, WireFormat.Encode(RecordType.Raw, 3, default, B("c")));
        Assert.That(S((await follow.NextAsync()).Payload), Is.EqualTo("c"));
    }

    // ---------------------------------------------------------------- 9. durable only

    [Test]
    public async Task DurableOnly_with_a_manual_writer_in_process_waits_for_its_fsyncs_and_never_causes_one()
    {
        using var dir = new TempDir();
        using var faults = FaultInjector.Install();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("a"));
        log.Append(B("b"));
        var durableOnly = new FollowOptions { DurableOnly = true, PollInterval = TimeSpan.FromHours(1), WatchFileSystem = false };
        await using var follow = new Follow(dir.Path, FollowPosition.Start, durableOnly);
        follow.AssertNothingYet("appended but not fsynced");
        await using (var plain = new Follow(dir.Path, FollowPosition.Start, InProcess))
        {
            Assert.That(Payloads(await plain.TakeAsync(2)), Is.EqualTo(new[] { "a", "b" }), "without DurableOnly they are there");
        }

        log.Fsync();
        Assert.That(Payloads(await follow.TakeAsync(2)), Is.EqualTo(new[] { "a", "b" }));

        var c = log.Append(B("c"));
        await using (var fresh = new Follow(dir.Path, FollowPosition.At(c), durableOnly))
        {
            fresh.AssertNothingYet("c is not durable yet");
        }

        await Task.Delay(150);
        follow.AssertNothingYet("c is not durable yet");
        log.Fsync();
        Assert.That(S((await follow.NextAsync()).Payload), Is.EqualTo("c"));

        log.Append(B("d"));
        log.Rotate();   // rotation fsyncs the segment it seals
        Assert.That(S((await follow.NextAsync()).Payload), Is.EqualTo("d"));
        log.Append(B("e"));
        await Task.Delay(150);
        follow.AssertNothingYet("e is in the new segment, not durable yet");
        await log.FsyncAsync();
        Assert.That(S((await follow.NextAsync()).Payload), Is.EqualTo("e"));

        Assert.That(log.FsyncCount, Is.EqualTo(4), "Fsync, Fsync, Rotate, FsyncAsync: the followers caused none");
        Assert.That(faults.Count(Call.FsyncData) + faults.Count(Call.Fsync), Is.EqualTo(4));
    }

    [TestCase(DurabilityMode.EveryAppend)]
    [TestCase(DurabilityMode.Grouped)]
    public async Task DurableOnly_with_a_syncing_writer_yields_records_as_its_policy_makes_them_durable(DurabilityMode mode)
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path, new RecordLogOptions { Durability = mode, GroupCommitInterval = TimeSpan.FromMilliseconds(5) });
        await using var follow = new Follow(dir.Path, FollowPosition.Start, new FollowOptions { DurableOnly = true, PollInterval = TimeSpan.FromHours(1), WatchFileSystem = false });
        for (int i = 0; i < 20; i++)
        {
            log.Append(B($"r{i}"));
            if (mode == DurabilityMode.EveryAppend)
            {
                Assert.That(S((await follow.NextAsync()).Payload), Is.EqualTo($"r{i}"), "durable when Append returned");
            }

            if (i == 9)
            {
                log.Rotate();
            }
        }

        if (mode == DurabilityMode.Grouped)
        {
            Assert.That(Payloads(await follow.TakeAsync(20)), Is.EqualTo(Enumerable.Range(0, 20).Select(i => $"r{i}")), "the background flusher's fsyncs release them");
        }
    }

    [Test]
    public async Task DurableOnly_without_a_writer_in_process_fsyncs_the_segment_itself_before_yielding()
    {
        using var dir = new TempDir();
        Seed(dir.Path, "a", "b");   // Manual writer, closed without an fsync: it is no longer registered
        string seg = Seg(dir.Path, 1);
        using var faults = FaultInjector.Install();
        var durableOnly = new FollowOptions { DurableOnly = true, PollInterval = TimeSpan.FromMilliseconds(20), WatchFileSystem = false };
        await using var follow = new Follow(dir.Path, FollowPosition.Start, durableOnly);
        var first = await follow.TakeAsync(2);
        Assert.That(Payloads(first), Is.EqualTo(new[] { "a", "b" }));
        int syncs = faults.Count(Call.FsyncData);
        Assert.That(syncs, Is.GreaterThanOrEqualTo(1), "the follower made what it yields durable");

        AppendBytes(seg, WireFormat.Encode(RecordType.Raw, 3, default, B("c")));
        Assert.That(S((await follow.NextAsync()).Payload), Is.EqualTo("c"));
        Assert.That(faults.Count(Call.FsyncData), Is.GreaterThan(syncs), "a new fsync covered the new record before it was yielded");
        Assert.That(faults.Count(Call.Write) + faults.Count(Call.SetLength), Is.Zero, "a follower never writes");
    }

    [Test]
    public async Task DurableOnly_without_a_writer_in_process_reports_a_failed_fsync_and_yields_nothing_unsynced()
    {
        using var dir = new TempDir();
        Seed(dir.Path, "a", "b");
        using var faults = FaultInjector.Install();
        faults.Fail(Call.FsyncData, ErrorNumbers.EIO);
        var durableOnly = new FollowOptions { DurableOnly = true, PollInterval = TimeSpan.FromMilliseconds(20), WatchFileSystem = false };
        await using var follow = new Follow(dir.Path, FollowPosition.Start, durableOnly);
        var error = await follow.ErrorAsync();
        Assert.That(error, Is.TypeOf<DataWalException>());
        Assert.That(error.Message, Does.StartWith($"datawal: follow: fsync segment {Seg(dir.Path, 1)}: "));
        Assert.That(follow.All, Is.Empty, "nothing was yielded without its fsync");
        Assert.That(faults.Count(Call.FsyncData), Is.EqualTo(1));
    }

    // ---------------------------------------------------------------- 10. errors

    [Test]
    public void Bad_options_throw_at_once()
    {
        using var dir = new TempDir();
        var reader = RecordLogReader.Open(dir.Path);
        Assert.Throws<ArgumentOutOfRangeException>(() => reader.FollowAsync(FollowPosition.Start, new FollowOptions { PollInterval = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => reader.FollowAsync(FollowPosition.Start, new FollowOptions { PollInterval = TimeSpan.FromMilliseconds(-1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => reader.FollowAsync(FollowPosition.Start, new FollowOptions { ReadBufferSize = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => reader.FollowAsync(FollowPosition.Start, new FollowOptions { ReadBufferSize = -5 }));
    }

    [TestCase("length+1", false)]
    [TestCase("length-1", false)]
    [TestCase("offset+1", false)]
    [TestCase("past-end", false)]
    [TestCase("no-segment", false)]
    [TestCase("torn-frame", false)]
    [TestCase("length+1", true)]
    [TestCase("offset+1", true)]
    [TestCase("no-segment", true)]
    [TestCase("torn-frame", true)]
    public async Task A_position_that_does_not_name_a_whole_record_throws_on_the_first_MoveNextAsync(string how, bool at)
    {
        using var dir = new TempDir();
        var refs = Seed(dir.Path, "first", "second");
        var b = refs[1];
        var frame = WireFormat.Encode(RecordType.Raw, 3, default, B("torn"));
        AppendBytes(Seg(dir.Path, 1), frame.AsSpan(0, frame.Length - 1));
        var bad = how switch
        {
            "length+1" => b with { Length = b.Length + 1 },
            "length-1" => b with { Length = b.Length - 1 },
            "offset+1" => b with { Offset = b.Offset + 1 },
            "past-end" => b with { Offset = b.Offset + 10_000 },
            "no-segment" => b with { Segment = 9 },
            _ => new RecordRef(1, (ulong)End(b), (uint)frame.Length),
        };
        var reader = RecordLogReader.Open(dir.Path);
        var position = at ? FollowPosition.At(bad) : FollowPosition.After(bad);
        var follow = reader.FollowAsync(position, InProcess);   // lazy: nothing thrown yet
        var e = await Assert.ThrowsAsync<DataWalException>(async () =>
        {
            await foreach (var r in follow)
            {
                Assert.Fail("yielded " + r);
            }
        });
        Assert.That(e!.Message, Is.EqualTo($"datawal: follow position {position} does not name a whole record in {reader.Directory}"));
        Assert.That(e.Message, Does.StartWith($"datawal: follow position {(at ? "At" : "After")} segment {bad.Segment} offset {bad.Offset} length {bad.Length} does not name a whole record in "));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Structural_garbage_at_the_tail_throws_CorruptRecordException(bool appearsWhileFollowing)
    {
        using var dir = new TempDir();
        var refs = Seed(dir.Path, "a", "b");
        string seg = Seg(dir.Path, 1);
        var garbage = new byte[64];
        Array.Fill(garbage, (byte)'X');
        if (!appearsWhileFollowing)
        {
            AppendBytes(seg, garbage);
        }

        await using var follow = new Follow(dir.Path, FollowPosition.Start, FastPoll);
        if (appearsWhileFollowing)
        {
            Assert.That(Payloads(await follow.TakeAsync(2)), Is.EqualTo(new[] { "a", "b" }));
            AppendBytes(seg, garbage);
        }

        var error = await follow.ErrorAsync();
        Assert.That(error, Is.TypeOf<CorruptRecordException>());
        var corrupt = (CorruptRecordException)error;
        Assert.That((corrupt.Kind, corrupt.Segment, (long)corrupt.Offset), Is.EqualTo((CorruptionKind.Structural, 1u, End(refs[1]))));
        Assert.That(Payloads(follow.All), Is.EqualTo(new[] { "a", "b" }), "the valid records before the damage were yielded");
    }

    [TestCase(false, false)]
    [TestCase(true, false)]
    [TestCase(false, true)]
    public async Task A_damaged_remainder_of_a_segment_that_became_sealed_throws_CorruptRecordException(bool crcBad, bool sealedBeforeStart)
    {
        using var dir = new TempDir();
        var refs = Seed(dir.Path, "a", "b");
        string seg = Seg(dir.Path, 1);
        var frame = WireFormat.Encode(RecordType.Raw, 3, default, B("never whole"));
        if (crcBad)
        {
            frame[^2] ^= 0x10;
            AppendBytes(seg, frame);
        }
        else
        {
            AppendBytes(seg, frame.AsSpan(0, 20));
        }

        if (sealedBeforeStart)
        {
            File.WriteAllBytes(Seg(dir.Path, 2), []);
        }

        await using var follow = new Follow(dir.Path, FollowPosition.Start, FastPoll);
        if (!sealedBeforeStart)
        {
            Assert.That(Payloads(await follow.TakeAsync(2)), Is.EqualTo(new[] { "a", "b" }));
            follow.AssertNothingYet("the tail of the last segment is waited on");
            File.WriteAllBytes(Seg(dir.Path, 2), []);   // a newer segment: segment 1 is sealed now
        }

        var error = await follow.ErrorAsync();
        Assert.That(error, Is.TypeOf<CorruptRecordException>());
        var corrupt = (CorruptRecordException)error;
        var kind = crcBad ? CorruptionKind.CrcMismatch : CorruptionKind.Truncated;
        Assert.That((corrupt.Kind, corrupt.Segment, (long)corrupt.Offset), Is.EqualTo((kind, 1u, End(refs[1]))));
        Assert.That(Payloads(follow.All), Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public async Task A_segment_truncated_below_the_followed_offset_throws_DataWalException()
    {
        using var dir = new TempDir();
        var refs = Seed(dir.Path, "a", "b", "c");
        await using var follow = new Follow(dir.Path, FollowPosition.Start, FastPoll);
        Assert.That(Payloads(await follow.TakeAsync(3)), Is.EqualTo(new[] { "a", "b", "c" }));
        Truncate(Seg(dir.Path, 1), End(refs[0]));
        var error = await follow.ErrorAsync();
        Assert.That(error, Is.TypeOf<DataWalException>());
        Assert.That(error.Message, Does.Contain("shorter than offset " + End(refs[2]).ToString(CultureInfo.InvariantCulture)).And.Contain("truncated or replaced"));
    }

    [Test]
    public async Task A_segment_replaced_by_a_shorter_file_throws_DataWalException()
    {
        using var dir = new TempDir();
        var refs = Seed(dir.Path, "a", "b", "c");
        await using var follow = new Follow(dir.Path, FollowPosition.Start, FastPoll);
        Assert.That(Payloads(await follow.TakeAsync(3)), Is.EqualTo(new[] { "a", "b", "c" }));

        // E.g. a restore: a different, shorter log renamed over the followed segment.
        string replacement = dir["replacement.tmp"];
        File.WriteAllBytes(replacement, WireFormat.Encode(RecordType.Raw, 1, default, B("other log")));
        File.Move(replacement, Seg(dir.Path, 1), overwrite: true);

        var error = await follow.ErrorAsync(TimeSpan.FromSeconds(5));   // 250 polls
        Assert.That(error, Is.TypeOf<DataWalException>());
        Assert.That(error.Message, Does.Contain("truncated or replaced"));
        Assert.That(follow.All, Has.Count.EqualTo(3), "nothing of the other log was yielded");
    }

    // ---------------------------------------------------------------- 11. shared signal, writer hand-over

    [Test]
    public async Task Concurrent_followers_of_one_directory_share_the_wake_up_and_leaving_one_does_not_disturb_the_others()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        var a = new Follow(dir.Path, FollowPosition.Start, InProcess);
        await using var b = new Follow(dir.Path, FollowPosition.Start, WatchOnly);
        try
        {
            var writer = Task.Run(async () =>
            {
                for (int i = 1; i <= 300; i++)
                {
                    log.Append(B($"r{i}"));
                    if (i % 50 == 0)
                    {
                        log.Rotate();
                        await Task.Delay(2);
                    }
                }
            });
            var expected = Enumerable.Range(1, 300).Select(i => $"r{i}").ToList();
            Assert.That(Payloads(await a.TakeAsync(300)), Is.EqualTo(expected));
            Assert.That(Payloads(await b.TakeAsync(300)), Is.EqualTo(expected));
            await writer.WaitAsync(Patience);
        }
        finally
        {
            await a.DisposeAsync();
        }

        log.Append(B("after a left"));
        Assert.That(S((await b.NextAsync()).Payload), Is.EqualTo("after a left"));
        await using var c = new Follow(dir.Path, FollowPosition.Now, InProcess);
        log.Append(B("for b and c"));
        Assert.That(S((await b.NextAsync()).Payload), Is.EqualTo("for b and c"));
        Assert.That(S((await c.NextAsync()).Payload), Is.EqualTo("for b and c"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task When_the_writer_in_this_process_closes_a_writer_in_another_process_is_followed_through_file_notification(bool writerOpenedFirst)
    {
        using var dir = new TempDir();
        var early = writerOpenedFirst ? RecordLog.Open(dir.Path) : null;
        await using var follow = new Follow(dir.Path, FollowPosition.Start, WatchOnly);
        using (var log = early ?? RecordLog.Open(dir.Path))
        {
            for (int i = 0; i < 10; i++)
            {
                log.Append(Generation.Build(i, 64));
                if (i == 4)
                {
                    log.Rotate();
                }
            }

            Assert.That((await follow.TakeAsync(10)).Select(r => Generation.Parse(r.Payload.Span)), Is.EqualTo(Enumerable.Range(0, 10).Select(i => (long)i)));
        }

        // Let the follower handle the writer's departure and go back to sleep: from here on, only file-change
        // notification can wake it (its poll interval is an hour).
        await Task.Delay(300);

        using var child = ChildProcess.Start("follow-writer", dir.Path, "7", "40", "5");
        Assert.That(child.ReadLine(Patience), Is.EqualTo("OPENED 10"), child.StandardError);
        var got = await follow.TakeAsync(40);
        Assert.That(got.Select(r => Generation.Parse(r.Payload.Span)), Is.EqualTo(Enumerable.Range(10, 40).Select(i => (long)i)));
        Assert.That(got.Select(r => r.TxId), Is.EqualTo(Enumerable.Range(11, 40).Select(i => (ulong)i)));
        Assert.That(child.WaitForLine("DONE", Patience), Is.True, child.StandardError);
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Appends Raw records with these payloads through a (then closed) writer; returns their locations.</summary>
    private static List<RecordRef> Seed(string directory, params string[] payloads)
    {
        using var log = RecordLog.Open(directory);
        return payloads.Select(p => log.Append(B(p))).ToList();
    }

    private static long End(RecordRef r) => (long)r.Offset + r.Length;

    private static List<string> Payloads(IEnumerable<Record> records) => records.Select(r => S(r.Payload)).ToList();

    /// <summary>How many of this process's file descriptors refer to <paramref name="path"/> (Linux; 0 elsewhere).</summary>
    private static int OpenHandlesTo(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        int count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget == path)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // closed meanwhile
            }
        }

        return count;
    }

    /// <summary>
    /// One follow, pumped in the background into a queue. The constructor makes the first MoveNextAsync call
    /// itself, which runs synchronously until the follower first waits: when it returns, the position is
    /// resolved and the files as they were then have been read (so "nothing yielded" can be checked without sleeping).
    /// </summary>
    private sealed class Follow : IAsyncDisposable
    {
        private readonly Channel<Record> _queue = Channel.CreateUnbounded<Record>();
        private readonly CancellationTokenSource _cts = new();
        private readonly IAsyncEnumerator<Record> _enumerator;
        private readonly List<Record> _all = [];
        private readonly Task _pump;

        public Follow(string directory, FollowPosition position, FollowOptions options)
            : this(RecordLogReader.Open(directory), position, options)
        {
        }

        public Follow(RecordLogReader reader, FollowPosition position, FollowOptions options)
        {
            _enumerator = reader.FollowAsync(position, options, _cts.Token).GetAsyncEnumerator();
            _pump = PumpAsync();
        }

        /// <summary>Every record taken so far (including by <see cref="ErrorAsync"/>), in order.</summary>
        public IReadOnlyList<Record> All => _all;

        private async Task PumpAsync()
        {
            try
            {
                while (await _enumerator.MoveNextAsync())
                {
                    _queue.Writer.TryWrite(_enumerator.Current);
                }

                _queue.Writer.TryComplete(new InvalidOperationException("the follow ended"));
            }
            catch (Exception e)
            {
                _queue.Writer.TryComplete(e);
            }
            finally
            {
                await _enumerator.DisposeAsync();
            }
        }

        public async Task<Record> NextAsync()
        {
            using var timeout = new CancellationTokenSource(Patience);
            try
            {
                var record = await _queue.Reader.ReadAsync(timeout.Token);
                _all.Add(record);
                return record;
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                Assert.Fail($"no record within {Patience.TotalSeconds} s (after {_all.Count} records)");
                throw;
            }
            catch (ChannelClosedException e)
            {
                Assert.Fail($"the follow failed after {_all.Count} records: {e.InnerException ?? e}");
                throw;
            }
        }

        public async Task<List<Record>> TakeAsync(int count)
        {
            var records = new List<Record>(count);
            while (records.Count < count)
            {
                records.Add(await NextAsync());
            }

            return records;
        }

        /// <summary>Asserts that no record is queued and the follow has not failed.</summary>
        public void AssertNothingYet(string? because = null)
        {
            bool any = _queue.Reader.TryRead(out var record);
            Assert.That(any, Is.False, $"{because}: unexpected record {record}");
            Assert.That(_queue.Reader.Completion.IsCompleted, Is.False, () => $"{because}: the follow ended: {_queue.Reader.Completion.Exception?.InnerException}");
        }

        /// <summary>Waits for the follow to fail; returns the exception (records yielded before it are added to <see cref="All"/>).</summary>
        public async Task<Exception> ErrorAsync(TimeSpan? patience = null)
        {
            var deadline = patience ?? Patience;
            using var timeout = new CancellationTokenSource(deadline);
            while (true)
            {
                try
                {
                    _all.Add(await _queue.Reader.ReadAsync(timeout.Token));
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested)
                {
                    Assert.Fail($"the follow did not fail within {deadline.TotalSeconds} s (after {_all.Count} records)");
                    throw;
                }
                catch (ChannelClosedException e)
                {
                    return e.InnerException ?? e;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _cts.CancelAsync();
            await _pump.WaitAsync(Patience);   // the pump never throws; it disposes the enumerator
            _cts.Dispose();
        }
    }
}
