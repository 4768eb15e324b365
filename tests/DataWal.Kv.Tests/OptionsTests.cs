using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// <see cref="KvStoreOptions"/> refuses a bad value where it is set (the object initializer), naming the
/// property; a null <see cref="KvStoreOptions.Log"/> means the log's defaults.
/// </summary>
public class OptionsTests
{
    [Test]
    public void Defaults_are_unchanged()
    {
        var options = new KvStoreOptions();
        Assert.That(options.Log, Is.Null);
        Assert.That(options.ReadHandleCapacity, Is.EqualTo(16));
    }

    [TestCase(-1)]
    [TestCase(int.MinValue)]
    public void Negative_ReadHandleCapacity_is_refused(int value)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new KvStoreOptions { ReadHandleCapacity = value })!;
        Assert.That(e.ParamName, Is.EqualTo("ReadHandleCapacity"));
        Assert.That(e.ActualValue, Is.EqualTo(value));
        Assert.That(e.Message, Does.StartWith("KvStoreOptions.ReadHandleCapacity must not be negative (0 = no cached handles)."));
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(int.MaxValue)]
    public void ReadHandleCapacity_at_a_valid_boundary_is_kept(int value) =>
        Assert.That(new KvStoreOptions { ReadHandleCapacity = value }.ReadHandleCapacity, Is.EqualTo(value));

    [Test]
    public void A_null_Log_is_accepted_and_means_the_log_defaults()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path, new KvStoreOptions { Log = null }))
        {
            kv.Put(B("k"), B("v"));
            kv.Fsync();
        }

        using var reopened = KvStore.Open(dir.Path, new KvStoreOptions { Log = null });
        Assert.That(S(reopened.Get(B("k"))), Is.EqualTo("v"));
    }

    [Test]
    public void A_bad_nested_log_option_is_refused_where_it_is_set() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new KvStoreOptions { Log = new RecordLogOptions { GroupCommitInterval = TimeSpan.Zero } });
}
