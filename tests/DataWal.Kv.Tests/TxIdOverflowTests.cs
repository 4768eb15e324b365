using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>The KV store's writes take txids from the same writer, so they never wrap either (docs/design.md D18).</summary>
public class TxIdOverflowTests
{
    [Test]
    public void A_store_whose_maximum_txid_is_ulong_max_reads_and_refuses_puts_and_deletes_without_writing()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(Seg(dir.Path, 1), [
            .. WireFormat.Encode(RecordType.Put, 3, B("a"), B("1")),
            .. WireFormat.Encode(RecordType.Put, ulong.MaxValue, B("k"), B("v")),
        ]);
        byte[] before = File.ReadAllBytes(Seg(dir.Path, 1));

        using (var store = KvStore.Open(dir.Path))
        {
            Assert.That(S(store.Get(B("k"))), Is.EqualTo("v"));
            var e = Assert.Throws<WriterPoisonedException>(() => store.Put(B("new"), B("x")))!;
            Assert.That(e.Message, Is.EqualTo("datawal: writer poisoned: txid overflow; drop handle and reopen"));
            Assert.Throws<WriterPoisonedException>(() => store.Delete(B("a")));
            Assert.That(store.Get(B("new")), Is.Null, "the key directory is unchanged");
            Assert.That(S(store.Get(B("a"))), Is.EqualTo("1"));
        }

        Assert.That(File.ReadAllBytes(Seg(dir.Path, 1)), Is.EqualTo(before), "nothing written");
    }
}
