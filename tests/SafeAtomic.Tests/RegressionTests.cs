using NUnit.Framework;
using SafeAtomic.Internal;
using TestChild;
using TestSupport;
using static SafeAtomic.Tests.Helpers;

namespace SafeAtomic.Tests;

/// <summary>
/// Pins for the upstream defects SafeAtomic must not inherit (safeatomic-rs R1–R7, docs/design.md S1.4) and the
/// bugs the Python package fixed for v2.0 (docs/design.md S2.14), each written so that upstream's behaviour fails it.
/// </summary>
public class RegressionTests
{
    // ---------------------------------------------------------------- R1: fixed temp name

    [Test]
    public void R1_two_writers_rewriting_the_same_target_never_produce_a_torn_file()
    {
        // Upstream's shared "a.tmp" lets one writer truncate the other's half-written temp and rename it in.
        using var dir = new TempDir();
        var target = dir["a.bin"];
        int[] sizes = [30_001, 70_003];
        var failures = RaceRewrites(
            reader: () => Generation.Parse(File.ReadAllBytes(target)) > 0,
            (w, i) => AtomicFile.WriteAtomic(target, Generation.Build(w * 1_000_000 + i + 1, sizes[w])),
            writers: 2,
            iterations: 200);

        Assert.That(failures, Is.Empty);
        var final = File.ReadAllBytes(target);
        Assert.That(Generation.Parse(final), Is.GreaterThan(0), "final content is one whole write");
        Assert.That(final.Length, Is.EqualTo(sizes[0]).Or.EqualTo(sizes[1]));
        AssertEntries(dir, "a.bin");
    }

    [Test]
    public void R1_targets_with_the_same_stem_written_concurrently_do_not_interfere()
    {
        // Upstream: a.json and a.yaml both use a.tmp.
        using var dir = new TempDir();
        string[] targets = [dir["a.json"], dir["a.yaml"]];
        int[] sizes = [20_011, 40_013];
        var failures = RaceRewrites(
            reader: () => targets.Select((t, w) => (t, w)).All(x => !File.Exists(x.t) || IsWriters(File.ReadAllBytes(x.t), x.w, sizes)),
            (w, i) => AtomicFile.WriteAtomic(targets[w], Generation.Build(w * 1_000_000 + i + 1, sizes[w])),
            writers: 2,
            iterations: 200);

        Assert.That(failures, Is.Empty);
        Assert.That(Generation.Parse(File.ReadAllBytes(targets[0])), Is.EqualTo(200));
        Assert.That(Generation.Parse(File.ReadAllBytes(targets[1])), Is.EqualTo(1_000_200));
        AssertEntries(dir, "a.json", "a.yaml");

        Assert.That(TempName.For("a.json"), Does.StartWith(".a.json."));
        Assert.That(TempName.For("a.yaml"), Does.StartWith(".a.yaml."));
    }

