using System.Text;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// "Null is not an empty key": the <c>byte[]</c> and <c>string</c> overloads refuse null (a span cannot tell
/// null from empty, so the span overloads used to take a null array as the empty key), an empty array is still the
/// empty key, and strings are UTF-8 on disk.
/// </summary>
public class ArrayAndStringOverloadTests
{
    private static void ThrowsNull(Action call, string parameter)
    {
        var e = Assert.Throws<ArgumentNullException>(() => call());
        Assert.That(e!.ParamName, Is.EqualTo(parameter));
    }

    private static void ThrowsNullAsync(Func<ValueTask> call, string parameter)
    {
        // Refused at the call (before anything is written); the task is only consumed if it wrongly got that far.
        var e = Assert.Throws<ArgumentNullException>(() => call().AsTask().GetAwaiter().GetResult());
        Assert.That(e!.ParamName, Is.EqualTo(parameter));
    }

    [Test]
    public void Every_array_and_string_overload_refuses_null_naming_the_parameter_and_writes_nothing()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        ulong before = kv.Log.NextTxId;

        ThrowsNull(() => kv.Put((byte[])null!, [1]), "key");
        ThrowsNull(() => kv.Put([1], (byte[])null!), "value");
        ThrowsNull(() => kv.Put(null!, null!), "key");   // binds to the array overload (it has priority), not ambiguous
        ThrowsNull(() => kv.Put((string)null!, "v"), "key");
        ThrowsNull(() => kv.Put("k", (string)null!), "value");
        ThrowsNull(() => kv.Delete((byte[])null!), "key");
        ThrowsNull(() => kv.Delete((string)null!), "key");
        ThrowsNull(() => kv.Get(null!), "key");
        ThrowsNull(() => kv.GetString(null!), "key");
        ThrowsNull(() => kv.ContainsKey((byte[])null!), "key");
        ThrowsNull(() => kv.ContainsKey((string)null!), "key");
        ThrowsNull(() => kv.RefOf(null!), "key");
        ThrowsNullAsync(() => kv.PutAsync(null!, [1]), "key");
        ThrowsNullAsync(() => kv.PutAsync([1], null!), "value");
        ThrowsNullAsync(() => kv.DeleteAsync((byte[])null!), "key");

        using var batch = new KvBatch();
        ThrowsNull(() => batch.Put((byte[])null!, [1]), "key");
        ThrowsNull(() => batch.Put([1], (byte[])null!), "value");
        ThrowsNull(() => batch.Delete((byte[])null!), "key");
        Assert.That(batch.Count, Is.Zero);

