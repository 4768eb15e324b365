using System.Text;
using DataWal.Core;
using DataWal.Kv;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>
/// <c>get</c> answers one key in one streaming pass (no key directory): it must agree with the library's key
/// directory whatever the history — overwrites, deletes, re-puts, empty values, prefixes, Raw frames.
/// </summary>
public class GetCommandTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-get");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Test]
    public void Get_agrees_with_the_key_directory_over_a_mixed_history()
    {
        string store = _dir["store"];
        using (var log = RecordLog.Open(store))
        {
            log.Append(B("raw payload"));
        }

        using (var kv = KvStore.Open(store))
        {
            kv.Put("a", "1");
            kv.Put("ab", "prefix");
            kv.Put("a", "2");
            kv.Put("gone", "x");
            kv.Delete("gone");
            kv.Put("back", "old");
            kv.Delete("back");
            kv.Put("back", "new");
            kv.Put(B("empty"), []);
            kv.Put("a", "3");
        }

        using var reference = KvStore.OpenReadOnly(store);
        foreach (string key in new[] { "a", "ab", "gone", "back", "empty", "", "b", "raw payload" })
        {
            byte[]? expected = reference.Get(B(key));
            var r = Cli.Run("--json", "get", store, "--key-base64", Convert.ToBase64String(B(key)));
            Assert.That(r.Code, Is.EqualTo(expected is null ? 2 : 0), $"{key}: {r}");
            var line = r.Json.Single();
            Assert.That(line.GetProperty("kind").GetString(), Is.EqualTo(expected is null ? "miss" : "value"), key);
            if (expected is not null)
            {
                Assert.That(Convert.FromBase64String(line.GetProperty("value_base64").GetString()!), Is.EqualTo(expected), key);
            }
        }

        Assert.That(Cli.Run("get", store, "--key", "a").Out, Is.EqualTo("3\n"));
        Assert.That(Cli.Run("get", store, "--key", "back").Out, Is.EqualTo("new\n"));
    }
}