    [Test]
    public void R1_a_target_named_data_tmp_is_written_atomically_through_a_separate_temp()
    {
        // Upstream: "data.tmp".with_extension("tmp") is the target itself → truncated in place.
        using var dir = new TempDir();
        var target = dir["data.tmp"];
        AtomicFile.WriteAtomic(target, Generation.Build(1, 50_000));

        using (var faults = FaultInjector.Install())
        {
            AtomicFile.WriteAtomic(target, Generation.Build(2, 50_000));
            var temp = faults.Calls[0].Path!;
            Assert.That(temp, Is.Not.EqualTo(target));
            Assert.That(Path.GetFileName(temp), Does.StartWith(".data.tmp."));
        }

        var failures = RaceRewrites(
            reader: () => Generation.Parse(File.ReadAllBytes(target)) > 0,
            (_, i) => AtomicFile.WriteAtomic(target, Generation.Build(i + 3, 50_000 + i)),
            writers: 1,
            iterations: 100);
        Assert.That(failures, Is.Empty);

        // A failed write leaves the old data.tmp, not an empty or truncated one.
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Fsync, ErrorNumbers.EIO);
            Assert.Throws<NotWrittenException>(() => AtomicFile.WriteAtomic(target, "lost"u8));
        }

        Assert.That(Generation.Parse(File.ReadAllBytes(target)), Is.EqualTo(102));
        AssertEntries(dir, "data.tmp");
        Assert.That(AtomicFile.FindTempFiles(dir.Path), Is.Empty, "the target data.tmp is not mistaken for a temp");
    }

    // ---------------------------------------------------------------- R2: truncating, non-exclusive temp open

    [Test]
    public void R2_the_temp_is_opened_create_new_and_a_symlink_planted_at_its_name_is_not_followed()
    {
        RequireUnix();
        using var dir = new TempDir();
        using var elsewhere = new TempDir("victim");
        var victim = elsewhere["secret"];
        File.WriteAllText(victim, "do not touch");
        var target = dir["a.txt"];

        int planted = 0;
        using (var hook = new HookedCalls(call =>
        {
            if (call.Call == Call.Open && planted++ == 0)
            {
                File.CreateSymbolicLink(call.Path!, victim);
            }
        }))
        {
            AtomicFile.WriteAtomic(target, "new"u8);
            Assert.That(hook.Seen.Where(c => c.Call == Call.Open).Select(c => c.Mode), Has.All.EqualTo(FileMode.CreateNew));
        }

        Assert.That(Text(victim), Is.EqualTo("do not touch"));
        Assert.That(Text(target), Is.EqualTo("new"));
    }

    // ---------------------------------------------------------------- R3: racy write-once

    [Test]
    public void R3_write_once_never_clobbers_a_file_created_after_its_existence_check()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        using (new HookedCalls(call =>
        {
            if (call.Call is Call.RenameNoReplace or Call.Rename)
            {
                File.WriteAllText(target, "third party");
            }
        }))
        {
            Assert.That(AtomicFile.WriteOnce(target, "mine"u8), Is.False);
        }

        Assert.That(Text(target), Is.EqualTo("third party"));
        AssertEntries(dir, "a.txt");
    }

    // ---------------------------------------------------------------- R4: bare relative name

    [Test]
    public void R4_a_bare_name_succeeds_and_fsyncs_the_current_directory()
    {
        using var dir = new TempDir();
        string previous = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = dir.Path;
            using var faults = FaultInjector.Install();
            AtomicFile.WriteAtomic("a.txt", "x"u8);   // upstream: renames, then fails to open "" for the dir fsync
            Assert.That(faults.Calls.Where(c => c.Call == Call.FsyncDirectory).Select(c => c.Path), Is.EqualTo(new[] { dir.Path }));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }

        Assert.That(Text(dir["a.txt"]), Is.EqualTo("x"));
    }

    // ---------------------------------------------------------------- R5: no temp cleanup on failure

    [TestCase(Call.Write)]
    [TestCase(Call.Fsync)]
    [TestCase(Call.Rename)]
    public void R5_every_failed_write_removes_its_temp(Call call)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(call, ErrorNumbers.EIO);
            for (int i = 0; i < 10; i++)
            {
                Assert.Throws<NotWrittenException>(() => AtomicFile.WriteAtomic(target, Utf8("attempt " + i)));
                Assert.Throws<NotWrittenException>(() => AtomicFile.WriteAtomic(target, s => s.Write(Utf8("attempt " + i))));
            }
        }

        AssertEntries(dir);
    }

    // ---------------------------------------------------------------- R6: permissions

    [TestCase("600")]
    [TestCase("755")]
    public void R6_rewriting_never_widens_a_secret_nor_drops_an_execute_bit(string octal)
    {
        RequireUnix();
        using var dir = new TempDir();
        var target = dir["f"];
        File.WriteAllText(target, "old");
        SetMode(target, Mode(octal));

        AtomicFile.WriteAtomic(target, "new"u8);
        Assert.That(Octal(GetMode(target)), Is.EqualTo(octal));
    }

    // ---------------------------------------------------------------- R7: directory durability

    [Test]
    public void R7_append_that_creates_the_file_fsyncs_the_directory_and_mkdir_chain_fsyncs_each_parent()
    {
        using var dir = new TempDir();
        using var faults = FaultInjector.Install();

        AtomicFile.WriteAppendFsync(dir["log"], "x"u8);
        Assert.That(faults.Calls[^1], Is.EqualTo(new ObservedCall(Call.FsyncDirectory, dir.Path)));

        var target = Path.Combine(dir.Path, "n1", "n2", "f");
        AtomicFile.WriteOnceWithParents(target, "y"u8);
        var fsynced = faults.Calls.Where(c => c.Call == Call.FsyncDirectory).Select(c => c.Path).ToList();
        Assert.That(fsynced, Is.SupersetOf(new[] { dir.Path, dir["n1"], Path.Combine(dir.Path, "n1", "n2") }));
    }

    // ---------------------------------------------------------------- docs/design.md S2.14 / S2.15 pins

    [Test]
    public void Pin_2_14_EXDEV_at_the_final_rename_is_translated_never_leaked_raw()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["src"], "s");
        using var faults = FaultInjector.Install();
        faults.Fail(Call.Rename, ErrorNumbers.EXDEV);

        var e = Assert.Throws<CrossDeviceException>(() => AtomicFile.RenameAtomic(dir["src"], dir["dst"]));
        Assert.That(e!.Source, Is.EqualTo(dir["src"]));
        Assert.That(e.Destination, Is.EqualTo(dir["dst"]));
        Assert.That(e.InnerException, Is.TypeOf<SystemCallException>().With.Property(nameof(SystemCallException.ErrorNumber)).EqualTo(ErrorNumbers.EXDEV));
        Assert.That(File.Exists(dir["dst"]), Is.False);
        Assert.That(Text(dir["src"]), Is.EqualTo("s"));
    }

    [Test]
    public void Pin_2_14_an_aborted_write_leaves_no_target_no_temp_and_commits_nothing_later()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        using (var faults = FaultInjector.Install())
        {
            Assert.Throws<InvalidDataException>(() => AtomicFile.WriteAtomic(target, s =>
            {
                s.Write("half"u8);
                throw new InvalidDataException();
            }));
            Assert.That(faults.Count(Call.Rename), Is.Zero);
            Assert.That(faults.Count(Call.Fsync), Is.Zero);
            Assert.That(faults.Count(Call.Unlink), Is.EqualTo(1));

            // A later, unrelated write commits only its own content.
            AtomicFile.WriteAtomic(dir["b.txt"], "b"u8);
            Assert.That(faults.Count(Call.Rename), Is.EqualTo(1));
        }

        AssertEntries(dir, "b.txt");
    }

    [Test]
    public void Pin_2_14_a_successful_write_commits_exactly_once()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        using (var faults = FaultInjector.Install())
        {
            AtomicFile.WriteAtomic(target, s =>
            {
                s.Write("one"u8);
                s.Flush();
                s.Write("two"u8);
                s.Flush();
            });
            Assert.That(faults.Count(Call.Rename), Is.EqualTo(1));
            Assert.That(faults.Count(Call.Fsync), Is.EqualTo(1));
            Assert.That(faults.Count(Call.FsyncDirectory), Is.EqualTo(1));
            Assert.That(faults.Count(Call.Unlink), Is.Zero, "nothing to clean up after a commit");
        }

        Assert.That(Text(target), Is.EqualTo("onetwo"));
    }

    [Test]
    public void Pin_2_15_a_failed_rename_is_not_followed_by_any_copy()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Rename, ErrorNumbers.EXDEV);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteAtomic(target, "new"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EXDEV));
            var afterRename = faults.Calls.SkipWhile(c => c.Call != Call.Rename).Skip(1).Select(c => c.Call);
            Assert.That(afterRename, Is.EqualTo(new[] { Call.Unlink }));
        }

        Assert.That(Text(target), Is.EqualTo("old"));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void Pin_a_reader_that_opened_the_old_file_keeps_reading_the_old_content()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        AtomicFile.WriteAtomic(target, "old content"u8);
        using var reader = new FileStream(target, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

        AtomicFile.WriteAtomic(target, "new content"u8);

        using var text = new StreamReader(reader);
        Assert.That(text.ReadToEnd(), Is.EqualTo("old content"));
        Assert.That(Text(target), Is.EqualTo("new content"));
    }

    /// <summary>
    /// Runs <paramref name="writers"/> threads doing <paramref name="iterations"/> writes each while one
    /// reader thread checks <paramref name="reader"/> until the writers finish; returns what went wrong.
    /// </summary>
    private static List<string> RaceRewrites(Func<bool> reader, Action<int, int> write, int writers, int iterations)
    {
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        int running = writers;
        using var barrier = new Barrier(writers + 1);
        var threads = Enumerable.Range(0, writers).Select(w => new Thread(() =>
        {
            barrier.SignalAndWait();
            try
            {
                for (int i = 0; i < iterations; i++)
                {
                    write(w, i);
                }
            }
            catch (Exception e)
            {
                failures.Enqueue($"writer {w}: {e}");
            }
            finally
            {
                Interlocked.Decrement(ref running);
            }
        })).ToList();

        var readerThread = new Thread(() =>
        {
            barrier.SignalAndWait();
            int reads = 0;
            do
            {
                try
                {
                    if (!reader())
                    {
                        failures.Enqueue($"reader saw a torn or foreign file at read {reads}");
                        return;
                    }
                }
                catch (FileNotFoundException)
                {
                    // Before the first write only.
                }
                catch (Exception e)
                {
                    failures.Enqueue($"reader: {e}");
                    return;
                }

                reads++;
            }
            while (Volatile.Read(ref running) > 0);
        });

        threads.ForEach(t => t.Start());
        readerThread.Start();
        threads.ForEach(t => t.Join());
        readerThread.Join();
        return [.. failures];
    }

    private static bool IsWriters(byte[] bytes, int writer, int[] sizes) =>
        Generation.Parse(bytes) is long g && g > 0 && g / 1_000_000 == writer && bytes.Length == sizes[writer];
}
