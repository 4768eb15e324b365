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
        });

        static void Check(DataWalException built, string message)
        {
            Assert.That(built.GetType(), Is.EqualTo(typeof(DataWalException)));
            Assert.That(built.Message, Is.EqualTo(message));
            Assert.That(built.InnerException, Is.SameAs(Inner));
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
