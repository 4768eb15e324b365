using System.Globalization;
using NUnit.Framework;
using TestChild;
using TestSupport;
using static SafeAtomic.Tests.Helpers;

namespace SafeAtomic.Tests;

/// <summary>
/// Create-if-absent: false (and untouched) when anything exists at the path, exactly one winner among
/// racing threads and processes, and the file only ever appears complete.
/// </summary>
public class WriteOnceTests
{
    [Test]
    public void Creates_the_file_then_returns_false_and_keeps_the_first_content()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        Assert.That(AtomicFile.WriteOnce(target, "first"u8), Is.True);
        Assert.That(AtomicFile.WriteOnce(target, "second"u8), Is.False);
        Assert.That(Text(target), Is.EqualTo("first"));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void Returns_false_for_an_existing_file_without_touching_it_or_the_file_system()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "existing");
        var before = File.GetLastWriteTimeUtc(target);

        using (var faults = FaultInjector.Install())
        {
            Assert.That(AtomicFile.WriteOnce(target, "new"u8), Is.False);
            Assert.That(faults.Calls, Is.Empty, "the existence check short-circuits before any temp is made");
        }

        Assert.That(Text(target), Is.EqualTo("existing"));
        Assert.That(File.GetLastWriteTimeUtc(target), Is.EqualTo(before));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void Returns_false_for_an_existing_directory()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        Directory.CreateDirectory(target);
        Assert.That(AtomicFile.WriteOnce(target, "new"u8), Is.False);
        Assert.That(Directory.Exists(target), Is.True);
        Assert.That(Directory.EnumerateFileSystemEntries(target), Is.Empty);
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void Returns_false_for_a_dangling_symlink_and_creates_nothing_through_it()
    {
        RequireUnix();
        using var dir = new TempDir();
        var link = dir["a.txt"];
        var nowhere = dir["nowhere.txt"];
        File.CreateSymbolicLink(link, nowhere);

        Assert.That(AtomicFile.WriteOnce(link, "new"u8), Is.False);
        Assert.That(new FileInfo(link).LinkTarget, Is.EqualTo(nowhere));
        Assert.That(File.Exists(nowhere), Is.False);
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void Returns_false_for_a_symlink_to_a_file_and_leaves_link_and_referent_alone()
    {
        RequireUnix();
        using var dir = new TempDir();
        var real = dir["real.txt"];
        var link = dir["a.txt"];
        File.WriteAllText(real, "referent");
        File.CreateSymbolicLink(link, real);

        Assert.That(AtomicFile.WriteOnce(link, "new"u8), Is.False);
        Assert.That(new FileInfo(link).LinkTarget, Is.EqualTo(real));
        Assert.That(Text(real), Is.EqualTo("referent"));
        AssertEntries(dir, "a.txt", "real.txt");
    }

    [Test]
    public void A_target_that_appears_after_the_check_is_neither_replaced_nor_reported_as_won()
    {
        // The existence check is only an optimisation: the no-replace rename decides. Create the target
        // at the last moment (just before that rename) and the call must lose without clobbering it.
        using var dir = new TempDir();
        var target = dir["a.txt"];
        using (new HookedCalls(call =>
        {
            if (call.Call == Call.RenameNoReplace)
            {
                File.WriteAllText(target, "intruder");
            }
        }))
        {
            Assert.That(AtomicFile.WriteOnce(target, "mine"u8), Is.False);
        }

        Assert.That(Text(target), Is.EqualTo("intruder"));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void A_dangling_symlink_that_appears_after_the_check_is_not_replaced()
    {
        RequireUnix();
        using var dir = new TempDir();
        var target = dir["a.txt"];
        var nowhere = dir["nowhere"];
        using (new HookedCalls(call =>
        {
            if (call.Call == Call.RenameNoReplace)
            {
                File.CreateSymbolicLink(target, nowhere);
            }
        }))
        {
            Assert.That(AtomicFile.WriteOnce(target, "mine"u8), Is.False);
        }

        Assert.That(new FileInfo(target).LinkTarget, Is.EqualTo(nowhere));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void Exactly_one_of_32_threads_wins_each_of_20_rounds_and_the_file_is_the_winners()
    {
        using var dir = new TempDir();
        RaceThreads(dir, threads: 32, rounds: 20);
    }

    [Test]
    public void Exactly_one_thread_wins_with_the_link_unlink_fallback_too()
    {
        // What runs where renameat2(RENAME_NOREPLACE) is missing (old libc) or refused (EINVAL/ENOSYS).
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("the renameat2 fallback switch exists on Linux only");
        }

        using var dir = new TempDir();
        using (ForceLinkUnlinkFallback())
        {
            Assert.That(AtomicFile.WriteOnce(dir["single.txt"], "x"u8), Is.True);
            Assert.That(AtomicFile.WriteOnce(dir["single.txt"], "y"u8), Is.False);

            // link(2) then unlink(2) of the temp name: exactly one name (link count 1), no temp left.
            Assert.That(Mono.Unix.Native.Syscall.stat(dir["single.txt"], out var st), Is.Zero);
            Assert.That(st.st_nlink, Is.EqualTo(1UL));
            Assert.That(Text(dir["single.txt"]), Is.EqualTo("x"));
            Assert.That(LateIntruderLoses(dir), Is.True);
            RaceThreads(dir, threads: 16, rounds: 10);
        }
    }

    [Test]
    public void A_concurrent_reader_only_ever_sees_no_file_or_the_complete_file()
    {
        using var dir = new TempDir();
        const int Writers = 8;
        const int Rounds = 40;
        int partial = 0;
        int seen = 0;

        for (int round = 0; round < Rounds; round++)
        {
            var target = dir[$"r{round}.bin"];
            var contents = Enumerable.Range(0, Writers).Select(w => Generation.Build(round * 100 + w, 50_000 + w * 1_001)).ToArray();
            using var barrier = new Barrier(Writers + 1);
            var wins = new int[Writers];
            var errors = new Exception?[Writers];
            var writers = Enumerable.Range(0, Writers).Select(w => new Thread(() =>
            {
                barrier.SignalAndWait();
                try
                {
                    wins[w] = AtomicFile.WriteOnce(target, contents[w]) ? 1 : 0;
                }
                catch (Exception e)
                {
                    errors[w] = e;
                }
            })).ToList();
            writers.ForEach(t => t.Start());

            // The reader races the writers until it has seen the file (or every writer has finished).
            barrier.SignalAndWait();
            while (true)
            {
                bool writersDone = writers.TrueForAll(t => !t.IsAlive);
                byte[] bytes;
                try
                {
                    bytes = File.ReadAllBytes(target);
                }
                catch (FileNotFoundException)
                {
                    if (writersDone)
                    {
                        break;
                    }

                    Thread.Yield();
                    continue;
                }

                if (Generation.Parse(bytes) < 0)
                {
                    partial++;
                }

                seen++;
                break;
            }

            writers.ForEach(t => t.Join());
            Assert.That(errors, Has.All.Null);
            Assert.That(wins.Sum(), Is.EqualTo(1));
            Assert.That(File.ReadAllBytes(target), Is.EqualTo(contents[Array.IndexOf(wins, 1)]));
        }

        Assert.That(partial, Is.Zero, "a reader saw a partial file");
        Assert.That(seen, Is.EqualTo(Rounds));
        AssertNoTemps(dir.Path);
    }

    [Test]
    [Platform(Exclude = "Win")]
    public void Exactly_one_of_four_processes_wins()
    {
        using var dir = new TempDir();
        for (int round = 0; round < 2; round++)
        {
            var target = dir[$"p{round}.txt"];
            long startAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1500;
            var contents = Enumerable.Range(0, 4).Select(i => $"child-{i}-round-{round}-" + new string((char)('a' + i), 1000 * (i + 1))).ToArray();
            var children = contents.Select(c => ChildProcess.Start("write-once", target, c, startAt.ToString(CultureInfo.InvariantCulture))).ToList();
            try
            {
                var results = new List<string?>();
                foreach (var child in children)
                {
                    results.Add(child.ReadLine(TimeSpan.FromSeconds(60)));
                    Assert.That(child.WaitForExit(TimeSpan.FromSeconds(60)), Is.Zero, child.StandardError);
                }

                Assert.That(results, Has.All.EqualTo("won").Or.EqualTo("lost"), string.Join(" | ", children.Select(c => c.StandardError)));
                Assert.That(results.Count(r => r == "won"), Is.EqualTo(1));
                Assert.That(Text(target), Is.EqualTo(contents[results.IndexOf("won")]));
            }
            finally
            {
                children.ForEach(c => c.Dispose());
            }
        }

        AssertNoTemps(dir.Path);
        Assert.That(dir.Entries(), Is.EqualTo(new[] { "p0.txt", "p1.txt" }));
    }

    private static void RaceThreads(TempDir dir, int threads, int rounds)
    {
        for (int round = 0; round < rounds; round++)
        {
            var target = dir[$"race-{round}.bin"];
            var contents = Enumerable.Range(0, threads).Select(t => Generation.Build(round * 1000 + t, 1000 + t * 97)).ToArray();
            var results = new bool[threads];
            var errors = new Exception?[threads];
            using var barrier = new Barrier(threads);
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                barrier.SignalAndWait();
                try
                {
                    results[t] = AtomicFile.WriteOnce(target, contents[t]);
                }
                catch (Exception e)
                {
                    errors[t] = e;
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());

            Assert.That(errors, Has.All.Null);
            Assert.That(results.Count(r => r), Is.EqualTo(1), $"round {round}: winners");
            Assert.That(File.ReadAllBytes(target), Is.EqualTo(contents[Array.IndexOf(results, true)]), $"round {round}: content");
        }

        AssertNoTemps(dir.Path);
    }

    /// <summary>The target appears just before the no-replace rename: the call must lose and not clobber it.</summary>
    private static bool LateIntruderLoses(TempDir dir)
    {
        var target = dir["late.txt"];
        bool won;
        using (new HookedCalls(call =>
        {
            if (call.Call == Call.RenameNoReplace)
            {
                File.WriteAllText(target, "intruder");
            }
        }))
        {
            won = AtomicFile.WriteOnce(target, "mine"u8);
        }

        return !won && Text(target) == "intruder" && AtomicFile.FindTempFiles(dir.Path).Count == 0;
    }
}

/// <summary>WriteOnceWithParents: missing parents created top-down, each made durable through its parent.</summary>
public class WriteOnceWithParentsTests
{
    [Test]
    public void Creates_missing_nested_parents_and_fsyncs_each_new_directorys_parent()
    {
        using var dir = new TempDir();
        var a = dir["a"];
        var b = Path.Combine(a, "b");
        var c = Path.Combine(b, "c");
        var target = Path.Combine(c, "f.txt");

        IReadOnlyList<ObservedCall> calls;
        using (var faults = FaultInjector.Install())
        {
            Assert.That(AtomicFile.WriteOnceWithParents(target, "deep"u8), Is.True);
            calls = faults.Calls;
        }

        Assert.That(Text(target), Is.EqualTo("deep"));
        var dirCalls = calls.Where(x => x.Call is Call.CreateDirectory or Call.FsyncDirectory).ToList();
        Assert.That(dirCalls, Is.EqualTo(new[]
        {
            new ObservedCall(Call.CreateDirectory, a), new ObservedCall(Call.FsyncDirectory, dir.Path),
            new ObservedCall(Call.CreateDirectory, b), new ObservedCall(Call.FsyncDirectory, a),
            new ObservedCall(Call.CreateDirectory, c), new ObservedCall(Call.FsyncDirectory, b),
            new ObservedCall(Call.FsyncDirectory, c),   // after the file's own rename
        }));
        Assert.That(calls.Take(6).Select(x => x.Call), Has.No.Member(Call.Open), "directories first, then the file");
        AssertNoTemps(c);
    }

    [Test]
    public void Existing_parents_are_not_recreated_and_only_new_levels_are_fsynced()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["a"]);
        var b = Path.Combine(dir["a"], "b");
        var target = Path.Combine(b, "f.txt");

        using (var faults = FaultInjector.Install())
        {
            Assert.That(AtomicFile.WriteOnceWithParents(target, "x"u8), Is.True);
            Assert.That(faults.Calls.Where(x => x.Call == Call.CreateDirectory).Select(x => x.Path), Is.EqualTo(new[] { b }));
            Assert.That(faults.Calls.Where(x => x.Call == Call.FsyncDirectory).Select(x => x.Path), Is.EqualTo(new[] { dir["a"], b }));
        }

        using (var faults = FaultInjector.Install())
        {
            Assert.That(AtomicFile.WriteOnceWithParents(Path.Combine(b, "g.txt"), "y"u8), Is.True);
            Assert.That(faults.Count(Call.CreateDirectory), Is.Zero);
        }
    }

    [Test]
    public void Returns_false_when_the_file_exists_and_changes_nothing()
    {
        using var dir = new TempDir();
        var target = Path.Combine(dir.Path, "a", "f.txt");
        Assert.That(AtomicFile.WriteOnceWithParents(target, "first"u8), Is.True);

        using (var faults = FaultInjector.Install())
        {
            Assert.That(AtomicFile.WriteOnceWithParents(target, "second"u8), Is.False);
            Assert.That(faults.Calls, Is.Empty);
        }

        Assert.That(Text(target), Is.EqualTo("first"));
        Assert.That(Directory.EnumerateFileSystemEntries(dir["a"]).Select(Path.GetFileName), Is.EqualTo(new[] { "f.txt" }));
    }

    [Test]
    public void A_file_where_a_parent_directory_should_be_is_NotWritten()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["a"], "a file");
        var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteOnceWithParents(Path.Combine(dir["a"], "b", "f.txt"), "x"u8));
        Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EEXIST).Or.EqualTo(ErrorNumbers.ENOTDIR));
        Assert.That(Text(dir["a"]), Is.EqualTo("a file"));
    }

    [Test]
    public void Racing_creators_of_the_same_new_tree_have_exactly_one_winner()
    {
        using var dir = new TempDir();
        const int Threads = 8;
        for (int round = 0; round < 5; round++)
        {
            var target = Path.Combine(dir.Path, $"r{round}", "x", "y", "f.txt");
            var results = new bool[Threads];
            var errors = new Exception?[Threads];
            using var barrier = new Barrier(Threads);
            var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                barrier.SignalAndWait();
                try
                {
                    results[t] = AtomicFile.WriteOnceWithParents(target, Utf8("thread " + t));
                }
                catch (Exception e)
                {
                    errors[t] = e;
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());

            Assert.That(errors, Has.All.Null);
            Assert.That(results.Count(r => r), Is.EqualTo(1));
            Assert.That(Text(target), Is.EqualTo("thread " + Array.IndexOf(results, true)));
        }
    }
}
