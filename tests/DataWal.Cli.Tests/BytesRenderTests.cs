using System.Text;
using NUnit.Framework;

namespace DataWal.Cli.Tests;

/// <summary>Upstream's 14 <c>bytes_render.rs</c> unit tests (the quoting one split per character).</summary>
public class BytesRenderTests
{
    private static byte[] B(string s) => Encoding.ASCII.GetBytes(s);

    [Test]
    public void Auto_renders_printable_bytes_literally() =>
        Assert.That(BytesRender.Render(B("alpha"), BytesMode.Auto), Is.EqualTo("alpha"));

    [TestCase("foo bar", "\"foo bar\"")]
    [TestCase("say \"hi\"", "\"say \\\"hi\\\"\"")]
    [TestCase("a\\b", "\"a\\\\b\"")]
    [TestCase("a\tb", "\"a\\tb\"")]
    public void Auto_quotes_space_quote_backslash_and_tab(string input, string expected) =>
        Assert.That(BytesRender.Render(B(input), BytesMode.Auto), Is.EqualTo(expected));

    [Test]
    public void Empty_renders_as_empty_quotes()
    {
        Assert.That(BytesRender.Render([], BytesMode.Auto), Is.EqualTo("\"\""));
        Assert.That(BytesRender.IsPrintable([]), Is.True);
    }

    [Test]
    public void Binary_renders_with_b64_prefix() =>
        Assert.That(BytesRender.Render([0x00, 0x01, 0xFF], BytesMode.Auto), Is.EqualTo("b64:AAH/"));

    [Test]
    public void Forced_base64_applies_to_printable_bytes() =>
        Assert.That(BytesRender.Render(B("alpha"), BytesMode.Base64), Is.EqualTo("b64:YWxwaGE="));

    [Test]
    public void Forced_hex_is_lowercase_with_prefix() =>
        Assert.That(BytesRender.Render([0xDE, 0xAD, 0xBE, 0xEF], BytesMode.Hex), Is.EqualTo("hex:deadbeef"));

    [Test]
    public void Raw_falls_back_to_b64_for_control_bytes()
    {
        Assert.That(BytesRender.Render([0x1B, 0x5B, 0x32, 0x4A], BytesMode.Raw), Is.EqualTo("b64:G1sySg=="));
        Assert.That(BytesRender.Render(B("plain"), BytesMode.Raw), Is.EqualTo("plain"));
    }

    [Test]
    public void Truncation_cuts_printable_text_and_appends_dots() =>
        Assert.That(BytesRender.Render(B("abcdef"), BytesMode.Auto, 4), Is.EqualTo("abcd..."));

    [Test]
    public void Truncation_applies_to_source_bytes_before_encoding() =>
        Assert.That(BytesRender.Render(new byte[10], BytesMode.Auto, 3), Is.EqualTo("b64:AAAA..."));

    [Test]
    public void Truncation_default_is_64_bytes_and_null_disables_it()
    {
        var long100 = B(new string('A', 100));
        Assert.That(BytesRender.Render(long100, BytesMode.Auto), Is.EqualTo(new string('A', 64) + "..."));
        Assert.That(BytesRender.Render(long100, BytesMode.Auto, null), Is.EqualTo(new string('A', 100)));
        Assert.That(BytesRender.Render(B(new string('A', 64)), BytesMode.Auto), Is.EqualTo(new string('A', 64)));
    }

    [Test]
    public void Get_auto_prints_printable_value_bare()
    {
        var r = BytesRender.RenderGetValue(B("hello world"), BytesMode.Auto);
        Assert.That(r.Text, Is.EqualTo("hello world"));
        Assert.That(r.IsBinaryHint, Is.False);
    }

    [Test]
    public void Get_auto_gives_a_hint_for_binary_value()
    {
        var r = BytesRender.RenderGetValue([0x00, 0x01, 0x02], BytesMode.Auto);
        Assert.That(r.Text, Is.Null);
        Assert.That(r.Hint, Is.EqualTo("<binary value, 3 bytes; use --bytes base64 or --bytes hex>"));
        Assert.That(BytesRender.RenderGetValue([0x00], BytesMode.Raw).IsBinaryHint, Is.True);
    }

    [Test]
    public void Get_base64_is_unprefixed() =>
        Assert.That(BytesRender.RenderGetValue(B("hello"), BytesMode.Base64).Text, Is.EqualTo("aGVsbG8="));

    [Test]
    public void Get_hex_is_unprefixed() =>
        Assert.That(BytesRender.RenderGetValue([0xDE, 0xAD], BytesMode.Hex).Text, Is.EqualTo("dead"));

    [Test]
    public void Mode_parsing_accepts_the_four_modes_and_b64()
    {
        Assert.Multiple(() =>
        {
            Assert.That(BytesRender.TryParseMode("auto", out var a) ? a : (BytesMode?)null, Is.EqualTo(BytesMode.Auto));
            Assert.That(BytesRender.TryParseMode("raw", out var r) ? r : (BytesMode?)null, Is.EqualTo(BytesMode.Raw));
            Assert.That(BytesRender.TryParseMode("base64", out var b) ? b : (BytesMode?)null, Is.EqualTo(BytesMode.Base64));
            Assert.That(BytesRender.TryParseMode("b64", out var b2) ? b2 : (BytesMode?)null, Is.EqualTo(BytesMode.Base64));
            Assert.That(BytesRender.TryParseMode("hex", out var h) ? h : (BytesMode?)null, Is.EqualTo(BytesMode.Hex));
            Assert.That(BytesRender.TryParseMode("garbage", out _), Is.False);
            Assert.That(BytesRender.TryParseMode("", out _), Is.False);
            Assert.That(BytesRender.TryParseMode(null, out _), Is.False);
        });
    }
}
