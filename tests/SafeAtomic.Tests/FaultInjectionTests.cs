using NUnit.Framework;
using TestSupport;
using static SafeAtomic.Tests.Helpers;

namespace SafeAtomic.Tests;

/// <summary>
/// Injected system-call failures at every step of every operation, through the seam: what is on disk
/// afterwards, that no temp file is left, and the exact exception type with the injected errno.
/// </summary>
public class FaultInjectionTests
{
    private static readonly (Call Call, int Errno)[] PreCommitFaults =
    [
        (Call.Open, ErrorNumbers.EIO), (Call.Open, ErrorNumbers.ENOSPC), (Call.Open, ErrorNumbers.EACCES), (Call.Open, ErrorNumbers.EROFS),
        (Call.Write, ErrorNumbers.EIO), (Call.Write, ErrorNumbers.ENOSPC), (Call.Write, ErrorNumbers.EDQUOT),
        (Call.Fsync, ErrorNumbers.EIO), (Call.Fsync, ErrorNumbers.ENOSPC),
        (Call.Rename, ErrorNumbers.EIO), (Call.Rename, ErrorNumbers.EXDEV), (Call.Rename, ErrorNumbers.EACCES),
    ];

    public static IEnumerable<TestCaseData> ReplaceFaults() =>
        from v in AllVariants
        from f in PreCommitFaults
        select new TestCaseData(v, f.Call, f.Errno).SetArgDisplayNames(v.ToString(), f.Call.ToString(), ErrorNumbers.Name(f.Errno));

    public static IEnumerable<TestCaseData> CreateFaults() =>
        from v in AllVariants
        from c in new[] { Call.Open, Call.Write, Call.Fsync, Call.Rename }
        select new TestCaseData(v, c).SetArgDisplayNames(v.ToString(), c.ToString());

    // ---------------------------------------------------------------- WriteAtomic (all four entry points)

