using System.Text;
using NUnit.Framework;
using TestSupport;

namespace SafeAtomic.Tests;

public class WriteAtomicTests
{
    [Test]
    public void Creates_then_replaces_the_target_and_leaves_no_temp()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];

        AtomicFile.WriteAtomic(target, "one"u8);
        AtomicFile.WriteAtomic(target, "two"u8);

        Assert.That(File.ReadAllText(target), Is.EqualTo("two"));
        Assert.That(dir.Entries(), Is.EqualTo(new[] { "a.txt" }));
    }

    [Test]
    public void Injected_fsync_failure_leaves_the_old_content_and_no_temp()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        AtomicFile.WriteAtomic(target, "old"u8);

        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Fsync, ErrorNumbers.EIO);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteAtomic(target, "new"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EIO));
        }

        Assert.That(File.ReadAllText(target, Encoding.UTF8), Is.EqualTo("old"));
        Assert.That(dir.Entries(), Is.EqualTo(new[] { "a.txt" }));
    }
}
