using NUnit.Framework;
using SafeAtomic;
using SafeAtomic.Internal;
using TestChild;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>
/// What may sit in a store directory besides segments (docs/design.md D14): planted links, FIFOs and directories
/// with store names are never followed, opened in a blocking way or written through; a listing taken while a
/// writer process rotates is not trusted as a snapshot; read-side system-call failures are typed errors.
/// </summary>
[NonParallelizable]
[Platform(Exclude = "Win")]
public class HostileDirectoryTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>Runs <paramref name="action"/> on its own thread; a hang fails the test instead of blocking the suite.</summary>
    private static void WithinPatience(Action action, string what)
    {
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                error = e;
            }
        })
        { IsBackground = true };
        thread.Start();
        Assert.That(thread.Join(Patience), Is.True, what + " hung");
        if (error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        }
    }

    private static void MakeFifo(string path) =>
        Assert.That(Mono.Unix.Native.Syscall.mkfifo(path, Mono.Unix.Native.FilePermissions.DEFFILEMODE), Is.Zero, "mkfifo " + path);

    [Test]
    public void A_lock_file_that_is_a_symlink_is_refused_and_its_target_is_untouched()
    {
        using var dir = new TempDir();
        string store = dir["store"];
        Directory.CreateDirectory(store);
        string precious = dir["precious.txt"];
        File.WriteAllText(precious, "precious");
        File.CreateSymbolicLink(Path.Combine(store, DirectoryLock.FileName), precious);

        var e = Assert.Throws<DataWalException>(() => RecordLog.Open(store).Dispose());
        Assert.That(e!.Message, Does.Contain(".lock").And.Contain("symbolic link"));
        Assert.That(File.ReadAllText(precious), Is.EqualTo("precious"), "the link's target was neither truncated nor written");
        Assert.That(DirectoryLock.IsHeld(store), Is.False);
    }

    [Test]
    public void A_dangling_lock_symlink_creates_nothing_where_it_points()
    {
        using var dir = new TempDir();
        string store = dir["store"];
        Directory.CreateDirectory(store);
        string target = dir["elsewhere-created"];
        File.CreateSymbolicLink(Path.Combine(store, DirectoryLock.FileName), target);

        Assert.Throws<DataWalException>(() => RecordLog.Open(store).Dispose());
        Assert.That(File.Exists(target), Is.False, "no file was created through the dangling link");
    }

    [Test]
    public void A_fifo_or_directory_at_the_lock_path_is_an_error_naming_it_never_a_hang()
    {
        using var dir = new TempDir();
        string fifoStore = dir["fifo"];
        Directory.CreateDirectory(fifoStore);
        MakeFifo(Path.Combine(fifoStore, DirectoryLock.FileName));
        WithinPatience(() =>
        {
            var e = Assert.Throws<DataWalException>(() => RecordLog.Open(fifoStore).Dispose());
            Assert.That(e!.Message, Does.Contain("FIFO"));
            Assert.That(DirectoryLock.IsHeld(fifoStore), Is.False);
        }, "open with a FIFO at .lock");

        string dirStore = dir["dir"];
        Directory.CreateDirectory(Path.Combine(dirStore, DirectoryLock.FileName));
        var d = Assert.Throws<DataWalException>(() => RecordLog.Open(dirStore).Dispose());
        Assert.That(d!.Message, Does.Contain("a directory"));
    }

    [Test]
    public void Fifos_and_directories_named_like_segments_are_ignored_by_every_path()
    {
        using var dir = new TempDir();
        Seed(dir.Path, "a", "b");
        MakeFifo(Seg(dir.Path, 2));
        Directory.CreateDirectory(Seg(dir.Path, 3));

        WithinPatience(() =>
        {
            Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 1 }));
            Assert.That(Payloads(RecordLogReader.Open(dir.Path).ScanIter()), Is.EqualTo(new[] { "a", "b" }));
            using var log = RecordLog.Open(dir.Path);
            Assert.That(Payloads(log.ScanIter()), Is.EqualTo(new[] { "a", "b" }));
            log.Rotate();   // past the planted names: never onto them
            log.Append(B("c"));
            Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 1, 4 }));
            Assert.That(Payloads(log.ScanIter()), Is.EqualTo(new[] { "a", "b", "c" }));
        }, "opening a store with a FIFO segment name");
    }

    [Test]
    public async Task A_follow_beside_a_fifo_segment_name_waits_and_obeys_its_cancellation()
    {
        using var dir = new TempDir();
        MakeFifo(Seg(dir.Path, 1));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var options = new FollowOptions { PollInterval = TimeSpan.FromMilliseconds(20), WatchFileSystem = false };
        var follow = Task.Run(async () =>
        {
            await foreach (var r in RecordLogReader.Open(dir.Path).FollowAsync(FollowPosition.Start, options, cts.Token))
            {
                Assert.Fail("yielded a record from a FIFO");
            }
        });
        var finished = await Task.WhenAny(follow, Task.Delay(Patience));
        Assert.That(finished, Is.SameAs(follow), "the follow ignored its cancellation");
        Assert.That(follow.IsCanceled, Is.True, "ended by its cancellation");
    }

    [Test]
    public async Task A_follower_never_follows_a_symlinked_segment_into_another_store()
    {
        using var dir = new TempDir();
        string store = dir["store"];
        string other = dir["other"];
        Seed(store, "mine-1");
        Seed(other, "theirs-1", "theirs-2");
        File.CreateSymbolicLink(Seg(store, 2), Seg(other, 1));

        var options = new FollowOptions { PollInterval = TimeSpan.FromMilliseconds(10), WatchFileSystem = false };
        using var cts = new CancellationTokenSource(Patience);
        var seen = new List<string>();
        var follow = Task.Run(async () =>
        {
            await foreach (var r in RecordLogReader.Open(store).FollowAsync(FollowPosition.Start, options, cts.Token))
            {
                lock (seen)
                {
                    seen.Add(S(r.Payload));
                    if (seen.Count == 3)
                    {
                        return;
                    }
                }
            }
        });

        Assert.That(Payloads(RecordLogReader.Open(store).ScanIter()), Is.EqualTo(new[] { "mine-1" }), "scans ignore the link");
        using (var log = RecordLog.Open(store))
        {
            log.Rotate();
            log.Append(B("mine-2"));
            log.Rotate();
            log.Append(B("mine-3"));
        }

        await follow;
        Assert.That(seen, Is.EqualTo(new[] { "mine-1", "mine-2", "mine-3" }), "the follower saw exactly what scans see");
        Assert.That(Payloads(RecordLogReader.Open(store).ScanIter()), Is.EqualTo(new[] { "mine-1", "mine-2", "mine-3" }));
    }

    [Test]
    public async Task Readers_and_a_follower_beside_a_writer_process_rotating_after_every_record_never_skip_a_segment()
    {
        const int Count = 1500;
        using var dir = new TempDir();
        using var child = ChildProcess.Start("follow-writer", dir.Path, "1", Count.ToString(System.Globalization.CultureInfo.InvariantCulture), "0");
        Assert.That(child.ReadLine(TimeSpan.FromSeconds(20)), Is.EqualTo("OPENED 0"), child.StandardError);

        var options = new FollowOptions { PollInterval = TimeSpan.FromMilliseconds(5), WatchFileSystem = true };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var followed = new List<ulong>();
        var follow = Task.Factory.StartNew(async () =>
        {
            await foreach (var r in RecordLogReader.Open(dir.Path).FollowAsync(FollowPosition.Start, options, cts.Token))
            {
                followed.Add(r.TxId);
                if (followed.Count == Count)
                {
                    return;
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();

        int scans = 0;
        while (!follow.IsCompleted || scans < 50)
        {
            var txids = RecordLogReader.Open(dir.Path).ScanIter().Select(r => r.TxId).ToList();
            Assert.That(txids, Is.EqualTo(Enumerable.Range(1, txids.Count).Select(i => (ulong)i)), $"scan {scans} skipped a txid");
            scans++;
            if (txids.Count == Count && follow.IsCompleted)
            {
                break;
            }
        }

        await follow;
        Assert.That(followed, Is.EqualTo(Enumerable.Range(1, Count).Select(i => (ulong)i)), "the follower yielded every txid once, in order");
        TestContext.Out.WriteLine($"{scans} scans, {SegmentFiles.List(dir.Path).Count} segments");
    }

    [Test]
    public void A_listing_that_misses_a_segment_shown_after_it_is_listed_again()
    {
        using var dir = new TempDir();
        using (var log = RecordLog.Open(dir.Path))
        {
            for (int i = 0; i < 5; i++)
            {
                log.Append(B("r" + i));
                log.Rotate();
            }
        }

        // ext4 returns names in hash order: one listing taken while segment 3 was created can show 4 and 5 but not 3.
        using var hide = SystemCalls.Use(new HideOnce(Path.GetFileName(Seg(dir.Path, 3))));
        Assert.That(SegmentFiles.List(dir.Path), Is.EqualTo(new uint[] { 1, 2, 3, 4, 5, 6 }));
        Assert.That(Payloads(RecordLogReader.Open(dir.Path).ScanIter()), Is.EqualTo(new[] { "r0", "r1", "r2", "r3", "r4" }));
    }

    [Test]
    public void An_injected_read_error_is_a_typed_error_naming_the_segment_never_a_short_log()
    {
        using var dir = new TempDir();
        Seed(dir.Path, "a", "b", "c");
        string segment = Seg(dir.Path, 1);
        using var faults = FaultInjector.Install().Fail(Call.Read, ErrorNumbers.EIO, path: p => p == segment);

        var e = Assert.Throws<DataWalException>(() => RecordLogReader.Open(dir.Path).ScanIter().ToList());
        Assert.That(e!.Message, Does.Contain(segment).And.Contain("EIO"));
        Assert.That(e.InnerException, Is.InstanceOf<SafeAtomicException>());
        var w = Assert.Throws<DataWalException>(() => RecordLog.Open(dir.Path).Dispose());
        Assert.That(w!.Message, Does.Contain(segment).And.Contain("EIO"));

        faults.Clear();
        faults.Fail(Call.GetLength, ErrorNumbers.EIO, path: p => p == segment);
        Assert.That(Assert.Throws<DataWalException>(() => RecordLogReader.Open(dir.Path).ScanIter().ToList())!.Message, Does.Contain(segment));

        faults.Clear();
        faults.Fail(Call.ReadDirectory, ErrorNumbers.EIO);
        Assert.That(Assert.Throws<DataWalException>(() => RecordLogReader.Open(dir.Path))!.Message, Does.Contain(dir.Path).And.Contain("EIO"));

        faults.Clear();
        Assert.That(Payloads(RecordLogReader.Open(dir.Path).ScanIter()), Is.EqualTo(new[] { "a", "b", "c" }));
    }

    private static void Seed(string directory, params string[] payloads)
    {
        using var log = RecordLog.Open(directory);
        foreach (string p in payloads)
        {
            log.Append(B(p));
        }
    }

    private static List<string> Payloads(IEnumerable<Record> records) => records.Select(r => S(r.Payload)).ToList();

    /// <summary>Leaves one name out of the first directory listing only.</summary>
    private sealed class HideOnce(string name) : PassThroughCalls
    {
        private int _listings;

        public override IReadOnlyList<DirectoryEntry> ReadDirectory(string path)
        {
            var entries = Platform.ReadDirectory(path);
            return Interlocked.Increment(ref _listings) == 1 ? entries.Where(e => e.Name != name).ToList() : entries;
        }
    }
}