    [TestCaseSource(nameof(ReplaceFaults))]
    public void WriteAtomic_failure_before_the_rename_is_NotWritten_keeps_the_old_content_and_removes_the_temp(WriteVariant variant, Call call, int errno)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(call, errno);
            var e = Assert.Throws<NotWrittenException>(() => Write(variant, target, Utf8("new content")));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(errno));
            Assert.That(e.SystemError!.ErrorName, Is.EqualTo(ErrorNumbers.Name(errno)));
            Assert.That(e.Path, Is.EqualTo(target));

            var calls = faults.Calls;
            Assert.That(calls.Select(c => c.Call), Has.No.Member(Call.FsyncDirectory));
            if (call != Call.Open)
            {
                // The temp that was created is removed, through the seam, and nothing else is tried
                // after the failure (in particular no copy fallback after a failed rename).
                var expected = new[] { Call.Open, Call.Write, Call.Fsync, Call.Rename }.TakeWhile(c => c != call).Append(call).Append(Call.Unlink);
                Assert.That(calls.Select(c => c.Call), Is.EqualTo(expected));
                Assert.That(calls[^1].Path, Is.EqualTo(calls[0].Path), "the unlinked file is the temp");
            }
        }

        Assert.That(Text(target), Is.EqualTo("old"));
        AssertEntries(dir, "a.txt");
        AssertNoTemps(dir.Path);
    }

    [TestCaseSource(nameof(CreateFaults))]
    public void WriteAtomic_failure_on_a_new_target_creates_nothing(WriteVariant variant, Call call)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(call, ErrorNumbers.EIO);
            var e = Assert.Throws<NotWrittenException>(() => Write(variant, target, Utf8("new")));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
        }

        AssertEntries(dir);
    }

    [TestCaseSource(typeof(Helpers), nameof(AllVariants))]
    public void WriteAtomic_torn_write_one_byte_then_EIO_is_NotWritten_and_the_torn_temp_is_removed(WriteVariant variant)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");

        using (var faults = FaultInjector.Install())
        {
            faults.ShortWrites(1, times: 1).Fail(Call.Write, ErrorNumbers.EIO);
            var e = Assert.Throws<NotWrittenException>(() => Write(variant, target, Utf8("new content")));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
            Assert.That(faults.Count(Call.Write), Is.EqualTo(2));
        }

        Assert.That(Text(target), Is.EqualTo("old"));
        AssertEntries(dir, "a.txt");
    }

    [TestCaseSource(typeof(Helpers), nameof(AllVariants))]
    public void WriteAtomic_directory_fsync_failure_is_DurabilityUnconfirmed_with_the_new_content_in_place(WriteVariant variant)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.FsyncDirectory, ErrorNumbers.EIO);
            var e = Assert.Throws<DurabilityUnconfirmedException>(() => Write(variant, target, Utf8("new")));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
            Assert.That(e.Path, Is.EqualTo(target));
            Assert.That(faults.Count(Call.Unlink), Is.Zero, "no rollback after the commit point");
        }

        Assert.That(Text(target), Is.EqualTo("new"));
        AssertEntries(dir, "a.txt");
    }

    [TestCaseSource(typeof(Helpers), nameof(AllVariants))]
    public void WriteAtomic_short_writes_of_one_byte_still_produce_the_full_content(WriteVariant variant)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        var content = Utf8("every byte arrives, one write at a time");

        using (var faults = FaultInjector.Install())
        {
            faults.ShortWrites(1);
            Write(variant, target, content);
            Assert.That(faults.Count(Call.Write), Is.EqualTo(content.Length));
        }

        Assert.That(File.ReadAllBytes(target), Is.EqualTo(content));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void WriteAtomic_short_writes_on_a_large_streamed_content_still_produce_the_full_content()
    {
        using var dir = new TempDir();
        var target = dir["a.bin"];
        var content = new byte[300_000];
        new Random(3).NextBytes(content);

        using (var faults = FaultInjector.Install())
        {
            faults.ShortWrites(4093);
            AtomicFile.WriteAtomic(target, s =>
            {
                for (int at = 0; at < content.Length; at += 1000)
                {
                    s.Write(content, at, Math.Min(1000, content.Length - at));
                }
            });
        }

        Assert.That(File.ReadAllBytes(target), Is.EqualTo(content));
    }

    [TestCaseSource(typeof(Helpers), nameof(AllVariants))]
    public void WriteAtomic_a_write_that_accepts_zero_bytes_is_EIO_not_an_endless_loop(WriteVariant variant)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");

        using (var faults = FaultInjector.Install())
        {
            faults.ShortWrites(0);
            var e = Assert.Throws<NotWrittenException>(() => Write(variant, target, Utf8("new")));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
            Assert.That(faults.Count(Call.Write), Is.EqualTo(1));
        }

        Assert.That(Text(target), Is.EqualTo("old"));
        AssertEntries(dir, "a.txt");
    }

    [TestCaseSource(typeof(Helpers), nameof(AllVariants))]
    public void WriteAtomic_EINTR_is_retried_transparently_at_every_retryable_step(WriteVariant variant)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        var content = Utf8("interrupted but complete");

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Open, ErrorNumbers.EINTR, times: 2)
                .Fail(Call.Write, ErrorNumbers.EINTR, times: 3)
                .Fail(Call.Fsync, ErrorNumbers.EINTR, times: 2)
                .Fail(Call.FsyncDirectory, ErrorNumbers.EINTR, times: 2);
            Write(variant, target, content);
            Assert.That(faults.Count(Call.Open), Is.EqualTo(3));
            Assert.That(faults.Count(Call.Write), Is.EqualTo(4));
            Assert.That(faults.Count(Call.Fsync), Is.EqualTo(3));
            Assert.That(faults.Count(Call.FsyncDirectory), Is.EqualTo(3));
        }

        Assert.That(File.ReadAllBytes(target), Is.EqualTo(content));
        AssertEntries(dir, "a.txt");
    }

    [TestCase(Call.Write)]
    [TestCase(Call.Fsync)]
    public void WriteAtomic_persistent_EINTR_gives_up_with_NotWritten(Call call)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(call, ErrorNumbers.EINTR);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteAtomic(target, "new"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EINTR));
            Assert.That(faults.Count(call), Is.InRange(2, 1000), "EINTR retries must be bounded");
        }

        Assert.That(Text(target), Is.EqualTo("old"));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void WriteAtomic_persistent_EINTR_on_the_directory_fsync_gives_up_with_DurabilityUnconfirmed()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.FsyncDirectory, ErrorNumbers.EINTR);
            var e = Assert.Throws<DurabilityUnconfirmedException>(() => AtomicFile.WriteAtomic(target, "new"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EINTR));
        }

        Assert.That(Text(target), Is.EqualTo("new"));
    }

    [Test]
    public void WriteAtomic_a_failed_cleanup_reports_the_original_error_and_leaves_a_sweepable_temp()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Fsync, ErrorNumbers.ENOSPC).Fail(Call.Unlink, ErrorNumbers.EACCES);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteAtomic(target, "new"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.ENOSPC), "the cleanup error must not mask the cause");
        }

        Assert.That(Text(target), Is.EqualTo("old"));
        var leftovers = AtomicFile.FindTempFiles(dir.Path);
        Assert.That(leftovers, Has.Count.EqualTo(1), "an unremovable temp is still recognisable as one");
        Assert.That(Path.GetFileName(leftovers[0]), Does.StartWith(".a.txt."));
    }

    // ---------------------------------------------------------------- WriteOnce

    [TestCase(Call.Open, ErrorNumbers.EIO)]
    [TestCase(Call.Open, ErrorNumbers.EACCES)]
    [TestCase(Call.Write, ErrorNumbers.ENOSPC)]
    [TestCase(Call.Fsync, ErrorNumbers.EIO)]
    [TestCase(Call.RenameNoReplace, ErrorNumbers.EIO)]
    [TestCase(Call.RenameNoReplace, ErrorNumbers.EXDEV)]
    public void WriteOnce_failure_before_the_rename_is_NotWritten_and_creates_nothing(Call call, int errno)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(call, errno);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteOnce(target, "new"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(errno));
            Assert.That(e.Path, Is.EqualTo(target));
            Assert.That(faults.Count(Call.FsyncDirectory), Is.Zero);
        }

        AssertEntries(dir);
        Assert.That(AtomicFile.WriteOnce(target, "after"u8), Is.True, "a failed attempt leaves the name free");
        Assert.That(Text(target), Is.EqualTo("after"));
    }

    [Test]
    public void WriteOnce_directory_fsync_failure_is_DurabilityUnconfirmed_with_the_file_in_place()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.FsyncDirectory, ErrorNumbers.EIO);
            var e = Assert.Throws<DurabilityUnconfirmedException>(() => AtomicFile.WriteOnce(target, "new"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
        }

        Assert.That(Text(target), Is.EqualTo("new"));
        AssertEntries(dir, "a.txt");
        Assert.That(AtomicFile.WriteOnce(target, "again"u8), Is.False);
    }

    [Test]
    public void WriteOnce_short_writes_and_EINTR_still_produce_the_full_content()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        var content = Utf8("write once, byte by byte");
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Write, ErrorNumbers.EINTR, times: 2).ShortWrites(1);
            Assert.That(AtomicFile.WriteOnce(target, content), Is.True);
        }

        Assert.That(File.ReadAllBytes(target), Is.EqualTo(content));
        AssertEntries(dir, "a.txt");
    }

    // ---------------------------------------------------------------- WriteOnceWithParents

    [Test]
    public void WriteOnceWithParents_mkdir_failure_is_NotWritten_and_creates_nothing()
    {
        using var dir = new TempDir();
        var target = Path.Combine(dir.Path, "a", "b", "f.txt");
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.CreateDirectory, ErrorNumbers.EACCES);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteOnceWithParents(target, "x"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EACCES));
            Assert.That(e.Path, Is.EqualTo(target));
            Assert.That(faults.Count(Call.Open), Is.Zero);
        }

        AssertEntries(dir);
    }

    [Test]
    public void WriteOnceWithParents_mkdir_failure_at_a_deeper_level_stops_there_and_writes_no_file()
    {
        using var dir = new TempDir();
        var target = Path.Combine(dir.Path, "a", "b", "c", "f.txt");
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.CreateDirectory, ErrorNumbers.ENOSPC, skip: 1);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteOnceWithParents(target, "x"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.ENOSPC));
            Assert.That(faults.Count(Call.CreateDirectory), Is.EqualTo(2));
            Assert.That(faults.Count(Call.Open), Is.Zero);
        }

        // The first level was made (and made durable) before the failure; nothing below it exists.
        AssertEntries(dir, "a");
        Assert.That(Directory.EnumerateFileSystemEntries(dir["a"]), Is.Empty);
    }

    [Test]
    public void WriteOnceWithParents_parent_fsync_failure_is_NotWritten_and_stops_creating()
    {
        using var dir = new TempDir();
        var target = Path.Combine(dir.Path, "a", "b", "f.txt");
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.FsyncDirectory, ErrorNumbers.EIO, path: p => p == dir.Path);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteOnceWithParents(target, "x"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
            Assert.That(faults.Count(Call.CreateDirectory), Is.EqualTo(1), "nothing is built on a directory that is not durable");
            Assert.That(faults.Count(Call.Open), Is.Zero);
        }

        Assert.That(File.Exists(target), Is.False);
        Assert.That(Directory.Exists(dir["a"]), Is.True);
        Assert.That(Directory.EnumerateFileSystemEntries(dir["a"]), Is.Empty);
    }

    [Test]
    public void WriteOnceWithParents_fsync_failure_of_an_intermediate_parent_is_NotWritten()
    {
        using var dir = new TempDir();
        var target = Path.Combine(dir.Path, "a", "b", "c", "f.txt");
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.FsyncDirectory, ErrorNumbers.EIO, path: p => p == dir["a"]);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteOnceWithParents(target, "x"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
            Assert.That(faults.Count(Call.CreateDirectory), Is.EqualTo(2));
        }

        Assert.That(File.Exists(target), Is.False);
        Assert.That(Directory.Exists(Path.Combine(dir.Path, "a", "b", "c")), Is.False);
    }

    [Test]
    public void WriteOnceWithParents_failure_of_the_final_directory_fsync_is_DurabilityUnconfirmed()
    {
        using var dir = new TempDir();
        var leaf = Path.Combine(dir.Path, "a", "b");
        var target = Path.Combine(leaf, "f.txt");
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.FsyncDirectory, ErrorNumbers.EIO, path: p => p == leaf);
            var e = Assert.Throws<DurabilityUnconfirmedException>(() => AtomicFile.WriteOnceWithParents(target, "x"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
        }

        Assert.That(Text(target), Is.EqualTo("x"));
        AssertNoTemps(leaf);
    }

    [TestCase(Call.Write)]
    [TestCase(Call.Fsync)]
    [TestCase(Call.RenameNoReplace)]
    public void WriteOnceWithParents_failure_after_the_directories_exist_leaves_no_file_and_no_temp(Call call)
    {
        using var dir = new TempDir();
        var leaf = Path.Combine(dir.Path, "a", "b");
        var target = Path.Combine(leaf, "f.txt");
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(call, ErrorNumbers.EIO);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteOnceWithParents(target, "x"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
        }

        Assert.That(Directory.Exists(leaf), Is.True);
        Assert.That(Directory.EnumerateFileSystemEntries(leaf), Is.Empty);
    }

    // ---------------------------------------------------------------- WriteAppendFsync

    [TestCase(ErrorNumbers.EACCES)]
    [TestCase(ErrorNumbers.EIO)]
    [TestCase(ErrorNumbers.ENOSPC)]
    public void WriteAppendFsync_open_failure_is_NotWritten_and_changes_nothing(int errno)
    {
        using var dir = new TempDir();
        var existing = dir["log.txt"];
        var missing = dir["new.txt"];
        File.WriteAllText(existing, "old\n");

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.OpenAppend, errno);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteAppendFsync(existing, "more\n"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(errno));
            Assert.That(e.Path, Is.EqualTo(existing));
            var e2 = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteAppendFsync(missing, "more\n"u8));
            Assert.That(e2!.SystemError?.ErrorNumber, Is.EqualTo(errno));
        }

        Assert.That(Text(existing), Is.EqualTo("old\n"));
        AssertEntries(dir, "log.txt");
    }

    [TestCase(Call.Write, ErrorNumbers.EIO)]
    [TestCase(Call.Write, ErrorNumbers.ENOSPC)]
    [TestCase(Call.Fsync, ErrorNumbers.EIO)]
    public void WriteAppendFsync_write_or_fsync_failure_is_the_base_SafeAtomicException_not_NotWritten(Call call, int errno)
    {
        using var dir = new TempDir();
        var log = dir["log.txt"];
        File.WriteAllText(log, "old\n");

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(call, errno);
            // Exactly the base type: the file may end in part of this append, so "not written" would lie.
            var e = Assert.Throws<SafeAtomicException>(() => AtomicFile.WriteAppendFsync(log, "more\n"u8));
            Assert.That(e, Is.Not.InstanceOf<NotWrittenException>());
            Assert.That(e, Is.Not.InstanceOf<DurabilityUnconfirmedException>());
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(errno));
            Assert.That(e.Path, Is.EqualTo(log));
        }

        Assert.That(Text(log), Does.StartWith("old\n"));
        AssertEntries(dir, "log.txt");
    }

    [Test]
    public void WriteAppendFsync_a_torn_append_leaves_its_prefix_and_says_so()
    {
        using var dir = new TempDir();
        var log = dir["log.txt"];
        File.WriteAllText(log, "old\n");

        using (var faults = FaultInjector.Install())
        {
            faults.ShortWrites(2, times: 1).Fail(Call.Write, ErrorNumbers.EIO);
            var e = Assert.Throws<SafeAtomicException>(() => AtomicFile.WriteAppendFsync(log, "more\n"u8));
            Assert.That(e!.Message, Does.Contain("part of this append"));
        }

        Assert.That(Text(log), Is.EqualTo("old\nmo"));
    }

    [Test]
    public void WriteAppendFsync_directory_fsync_failure_after_creating_is_DurabilityUnconfirmed()
    {
        using var dir = new TempDir();
        var log = dir["log.txt"];
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.FsyncDirectory, ErrorNumbers.EIO);
            var e = Assert.Throws<DurabilityUnconfirmedException>(() => AtomicFile.WriteAppendFsync(log, "first\n"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));

            // The file now exists: the next append does not fsync the directory, so it succeeds.
            AtomicFile.WriteAppendFsync(log, "second\n"u8);
        }

        Assert.That(Text(log), Is.EqualTo("first\nsecond\n"));
    }

    [Test]
    public void WriteAppendFsync_short_writes_and_EINTR_still_append_everything()
    {
        using var dir = new TempDir();
        var log = dir["log.txt"];
        File.WriteAllText(log, "old\n");
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Write, ErrorNumbers.EINTR, times: 2).ShortWrites(1).Fail(Call.Fsync, ErrorNumbers.EINTR, times: 1);
            AtomicFile.WriteAppendFsync(log, "appended in pieces\n"u8);
        }

        Assert.That(Text(log), Is.EqualTo("old\nappended in pieces\n"));
    }

    // ---------------------------------------------------------------- RenameAtomic

    [TestCase(ErrorNumbers.EIO)]
    [TestCase(ErrorNumbers.EACCES)]
    [TestCase(ErrorNumbers.ENOSPC)]
    public void RenameAtomic_rename_failure_is_NotWritten_with_source_and_destination_intact(int errno)
    {
        using var dir = new TempDir();
        var from = dir["from.txt"];
        var to = dir["to.txt"];
        File.WriteAllText(from, "source");
        File.WriteAllText(to, "destination");

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Rename, errno);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.RenameAtomic(from, to));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(errno));
            Assert.That(e.Path, Is.EqualTo(to));
            Assert.That(faults.Calls.Select(c => c.Call), Is.EqualTo(new[] { Call.Rename }));
        }

        Assert.That(Text(from), Is.EqualTo("source"));
        Assert.That(Text(to), Is.EqualTo("destination"));
    }

    [TestCase(true)]
    [TestCase(false)]
    public void RenameAtomic_EXDEV_is_CrossDevice_with_source_intact_destination_unchanged_and_no_copy(bool destinationExists)
    {
        using var dir = new TempDir();
        var from = dir["from.txt"];
        var to = dir["to.txt"];
        File.WriteAllText(from, "source");
        if (destinationExists)
        {
            File.WriteAllText(to, "destination");
        }

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Rename, ErrorNumbers.EXDEV);
            var e = Assert.Throws<CrossDeviceException>(() => AtomicFile.RenameAtomic(from, to));
            Assert.That(e!.Source, Is.EqualTo(from));
            Assert.That(e.Destination, Is.EqualTo(to));
            Assert.That(e.InnerException, Is.InstanceOf<SystemCallException>());
            Assert.That(e.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EXDEV));
            // No copy-and-delete fallback: nothing but the one failed rename reached the file system.
            Assert.That(faults.Calls.Select(c => c.Call), Is.EqualTo(new[] { Call.Rename }));
        }

        Assert.That(Text(from), Is.EqualTo("source"));
        if (destinationExists)
        {
            Assert.That(Text(to), Is.EqualTo("destination"));
            AssertEntries(dir, "from.txt", "to.txt");
        }
        else
        {
            AssertEntries(dir, "from.txt");
        }
    }

    [TestCase(ErrorNumbers.EXDEV, typeof(CrossDeviceException))]
    [TestCase(ErrorNumbers.EIO, typeof(NotWrittenException))]
    public void RenameAtomic_without_overwrite_translates_failures_too(int errno, Type expected)
    {
        using var dir = new TempDir();
        var from = dir["from.txt"];
        var to = dir["to.txt"];
        File.WriteAllText(from, "source");

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.RenameNoReplace, errno);
            var e = Assert.Throws(expected, () => AtomicFile.RenameAtomic(from, to, overwrite: false));
            Assert.That(((SafeAtomicException)e!).SystemError?.ErrorNumber, Is.EqualTo(errno));
        }

        AssertEntries(dir, "from.txt");
        Assert.That(Text(from), Is.EqualTo("source"));
    }

    [Test]
    public void RenameAtomic_destination_directory_fsync_failure_is_DurabilityUnconfirmed_after_the_rename()
    {
        using var dir = new TempDir();
        var from = dir["from.txt"];
        var to = dir["to.txt"];
        File.WriteAllText(from, "source");

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.FsyncDirectory, ErrorNumbers.EIO);
            var e = Assert.Throws<DurabilityUnconfirmedException>(() => AtomicFile.RenameAtomic(from, to));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
        }

        AssertEntries(dir, "to.txt");
        Assert.That(Text(to), Is.EqualTo("source"));
    }

    [Test]
    public void RenameAtomic_source_directory_fsync_failure_is_DurabilityUnconfirmed_too()
    {
        using var src = new TempDir("src");
        using var dst = new TempDir("dst");
        var from = src["f.txt"];
        var to = dst["f.txt"];
        File.WriteAllText(from, "moving");

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.FsyncDirectory, ErrorNumbers.EIO, path: p => p == src.Path);
            var e = Assert.Throws<DurabilityUnconfirmedException>(() => AtomicFile.RenameAtomic(from, to));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
            Assert.That(faults.Calls.Where(c => c.Call == Call.FsyncDirectory).Select(c => c.Path), Is.EqualTo(new[] { dst.Path, src.Path }));
        }

        Assert.That(File.Exists(from), Is.False);
        Assert.That(Text(to), Is.EqualTo("moving"));
    }

    [Test]
    public void RenameAtomic_a_real_cross_device_move_is_refused_without_copying()
    {
        RequireUnix();
        const string shm = "/dev/shm";
        if (!Directory.Exists(shm) || SameDevice(shm, Path.GetTempPath()))
        {
            Assert.Ignore("no second file system (/dev/shm) to move across");
        }

        using var dir = new TempDir();
        var from = dir["from.txt"];
        File.WriteAllText(from, "stays");
        var to = Path.Combine(shm, "safeatomic-xdev-" + Guid.NewGuid().ToString("N"));
        try
        {
            var e = Assert.Throws<CrossDeviceException>(() => AtomicFile.RenameAtomic(from, to));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EXDEV));
            Assert.That(File.Exists(to), Is.False, "never copy-and-delete");
            Assert.That(Text(from), Is.EqualTo("stays"));

            var e2 = Assert.Throws<CrossDeviceException>(() => AtomicFile.RenameAtomic(from, to, overwrite: false));
            Assert.That(e2!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EXDEV));
            Assert.That(File.Exists(to), Is.False);
            Assert.That(Text(from), Is.EqualTo("stays"));
        }
        finally
        {
            File.Delete(to);
        }
    }

    // ---------------------------------------------------------------- FsyncDir

    [Test]
    public void FsyncDir_failure_surfaces_as_a_SystemCallException_with_the_errno()
    {
        using var dir = new TempDir();
        using var faults = FaultInjector.Install();
        faults.Fail(Call.FsyncDirectory, ErrorNumbers.EIO);
        var e = Assert.Throws<SystemCallException>(() => AtomicFile.FsyncDir(dir.Path));
        Assert.That(e!.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
        Assert.That(e.Path, Is.EqualTo(dir.Path));
    }

    private static bool SameDevice(string a, string b)
    {
        Assert.That(Mono.Unix.Native.Syscall.stat(a, out var sa), Is.Zero, $"stat {a}");
        Assert.That(Mono.Unix.Native.Syscall.stat(b, out var sb), Is.Zero, $"stat {b}");
        return sa.st_dev == sb.st_dev;
    }
}
