using NUnit.Framework;
using TestSupport;
using static SafeAtomic.Tests.Helpers;

namespace SafeAtomic.Tests;

/// <summary>WriteAppendFsync: appends, creates when missing, and fsyncs the directory only when it created the file.</summary>
public class AppendTests
{
    [Test]
    public void Creates_a_missing_file_then_fsyncs_it_and_its_directory()
    {
        using var dir = new TempDir();
        var log = dir["log.txt"];

        using (var faults = FaultInjector.Install())
        {
            AtomicFile.WriteAppendFsync(log, "first\n"u8);
            Assert.That(faults.Calls, Is.EqualTo(new[]
            {
                new ObservedCall(Call.OpenAppend, log),
                new ObservedCall(Call.Write, log),
                new ObservedCall(Call.Fsync, log),
                new ObservedCall(Call.FsyncDirectory, dir.Path),
            }));
        }

        Assert.That(Text(log), Is.EqualTo("first\n"));
    }

    [Test]
    public void Appending_to_an_existing_file_does_not_fsync_the_directory()
    {
        using var dir = new TempDir();
        var log = dir["log.txt"];
        File.WriteAllText(log, "old\n");

        using (var faults = FaultInjector.Install())
        {
            AtomicFile.WriteAppendFsync(log, "more\n"u8);
            Assert.That(faults.Calls.Select(c => c.Call), Is.EqualTo(new[] { Call.OpenAppend, Call.Write, Call.Fsync }));
        }

        Assert.That(Text(log), Is.EqualTo("old\nmore\n"));
    }

    [Test]
    public void Successive_appends_accumulate_in_order_and_an_empty_append_is_harmless()
    {
        using var dir = new TempDir();
        var log = dir["log.txt"];
        for (int i = 0; i < 20; i++)
        {
            AtomicFile.WriteAppendFsync(log, Utf8($"line {i}\n"));
        }

        AtomicFile.WriteAppendFsync(log, ReadOnlySpan<byte>.Empty);
        Assert.That(File.ReadAllLines(log), Is.EqualTo(Enumerable.Range(0, 20).Select(i => $"line {i}")));
        AssertEntries(dir, "log.txt");
    }

    [Test]
    public void An_empty_append_to_a_missing_file_creates_it_durably()
    {
        using var dir = new TempDir();
        var log = dir["log.txt"];
        using (var faults = FaultInjector.Install())
        {
            AtomicFile.WriteAppendFsync(log, ReadOnlySpan<byte>.Empty);
            Assert.That(faults.Count(Call.FsyncDirectory), Is.EqualTo(1));
        }

        Assert.That(File.ReadAllBytes(log), Is.Empty);
    }

    [Test]
    public void Appends_go_to_the_end_even_when_someone_else_extended_the_file()
    {
        using var dir = new TempDir();
        var log = dir["log.txt"];
        AtomicFile.WriteAppendFsync(log, "a\n"u8);
        File.AppendAllText(log, "outsider\n");
        AtomicFile.WriteAppendFsync(log, "b\n"u8);
        Assert.That(Text(log), Is.EqualTo("a\noutsider\nb\n"));
    }

    [Test]
    public void Appending_through_a_dangling_symlink_terminates_with_NotWritten_and_creates_nothing()
    {
        // open(O_CREAT|O_EXCL) on a dangling link says EEXIST, open() without O_CREAT says ENOENT: an
        // open-or-create loop that retries on that pair never ends.
        RequireUnix();
        using var dir = new TempDir();
        var link = dir["log.txt"];
        var nowhere = dir["nowhere.txt"];
        File.CreateSymbolicLink(link, nowhere);

        Exception? error = null;
        var worker = new Thread(() =>
        {
            try
            {
                AtomicFile.WriteAppendFsync(link, "x"u8);
            }
            catch (Exception e)
            {
                error = e;
            }
        })
        { IsBackground = true };
        worker.Start();
        bool finished = worker.Join(TimeSpan.FromSeconds(5));
        if (!finished)
        {
            // Unstick the spinning call (it now finds the referent) so it stops burning a core.
            File.WriteAllText(nowhere, "");
            worker.Join(TimeSpan.FromSeconds(15));
            File.Delete(nowhere);
        }

        Assert.That(finished, Is.True, "WriteAppendFsync never returned for a dangling symlink");
        Assert.That(error, Is.TypeOf<NotWrittenException>());
        Assert.That(((SafeAtomicException)error!).SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.ENOENT));
        Assert.That(File.Exists(nowhere), Is.False, "nothing is created through the link");
        Assert.That(new FileInfo(link).LinkTarget, Is.EqualTo(nowhere));
    }

    [Test]
    public void Concurrent_appenders_never_interleave_within_one_record()
    {
        using var dir = new TempDir();
        var log = dir["log.txt"];
        const int Threads = 4;
        const int PerThread = 40;
        using var barrier = new Barrier(Threads);
        var errors = new Exception?[Threads];
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            barrier.SignalAndWait();
            try
            {
                for (int i = 0; i < PerThread; i++)
                {
                    AtomicFile.WriteAppendFsync(log, Utf8($"<{t}:{i}:{new string((char)('a' + t), 200)}>\n"));
                }
            }
            catch (Exception e)
            {
                errors[t] = e;
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.That(errors, Has.All.Null);

        var lines = File.ReadAllLines(log);
        Assert.That(lines, Has.Length.EqualTo(Threads * PerThread));
        Assert.That(lines, Has.All.Match("^<[0-3]:[0-9]+:[a-d]{200}>$"));
        Assert.That(lines, Is.Unique);
        foreach (var line in lines)
        {
            char expected = (char)('a' + (line[1] - '0'));
            Assert.That(line.Substring(line.LastIndexOf(':') + 1, 200), Is.EqualTo(new string(expected, 200)));
        }
    }
}
