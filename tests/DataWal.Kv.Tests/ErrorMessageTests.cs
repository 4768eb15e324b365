using System.Buffers;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Kv.Tests;

/// <summary>Errors a .NET user can act on: they name the store, the path and the real problem.</summary>
public class ErrorMessageTests
{
    private static IEnumerable<TestCaseData> DataMembers()
    {
        static TestCaseData Case(string name, Action<KvStore> use) => new TestCaseData(use).SetArgDisplayNames(name);
        yield return Case("Count", k => _ = k.Count);
        yield return Case("IsEmpty", k => _ = k.IsEmpty);
        yield return Case("KeyDirectoryBytes", k => _ = k.KeyDirectoryBytes);
        yield return Case("LiveBytes", k => _ = k.LiveBytes);
        yield return Case("ContainsKey(span)", k => k.ContainsKey("a"u8));
        yield return Case("ContainsKey(byte[])", k => k.ContainsKey("a"u8.ToArray()));
        yield return Case("ContainsKey(string)", k => k.ContainsKey("a"));
        yield return Case("RefOf(span)", k => k.RefOf("a"u8));
        yield return Case("RefOf(byte[])", k => k.RefOf("a"u8.ToArray()));
        yield return Case("Get(span)", k => k.Get("a"u8));
        yield return Case("Get(byte[])", k => k.Get("a"u8.ToArray()));
        yield return Case("GetString", k => k.GetString("a"));
        yield return Case("TryGet", k => k.TryGet("a"u8, new ArrayBufferWriter<byte>()));
        yield return Case("Keys", k => k.Keys());
        yield return Case("Items", k => k.Items());
        yield return Case("Put(span)", k => k.Put("a"u8, "b"u8));
        yield return Case("Put(byte[])", k => k.Put("a"u8.ToArray(), "b"u8.ToArray()));
        yield return Case("Put(string)", k => k.Put("a", "b"));
        yield return Case("Delete(span)", k => k.Delete("a"u8));
        yield return Case("Delete(byte[])", k => k.Delete("a"u8.ToArray()));
        yield return Case("Delete(string)", k => k.Delete("a"));
        yield return Case("PutAsync(memory)", k => k.PutAsync("a"u8.ToArray().AsMemory(), "b"u8.ToArray().AsMemory()).AsTask().GetAwaiter().GetResult());
        yield return Case("PutAsync(byte[])", k => k.PutAsync("a"u8.ToArray(), "b"u8.ToArray()).AsTask().GetAwaiter().GetResult());
        yield return Case("DeleteAsync(memory)", k => k.DeleteAsync("a"u8.ToArray().AsMemory()).AsTask().GetAwaiter().GetResult());
        yield return Case("DeleteAsync(byte[])", k => k.DeleteAsync("a"u8.ToArray()).AsTask().GetAwaiter().GetResult());
        yield return Case("Apply", k => k.Apply(new KvBatch()));
        yield return Case("ApplyAsync", k => k.ApplyAsync(new KvBatch()).AsTask().GetAwaiter().GetResult());
        yield return Case("Rotate", k => k.Rotate());
        yield return Case("Fsync", k => k.Fsync());
        yield return Case("FsyncAsync", k => k.FsyncAsync().AsTask().GetAwaiter().GetResult());
        yield return Case("Compact", k => k.Compact());
        yield return Case("CompactAsync", k => k.CompactAsync().GetAwaiter().GetResult());
        yield return Case("CompactTo", k => k.CompactTo(Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid().ToString("N"))));
        yield return Case("CompactToAsync", k => k.CompactToAsync(Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid().ToString("N"))).GetAwaiter().GetResult());
        yield return Case("ExportJsonl", k => k.ExportJsonl(Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid().ToString("N"))));
        yield return Case("ExportJsonl(overwrite)", k => k.ExportJsonl(Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid().ToString("N")), true));
        yield return Case("ExportJsonlAsync", k => k.ExportJsonlAsync(Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid().ToString("N"))).GetAwaiter().GetResult());
        yield return Case("ExportJsonlAsync(overwrite)", k => k.ExportJsonlAsync(Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid().ToString("N")), true).GetAwaiter().GetResult());
        yield return Case("FollowChangesAsync", k => k.FollowChangesAsync(default));
    }

    [TestCaseSource(nameof(DataMembers))]
    public void Every_data_member_of_a_disposed_store_throws_ObjectDisposedException_naming_KvStore(Action<KvStore> use)
    {
        using var dir = new TempDir();
        var kv = KvStore.Open(dir.Path);
        kv.Put("a", "b");
        kv.Dispose();

        var e = Assert.Throws<ObjectDisposedException>(() => use(kv));
        Assert.That(e!.ObjectName, Is.EqualTo("KvStore"));
        Assert.That(e.Message, Does.Contain($"this KvStore ({dir.Path}) has been disposed").And.Not.Contain("ReaderWriterLockSlim"));
    }

    [TestCaseSource(nameof(DataMembers))]
    public void Every_data_member_of_a_disposed_read_only_store_throws_ObjectDisposedException(Action<KvStore> use)
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put("a", "b");
        }

        var ro = KvStore.OpenReadOnly(dir.Path);
        ro.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => use(ro), "disposed comes before read-only");
        Assert.That(e!.ObjectName, Is.EqualTo("KvStore"));
    }

    [Test]
    public void A_disposed_store_still_answers_its_descriptive_properties()
    {
        using var dir = new TempDir();
        var kv = KvStore.Open(dir.Path);
        kv.Dispose();
        Assert.That(kv.Directory, Is.EqualTo(dir.Path));
        Assert.That(kv.IsReadOnly, Is.False);
        Assert.That(kv.IsPoisoned, Is.False);
        Assert.That(kv.AutoCompactionError, Is.Null);
        Assert.DoesNotThrow(kv.Dispose);
    }

    [Test]
    public void Open_on_a_file_says_the_path_is_a_file()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["afile"], "x");
        var e = Assert.Throws<DataWalException>(() => KvStore.Open(dir["afile"]));
        Assert.That(e!.Message, Is.EqualTo($"datawal: create log directory {dir["afile"]}: the path is a file, not a directory"));
        Assert.That(File.ReadAllText(dir["afile"]), Is.EqualTo("x"));
    }

    [Test]
    public void Open_under_a_file_names_the_file()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["afile"], "x");
        string store = Path.Combine(dir["afile"], "sub", "store");
        var e = Assert.Throws<DataWalException>(() => KvStore.Open(store));
        Assert.That(e!.Message, Is.EqualTo($"datawal: create log directory {store}: {dir["afile"]} is a file, not a directory"));
    }

    [Test]
    public void Open_read_only_on_a_missing_directory_is_StoreNotFoundException()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<StoreNotFoundException>(() => KvStore.OpenReadOnly(dir["missing"]));
        Assert.That(e!.Directory, Is.EqualTo(dir["missing"]));
        Assert.That(e.Message, Does.Contain(dir["missing"]).And.Contain("the directory does not exist"));
        Assert.That(dir.Entries(), Is.Empty);
    }
}
