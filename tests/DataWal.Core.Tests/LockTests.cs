using System.Diagnostics;
using System.Globalization;
using NUnit.Framework;
using SafeAtomic;
using TestSupport;
using static DataWal.Core.Tests.TestUtil;

namespace DataWal.Core.Tests;

/// <summary>The directory writer lock (docs/design.md U4, upstream lock.rs docs/design.md U7.1, multi_process_lock.rs docs/design.md U7.9).</summary>
public class LockTests
{
    /// <summary>
    /// Reads the lock file without taking .NET's implicit shared flock (File.ReadAllText would, and fail
    /// while the writer holds its exclusive one).
    /// </summary>
    private static string ReadLockFile(string path)
    {
        using var handle = FileSync.Open(path, FileMode.Open, FileAccess.Read);
        var buffer = new byte[256];
        int n = RandomAccess.Read(handle, buffer, 0);
        return System.Text.Encoding.ASCII.GetString(buffer, 0, n);
    }

    [Test]
    public void Acquire_then_release_allows_reacquire()
    {
        using var dir = new TempDir();
        var held = DirectoryLock.Acquire(dir.Path);
        Assert.That(File.Exists(dir[".lock"]), Is.True);
        Assert.That(held.Path, Is.EqualTo(dir[".lock"]));
        held.Dispose();
        Assert.That(File.Exists(dir[".lock"]), Is.True, "the lock file is never deleted");
        using var again = DirectoryLock.Acquire(dir.Path);
        Assert.That(File.Exists(dir[".lock"]), Is.True);
    }

    [Test]
    public void Second_acquire_fails_while_first_held()
    {
        using var dir = new TempDir();
        using var held = DirectoryLock.Acquire(dir.Path);
        var e = Assert.Throws<StoreLockedException>(() => DirectoryLock.Acquire(dir.Path));
        Assert.That(e!.Message, Does.Contain("already locked"));
        Assert.That(e.Message, Does.StartWith($"datawal: log directory is already locked: {dir[".lock"]} ("));
        Assert.That(e.Message, Does.Contain("). Another process is using this datawal directory."), "upstream's wording is kept");
        Assert.That(e.Message, Does.EndWith(". It is held by this process: another handle in it has the store open; dispose that handle first."));
        Assert.That(e.HeldByThisProcess, Is.True);
        Assert.That(e.HolderProcessId, Is.EqualTo(Environment.ProcessId));
        Assert.That(e.LockPath, Is.EqualTo(dir[".lock"]));
        Assert.That(e, Is.InstanceOf<DataWalException>());
    }

