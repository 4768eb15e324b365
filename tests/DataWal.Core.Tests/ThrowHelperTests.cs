using NUnit.Framework;
using SafeAtomic;

namespace DataWal.Core.Tests;

/// <summary>
/// Pins the text and inner exception of every DataWalException <see cref="ThrowHelper"/> builds: callers
/// moved to it from inline throws, and tests, snapshots and users match these messages.
/// </summary>
public class ThrowHelperTests
{
    private static readonly SystemCallException Inner = new("fsync", "/d/x", ErrorNumbers.EIO, "EIO");

    private static IEnumerable<TestCaseData> Built()
    {
        const string io = "fsync /d/x failed: EIO (5)";
        yield return Case("CreateLogDirectoryFailed", ThrowHelper.CreateLogDirectoryFailed("/d", Inner), $"datawal: create log directory /d: {io}");
        yield return Case("OpenRecordLogFailed", ThrowHelper.OpenRecordLogFailed("/d", Inner), $"datawal: open record log /d: {io}");
        yield return Case("ListLogDirectoryFailed", ThrowHelper.ListLogDirectoryFailed("/d", Inner), $"datawal: list log directory /d: {io}");
        yield return Case("FsyncLogDirectoryFailed", ThrowHelper.FsyncLogDirectoryFailed("/d", Inner), $"datawal: fsync log directory /d: {io}");
        yield return Case("OpenLockFileFailed", ThrowHelper.OpenLockFileFailed("/d/.lock", Inner), $"datawal: open lock file /d/.lock: {io}");
        yield return Case("CreateSegmentFailed", ThrowHelper.CreateSegmentFailed("/d/00000002.dwal", Inner), $"datawal: create segment /d/00000002.dwal: {io}");
        yield return Case("OpenSegmentFailed", ThrowHelper.OpenSegmentFailed("/d/00000001.dwal", Inner), $"datawal: open segment /d/00000001.dwal: {io}");
        yield return Case("StatSegmentFailed", ThrowHelper.StatSegmentFailed("/d/00000001.dwal", Inner), $"datawal: stat segment /d/00000001.dwal: {io}");
        yield return Case("ReadSegmentFailed", ThrowHelper.ReadSegmentFailed("/d/00000001.dwal", 4096, Inner), $"datawal: read segment /d/00000001.dwal at offset 4096: {io}");
        yield return Case("WriteSegmentFailed", ThrowHelper.WriteSegmentFailed("/d/00000001.dwal", Inner), $"datawal: write_all to segment /d/00000001.dwal: {io}");
        yield return Case("FsyncSegmentFailed", ThrowHelper.FsyncSegmentFailed("/d/00000001.dwal", Inner), $"datawal: fsync segment /d/00000001.dwal: {io}");
        yield return Case("FollowFsyncSegmentFailed", ThrowHelper.FollowFsyncSegmentFailed("/d/00000001.dwal", Inner), $"datawal: follow: fsync segment /d/00000001.dwal: {io}");
        yield return Case("FollowOpenSegmentFailed", ThrowHelper.FollowOpenSegmentFailed("/d/00000001.dwal", Inner), $"datawal: follow: open segment /d/00000001.dwal: {io}");

        static TestCaseData Case(string name, DataWalException built, string message) =>
            new TestCaseData(built, message).SetArgDisplayNames(name);
    }

    [TestCaseSource(nameof(Built))]
    public void A_built_exception_keeps_its_message_and_inner(DataWalException built, string message)
    {
        Assert.That(built.GetType(), Is.EqualTo(typeof(DataWalException)));
        Assert.That(built.Message, Is.EqualTo(message));
        Assert.That(built.InnerException, Is.SameAs(Inner));
    }

    [Test]
    public void A_follower_open_failure_keeps_a_non_SafeAtomic_inner()
    {
        var inner = new UnauthorizedAccessException("Access to the path '/d/00000001.dwal' is denied.");
        var built = ThrowHelper.FollowOpenSegmentFailed("/d/00000001.dwal", inner);
        Assert.That(built.Message, Is.EqualTo("datawal: follow: open segment /d/00000001.dwal: Access to the path '/d/00000001.dwal' is denied."));
        Assert.That(built.InnerException, Is.SameAs(inner));
    }

    private static IEnumerable<TestCaseData> Thrown()
    {
        yield return Case("ThrowReaderDirectoryIsNotADirectory", () => ThrowHelper.ThrowReaderDirectoryIsNotADirectory("/d"), "datawal: reader dir /d is not a directory");
        yield return Case("ThrowReaderDirectoryMissing", () => ThrowHelper.ThrowReaderDirectoryMissing("/d"), "datawal: stat reader dir /d: No such file or directory (os error 2); no store there: the directory does not exist (a reader never creates it)");
        yield return Case("ThrowSegmentIdOverflow", () => ThrowHelper.ThrowSegmentIdOverflow(99_999_999), "datawal: segment id overflow: 99999999 is the last id an 8-digit segment name can hold");
        yield return Case("ThrowSegmentShrank", () => ThrowHelper.ThrowSegmentShrank("/d/00000001.dwal", 10, 31),
            "datawal: segment /d/00000001.dwal is 10 bytes, shorter than offset 31 already read; the log was truncated or replaced");

        static TestCaseData Case(string name, Action thrower, string message) =>
            new TestCaseData(thrower, message).SetArgDisplayNames(name);
    }

    [Test]
    public void A_missing_reader_directory_is_a_StoreNotFoundException_naming_it() =>
        Assert.That(Assert.Throws<StoreNotFoundException>(() => ThrowHelper.ThrowReaderDirectoryMissing("/d"))!.Directory, Is.EqualTo("/d"));

    [TestCaseSource(nameof(Thrown))]
    public void A_thrower_throws_a_DataWalException_with_its_message(Action thrower, string message)
    {
        var e = Assert.Catch<DataWalException>(() => thrower())!;
        Assert.That(e.Message, Is.EqualTo(message));
        Assert.That(e.InnerException, Is.Null);
    }
}