        Assert.That(kv.Log.NextTxId, Is.EqualTo(before), "nothing was appended");
        Assert.That(kv.Count, Is.Zero);
    }

    [Test]
    public void Null_refused_on_a_read_only_store_too()
    {
        using var dir = new TempDir();
        KvStore.Open(dir.Path).Dispose();
        using var ro = KvStore.OpenReadOnly(dir.Path);
        ThrowsNull(() => ro.Get(null!), "key");
        ThrowsNull(() => ro.GetString(null!), "key");
        ThrowsNull(() => ro.ContainsKey((byte[])null!), "key");
    }

    [Test]
    public async Task Empty_arrays_are_still_the_empty_key_and_value()
    {
        using var dir = new TempDir();
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put(Array.Empty<byte>(), "e"u8.ToArray());
            Assert.That(S(kv.Get(Array.Empty<byte>())), Is.EqualTo("e"));
            Assert.That(S(kv.Get(ReadOnlySpan<byte>.Empty)), Is.EqualTo("e"), "the same key as the empty span");
            Assert.That(kv.ContainsKey(Array.Empty<byte>()), Is.True);
            Assert.That(kv.ContainsKey(""), Is.True, "the empty string is the empty key too");
            Assert.That(kv.RefOf(Array.Empty<byte>()), Is.Not.Null);

            kv.Put("k"u8.ToArray(), Array.Empty<byte>());
            Assert.That(kv.Get("k"u8.ToArray()), Is.Empty);
            Assert.That(kv.GetString("k"), Is.EqualTo(string.Empty));

            await kv.PutAsync(Array.Empty<byte>(), "async"u8.ToArray());
            Assert.That(S(kv.Get(Array.Empty<byte>())), Is.EqualTo("async"));
            await kv.DeleteAsync(Array.Empty<byte>());
            Assert.That(kv.ContainsKey(Array.Empty<byte>()), Is.False);

            kv.Put("", "again");
            kv.Delete(Array.Empty<byte>());
            Assert.That(kv.Get(ReadOnlySpan<byte>.Empty), Is.Null);
            kv.Put(Array.Empty<byte>(), "last"u8.ToArray());
        }

        using var reopened = KvStore.Open(dir.Path);
        Assert.That(S(reopened.Get(Array.Empty<byte>())), Is.EqualTo("last"));
        Assert.That(reopened.Count, Is.EqualTo(2));
    }

    [Test]
    public void Strings_round_trip_as_utf8_bytes()
    {
        using var dir = new TempDir();
        const string key = "clé-🔑-ключ";
        const string value = "välue ✓ 値 \0 end";
        using (var kv = KvStore.Open(dir.Path))
        {
            kv.Put(key, value);
            Assert.That(kv.GetString(key), Is.EqualTo(value));
            Assert.That(kv.ContainsKey(key), Is.True);
            Assert.That(kv.Get(Encoding.UTF8.GetBytes(key)), Is.EqualTo(Encoding.UTF8.GetBytes(value)), "plain UTF-8, no BOM");
            Assert.That(kv.GetString("absent"), Is.Null);

            kv.Put("gone", "x");
            kv.Delete("gone");
            Assert.That(kv.ContainsKey("gone"), Is.False);
            Assert.That(kv.GetString("gone"), Is.Null);
        }

        var put = Records(dir.Path).Single(r => r.Type == RecordType.Put && r.Key.Span.SequenceEqual(Encoding.UTF8.GetBytes(key)));
        Assert.That(put.Payload.ToArray(), Is.EqualTo(Encoding.UTF8.GetBytes(value)));

        using var ro = KvStore.OpenReadOnly(dir.Path);
        Assert.That(ro.GetString(key), Is.EqualTo(value));
    }

    [Test]
    public void A_lone_surrogate_is_refused_not_replaced_and_a_binary_value_is_not_decoded()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        ulong before = kv.Log.NextTxId;
        Assert.Throws<EncoderFallbackException>(() => kv.Put("a\uD800", "v"));
        Assert.Throws<EncoderFallbackException>(() => kv.Put("k", "\uDC00"));
        Assert.That(kv.Log.NextTxId, Is.EqualTo(before), "nothing was appended");

        kv.Put("bin"u8, [0xFF, 0xFE, 0x80]);
        Assert.Throws<DecoderFallbackException>(() => kv.GetString("bin"));
    }

    [Test]
    public void Array_overloads_bind_as_before_and_behave_as_the_span_ones()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path);
        byte[] key = "k"u8.ToArray();
        kv.Put(key, [.. key, .. "-v"u8]);      // array + collection expression: the array overload, not ambiguous
        kv.Put("s"u8, "span"u8);                // u8 literals: the span overload
        using var batch = new KvBatch();
        batch.Put(key, [.. "batch"u8]);
        batch.Put("t"u8, "u8"u8);
        kv.Apply(batch);

        Assert.That(S(kv.Get(key)), Is.EqualTo("batch"));
        Assert.That(kv.GetString("s"), Is.EqualTo("span"));
        Assert.That(kv.GetString("t"), Is.EqualTo("u8"));
        Assert.That(kv.RefOf(key), Is.EqualTo(kv.RefOf("k"u8)));
    }
}
