using NUnit.Framework;
using TestSupport;
using static SafeAtomic.Tests.Helpers;

namespace SafeAtomic.Tests;

/// <summary>
/// docs/design.md D19: new content never carries set-uid, set-gid or sticky bits, and a replaced file's mode
/// comes from the target itself, never from what a symlink at the target points to (run as root, either
/// would hand out a root-owned set-uid file).
/// </summary>
public sealed class ModeBitsTests
{
    private static readonly string[] SpecialModes = ["4755", "2755", "1755", "7777", "6750"];

    [Test]
    public void A_replaced_target_keeps_its_permission_bits_without_setuid_setgid_or_sticky(
        [ValueSource(nameof(SpecialModes))] string octal,
        [ValueSource(typeof(Helpers), nameof(AllVariants))] WriteVariant variant)
    {
        RequireUnix();
        using var dir = new TempDir();
        var target = dir["tool"];
        File.WriteAllText(target, "old");
        SetMode(target, Mode(octal));
        Assume.That(GetMode(target), Is.EqualTo(Mode(octal)), "the file system must keep the special bits for this test to mean anything");

        Write(variant, target, Utf8("new"));

        Assert.That(Text(target), Is.EqualTo("new"));
        Assert.That(Octal(GetMode(target)), Is.EqualTo(Octal(Mode(octal) & Mode("777"))));
        AssertEntries(dir, "tool");
    }

    [Test]
    public void A_symlink_at_the_target_becomes_an_owner_only_regular_file_and_the_referent_is_untouched(
        [Values("4755", "644")] string octal,
        [ValueSource(typeof(Helpers), nameof(AllVariants))] WriteVariant variant)
    {
        RequireUnix();
        using var outside = new TempDir();
        using var dir = new TempDir();
        var referent = outside["setuid-tool"];
        File.WriteAllText(referent, "referent");
        SetMode(referent, Mode(octal));
        var link = dir["link"];
        File.CreateSymbolicLink(link, referent);

        Write(variant, link, Utf8("new"));

        Assert.That(new FileInfo(link).LinkTarget, Is.Null, "the link itself is replaced by a regular file");
        Assert.That(Text(link), Is.EqualTo("new"));
        Assert.That(Octal(GetMode(link)), Is.EqualTo(Octal(OwnerOnly)), "the mode is never taken through a symlink");
        Assert.That(Text(referent), Is.EqualTo("referent"));
        Assert.That(Octal(GetMode(referent)), Is.EqualTo(octal));
        AssertEntries(dir, "link");
    }
}