    [Test]
    public void This_process_is_named_as_the_holder_through_a_relative_path_and_forgotten_after_dispose()
    {
        using var dir = new TempDir();
        var held = DirectoryLock.Acquire(dir.Path);
        Assert.That(DirectoryLock.IsHeldByThisProcess(dir.Path), Is.True);
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, dir.Path);
        var e = Assert.Throws<StoreLockedException>(() => DirectoryLock.Acquire(relative));
        Assert.That(e!.HeldByThisProcess, Is.True);
        Assert.That(e.Message, Does.Contain("held by this process"));
        held.Dispose();
        Assert.That(DirectoryLock.IsHeldByThisProcess(dir.Path), Is.False);
        Assert.That(DirectoryLock.ReadHolderProcessId(dir.Path), Is.EqualTo(Environment.ProcessId), "the stale pid stays in the file");
    }

    [Test]
    public void Read_holder_process_id_is_null_without_a_pid()
    {
        using var dir = new TempDir();
        Assert.That(DirectoryLock.ReadHolderProcessId(dir.Path), Is.Null);
        File.WriteAllText(dir[".lock"], "not a pid\n");
        Assert.That(DirectoryLock.ReadHolderProcessId(dir.Path), Is.Null);
        Assert.That(dir.Entries(), Is.EquivalentTo(new[] { ".lock" }));
    }

    [Test]
    public void Drop_releases_lock()
    {
        using var dir = new TempDir();
        DirectoryLock.Acquire(dir.Path).Dispose();
        DirectoryLock.Acquire(dir.Path).Dispose();
        var held = DirectoryLock.Acquire(dir.Path);
        held.Dispose();
        held.Dispose();   // idempotent
        Assert.DoesNotThrow(() => DirectoryLock.Acquire(dir.Path).Dispose());
    }

    [Test]
    public void Stale_lock_file_is_not_a_problem()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir[".lock"], "12345\n");
        using (var held = DirectoryLock.Acquire(dir.Path))
        {
            Assert.That(ReadLockFile(dir[".lock"]), Is.EqualTo(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n"));
        }

        File.WriteAllText(dir[".lock"], "12345\n");
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("x"));
        Assert.That(log.Scan(), Has.Count.EqualTo(1));
    }

    [Test]
    public void Lock_file_holds_the_pid_and_a_newline()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir[".lock"], "a much longer stale content than any pid\n");
        using var held = DirectoryLock.Acquire(dir.Path);
        Assert.That(ReadLockFile(dir[".lock"]), Is.EqualTo($"{Environment.ProcessId}\n"));
    }

    [Test]
    public void Second_record_log_open_in_the_same_process_fails_and_succeeds_after_dispose()
    {
        using var dir = new TempDir();
        var first = RecordLog.Open(dir.Path);
        first.Append(B("one"));
        var e = Assert.Throws<StoreLockedException>(() => RecordLog.Open(dir.Path));
        Assert.That(e!.Message, Does.Contain("already locked"));
        Assert.That(first.IsPoisoned, Is.False, "a failed second open does not disturb the first handle");
        first.Append(B("two"));
        first.Dispose();

        using var second = RecordLog.Open(dir.Path);
        Assert.That(second.Scan().Select(r => S(r.Payload)), Is.EqualTo(new[] { "one", "two" }));
    }

    [Test]
    public void A_failed_open_releases_the_lock()
    {
        using var dir = new TempDir();
        Corpus.CopyTo("bad_crc", dir.Path);
        Assert.Throws<CorruptRecordException>(() => RecordLog.Open(dir.Path));
        Assert.DoesNotThrow(() => DirectoryLock.Acquire(dir.Path).Dispose());
    }

    [Test]
    public void Reader_ignores_the_writer_lock()
    {
        using var dir = new TempDir();
        using var log = RecordLog.Open(dir.Path);
        log.Append(B("a"));
        Assert.That(ReadAll(dir.Path).Select(r => r.Payload), Is.EqualTo(new[] { Hex(B("a")) }));
    }

    [Test]
    public void Lock_is_contended_across_processes_and_released_when_the_holder_is_killed()
    {
        using var dir = new TempDir();
        using var child = ChildProcess.Start("hold-lock", dir.Path);
        Assert.That(child.WaitForLine("LOCK_HELD", TimeSpan.FromSeconds(30)), Is.True, "child never took the lock: " + child.StandardError);

        var e = Assert.Throws<StoreLockedException>(() => RecordLog.Open(dir.Path));
        Assert.That(e!.Message, Does.Contain("already locked"));
        Assert.That(e.Message, Does.Contain("). Another process is using this datawal directory."));
        Assert.That(e.Message, Does.EndWith($" It is held by pid {child.Id} (as recorded in .lock)."));
        Assert.That(e.HeldByThisProcess, Is.False);
        Assert.That(e.HolderProcessId, Is.EqualTo(child.Id));
        Assert.That(DirectoryLock.ReadHolderProcessId(dir.Path), Is.EqualTo(child.Id));
        Assert.That(DirectoryLock.IsHeldByThisProcess(dir.Path), Is.False);
        Assert.Throws<StoreLockedException>(() => DirectoryLock.Acquire(dir.Path));
        Assert.That(ReadLockFile(dir[".lock"]).Trim(), Is.EqualTo(child.Id.ToString(CultureInfo.InvariantCulture)));

        child.Kill();

        RecordLog? log = null;
        var clock = Stopwatch.StartNew();
        while (log is null)
        {
            try
            {
                log = RecordLog.Open(dir.Path);
            }
            catch (StoreLockedException) when (clock.Elapsed < TimeSpan.FromSeconds(5))
            {
                Thread.Sleep(50);
            }
        }

        using (log)
        {
            log.Append(B("after"));
            Assert.That(log.Scan(), Has.Count.EqualTo(1));
        }
    }

    [Test]
    public void Is_held_reports_the_writer_lock_without_creating_or_taking_anything()
    {
        using var dir = new TempDir();
        Assert.That(DirectoryLock.IsHeld(dir.Path), Is.False);
        Assert.That(dir.Entries(), Is.Empty, "the probe creates no .lock");

        var held = DirectoryLock.Acquire(dir.Path);
        Assert.That(DirectoryLock.IsHeld(dir.Path), Is.True);
        Assert.That(ReadLockFile(dir[".lock"]), Is.EqualTo($"{Environment.ProcessId}\n"), "the probe writes nothing");
        held.Dispose();

        Assert.That(DirectoryLock.IsHeld(dir.Path), Is.False);
        Assert.DoesNotThrow(() => DirectoryLock.Acquire(dir.Path).Dispose(), "the probe left no lock behind");

        using (RecordLog.Open(dir.Path))
        {
            Assert.That(DirectoryLock.IsHeld(dir.Path), Is.True);
        }

        Assert.That(DirectoryLock.IsHeld(dir.Path), Is.False);
    }

    [Test]
    public void Is_held_sees_a_writer_in_another_process_until_it_is_killed()
    {
        using var dir = new TempDir();
        using var child = ChildProcess.Start("hold-lock", dir.Path);
        Assert.That(child.WaitForLine("LOCK_HELD", TimeSpan.FromSeconds(30)), Is.True, child.StandardError);
        Assert.That(DirectoryLock.IsHeld(dir.Path), Is.True);
        child.Kill();

        var clock = Stopwatch.StartNew();
        while (DirectoryLock.IsHeld(dir.Path) && clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            Thread.Sleep(50);
        }

        Assert.That(DirectoryLock.IsHeld(dir.Path), Is.False);
    }

    /// <summary>
    /// The probe must not make a writer's open fail. It takes a shared flock for an instant, which a
    /// concurrent exclusive, non-blocking acquisition sees as "already locked".
    /// </summary>
    [Test]
    public void Is_held_probing_never_makes_a_concurrent_open_fail()
    {
        using var dir = new TempDir();
        DirectoryLock.Acquire(dir.Path).Dispose();
        bool stop = false;
        var prober = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                DirectoryLock.IsHeld(dir.Path);
            }
        });
        prober.Start();
        int attempts = 0;
        StoreLockedException? failure = null;
        try
        {
            var clock = Stopwatch.StartNew();
            while (failure is null && attempts < 5_000 && clock.Elapsed < TimeSpan.FromSeconds(1))
            {
                attempts++;
                try
                {
                    DirectoryLock.Acquire(dir.Path).Dispose();
                }
                catch (StoreLockedException e)
                {
                    failure = e;
                }
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            prober.Join();
        }

        Assert.That(failure, Is.Null, $"acquisition {attempts} failed while nobody held the lock, only IsHeld probed it: {failure?.Message}");
    }
}
