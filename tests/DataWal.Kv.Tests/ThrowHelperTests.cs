using DataWal.Core;
using NUnit.Framework;
using SafeAtomic;

namespace DataWal.Kv.Tests;

/// <summary>Pins the text and inner exception of every DataWalException the store's <see cref="ThrowHelper"/> builds.</summary>
public class ThrowHelperTests
{
    private static readonly SystemCallException Inner = new("pread", "/d/00000001.dwal", ErrorNumbers.EIO, "EIO");

    [Test]
    public void Built_exceptions_keep_their_messages_and_inner()
    {
        const string io = "pread /d/00000001.dwal failed: EIO (5)";
        Assert.Multiple(() =>
        {
            Check(ThrowHelper.OpenSegmentFailed("/d/00000001.dwal", Inner), $"datawal: open segment /d/00000001.dwal: {io}");
            Check(ThrowHelper.ReadSegmentFailed("/d/00000001.dwal", 31, Inner), $"datawal: read segment /d/00000001.dwal at offset 31: {io}");
            Check(ThrowHelper.ExportJsonlFailed("/out/x.jsonl", Inner), $"datawal: export jsonl to /out/x.jsonl: {io}");

            // SafeAtomic's own sentence names its temp files: the export says the outcome once, then the failed call.
            var open = new SystemCallException("open", "/out/..x.jsonl.1.tmp.2.tmp", ErrorNumbers.ENOSPC, "ENOSPC");
            var notWritten = new NotWrittenException("safeatomic: could not write /out/.x.jsonl.1.tmp; it was left unchanged: " + open.Message, "/out/.x.jsonl.1.tmp", open);
            Check(ThrowHelper.ExportJsonlFailed("/out/x.jsonl", notWritten),
                "datawal: export jsonl to /out/x.jsonl: not written, an existing file was left unchanged: open /out/..x.jsonl.1.tmp.2.tmp failed: ENOSPC (28)", notWritten);
            var fsync = new SystemCallException("fsync", "/out", ErrorNumbers.EIO, "EIO");
            var notDurable = new DurabilityUnconfirmedException("safeatomic: /out/x.jsonl is in place but ...: " + fsync.Message, "/out/x.jsonl", fsync);
            Check(ThrowHelper.ExportJsonlFailed("/out/x.jsonl", notDurable),
                "datawal: export jsonl to /out/x.jsonl: in place, but its directory could not be fsynced, so durability is not confirmed: fsync /out failed: EIO (5)", notDurable);
        });

        static void Check(DataWalException built, string message, Exception? inner = null)
        {
            Assert.That(built.GetType(), Is.EqualTo(typeof(DataWalException)));
            Assert.That(built.Message, Is.EqualTo(message));
            Assert.That(built.InnerException, Is.SameAs(inner ?? Inner));
        }
    }

    [Test]
    public void Compaction_target_throwers_keep_their_messages()
    {
        Assert.That(Assert.Throws<DataWalException>(() => ThrowHelper.ThrowCompactTargetIsNotADirectory("/t"))!.Message,
            Is.EqualTo("datawal: compact_to target /t is not a directory (KvStore.CompactTo)"));
        Assert.That(Assert.Throws<DataWalException>(() => ThrowHelper.ThrowCompactTargetIsNotEmpty("/t"))!.Message,
            Is.EqualTo("datawal: compact_to target /t is not empty; refusing to overwrite (KvStore.CompactTo)"));
    }
}
