using NUnit.Framework;
using TestSupport;
using static SafeAtomic.Tests.Helpers;

namespace SafeAtomic.Tests;

/// <summary>RenameAtomic: replace or refuse, and fsync every directory whose entries changed.</summary>
public class RenameTests
{
    [Test]
    public void Replaces_the_destination_and_fsyncs_the_directory_once()
    {
        using var dir = new TempDir();
        var from = dir["from.txt"];
        var to = dir["to.txt"];
        File.WriteAllText(from, "new");
        File.WriteAllText(to, "old");

        using (var faults = FaultInjector.Install())
        {
            AtomicFile.RenameAtomic(from, to);
            Assert.That(faults.Calls, Is.EqualTo(new[] { new ObservedCall(Call.Rename, to), new ObservedCall(Call.FsyncDirectory, dir.Path) }));
        }

        Assert.That(Text(to), Is.EqualTo("new"));
        AssertEntries(dir, "to.txt");
    }

    [Test]
    public void Without_overwrite_an_existing_destination_is_AlreadyExists_and_both_files_stay()
    {
        using var dir = new TempDir();
        var from = dir["from.txt"];
        var to = dir["to.txt"];
        File.WriteAllText(from, "source");
        File.WriteAllText(to, "destination");

        using (var faults = FaultInjector.Install())
        {
            var e = Assert.Throws<AlreadyExistsException>(() => AtomicFile.RenameAtomic(from, to, overwrite: false));
            Assert.That(e!.Path, Is.EqualTo(to));
            Assert.That(faults.Count(Call.FsyncDirectory), Is.Zero);
        }

        Assert.That(Text(from), Is.EqualTo("source"));
        Assert.That(Text(to), Is.EqualTo("destination"));
    }

    [Test]
    public void Without_overwrite_a_dangling_symlink_at_the_destination_counts_as_existing()
    {
        RequireUnix();
        using var dir = new TempDir();
        var from = dir["from.txt"];
        var to = dir["to.txt"];
        File.WriteAllText(from, "source");
        File.CreateSymbolicLink(to, dir["nowhere"]);

        Assert.Throws<AlreadyExistsException>(() => AtomicFile.RenameAtomic(from, to, overwrite: false));
        Assert.That(new FileInfo(to).LinkTarget, Is.EqualTo(dir["nowhere"]));
        Assert.That(Text(from), Is.EqualTo("source"));
    }

    [Test]
    public void Without_overwrite_a_free_destination_is_taken()
    {
        using var dir = new TempDir();
        var from = dir["from.txt"];
        var to = dir["to.txt"];
        File.WriteAllText(from, "source");

        using (var faults = FaultInjector.Install())
        {
            AtomicFile.RenameAtomic(from, to, overwrite: false);
            Assert.That(faults.Calls.Select(c => c.Call), Is.EqualTo(new[] { Call.RenameNoReplace, Call.FsyncDirectory }));
        }

        AssertEntries(dir, "to.txt");
        Assert.That(Text(to), Is.EqualTo("source"));
    }

    [Test]
    public void A_cross_directory_rename_fsyncs_both_directories()
    {
        using var src = new TempDir("src");
        using var dst = new TempDir("dst");
        var from = src["f.txt"];
        var to = dst["g.txt"];
        File.WriteAllText(from, "moving");

        using (var faults = FaultInjector.Install())
        {
            AtomicFile.RenameAtomic(from, to);
            Assert.That(faults.Calls, Is.EqualTo(new[]
            {
                new ObservedCall(Call.Rename, to),
                new ObservedCall(Call.FsyncDirectory, dst.Path),
                new ObservedCall(Call.FsyncDirectory, src.Path),
            }));
        }

        Assert.That(File.Exists(from), Is.False);
        Assert.That(Text(to), Is.EqualTo("moving"));

        using (var faults = FaultInjector.Install())
        {
            AtomicFile.RenameAtomic(to, from, overwrite: false);
            Assert.That(faults.Calls.Where(c => c.Call == Call.FsyncDirectory).Select(c => c.Path), Is.EqualTo(new[] { src.Path, dst.Path }));
        }

        Assert.That(Text(from), Is.EqualTo("moving"));
    }

    [Test]
    public void A_missing_source_is_NotWritten_with_ENOENT()
    {
        RequireUnix();
        using var dir = new TempDir();
        File.WriteAllText(dir["to.txt"], "kept");
        var e = Assert.Throws<NotWrittenException>(() => AtomicFile.RenameAtomic(dir["missing"], dir["to.txt"]));
        Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.ENOENT));
        Assert.That(e.Message, Does.StartWith($"safeatomic: could not rename {dir["missing"]} to {dir["to.txt"]}: the source {dir["missing"]} does not exist; nothing was changed ("));
        var e2 = Assert.Throws<NotWrittenException>(() => AtomicFile.RenameAtomic(dir["missing"], dir["other"], overwrite: false));
        Assert.That(e2!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.ENOENT));
        Assert.That(e2.Message, Does.Contain($"the source {dir["missing"]} does not exist"));
        Assert.That(Text(dir["to.txt"]), Is.EqualTo("kept"));
        AssertEntries(dir, "to.txt");
    }

    [Test]
    public void A_missing_destination_directory_is_NotWritten_and_the_source_stays()
    {
        RequireUnix();
        using var dir = new TempDir();
        File.WriteAllText(dir["from.txt"], "source");
        var e = Assert.Throws<NotWrittenException>(() => AtomicFile.RenameAtomic(dir["from.txt"], Path.Combine(dir.Path, "no", "to.txt")));
        Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.ENOENT));
        AssertEntries(dir, "from.txt");
    }

    [Test]
    public void Racing_no_overwrite_renames_onto_one_name_have_exactly_one_winner()
    {
        using var dir = new TempDir();
        const int Threads = 16;
        for (int round = 0; round < 10; round++)
        {
            var to = dir[$"dest-{round}"];
            var sources = Enumerable.Range(0, Threads).Select(t => dir[$"src-{round}-{t}"]).ToArray();
            for (int t = 0; t < Threads; t++)
            {
                File.WriteAllText(sources[t], "from " + t);
            }

            var outcome = new string[Threads];
            using var barrier = new Barrier(Threads);
            var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                barrier.SignalAndWait();
                try
                {
                    AtomicFile.RenameAtomic(sources[t], to, overwrite: false);
                    outcome[t] = "won";
                }
                catch (AlreadyExistsException)
                {
                    outcome[t] = "lost";
                }
                catch (Exception e)
                {
                    outcome[t] = e.GetType().Name + ": " + e.Message;
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());

            Assert.That(outcome, Has.All.EqualTo("won").Or.EqualTo("lost"));
            Assert.That(outcome.Count(o => o == "won"), Is.EqualTo(1));
            int winner = Array.IndexOf(outcome, "won");
            Assert.That(Text(to), Is.EqualTo("from " + winner));
            for (int t = 0; t < Threads; t++)
            {
                Assert.That(File.Exists(sources[t]), Is.EqualTo(t != winner), "losers keep their source");
            }
        }
    }
}
