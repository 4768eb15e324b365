using System.Text;
using Microsoft.Win32.SafeHandles;
using NUnit.Framework;
using SafeAtomic.Internal;
using TestSupport;

namespace SafeAtomic.Tests;

/// <summary>The four ways to run an atomic replace; every protocol and fault test runs on each.</summary>
public enum WriteVariant
{
    Span,
    Stream,
    StreamAsync,
    MemoryAsync,
}

/// <summary>Small helpers shared by the SafeAtomic test files.</summary>
internal static class Helpers
{
    public static readonly WriteVariant[] AllVariants =
        [WriteVariant.Span, WriteVariant.Stream, WriteVariant.StreamAsync, WriteVariant.MemoryAsync];

    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Parses an octal permission string such as "644".</summary>
    public static UnixFileMode Mode(string octal) => (UnixFileMode)Convert.ToInt32(octal, 8);

    public static UnixFileMode GetMode(string path) =>
        OperatingSystem.IsWindows() ? throw new PlatformNotSupportedException() : File.GetUnixFileMode(path);

    public static void SetMode(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException();
        }

        File.SetUnixFileMode(path, mode);
    }

    public static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8);

    /// <summary>Runs one atomic replace through the chosen entry point; async ones are awaited synchronously.</summary>
    public static void Write(WriteVariant variant, string path, byte[] content)
    {
        switch (variant)
        {
            case WriteVariant.Span:
                AtomicFile.WriteAtomic(path, content);
                break;
            case WriteVariant.Stream:
                AtomicFile.WriteAtomic(path, s => s.Write(content, 0, content.Length));
                break;
            case WriteVariant.StreamAsync:
                AtomicFile.WriteAtomicAsync(path, async (s, ct) => await s.WriteAsync(content.AsMemory(), ct)).GetAwaiter().GetResult();
                break;
            case WriteVariant.MemoryAsync:
                AtomicFile.WriteAtomicAsync(path, content.AsMemory()).GetAwaiter().GetResult();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(variant));
        }
    }

    /// <summary>Skips the current test on Windows (symlinks, permission bits, SIGKILL semantics).</summary>
    public static void RequireUnix()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Ignore("Unix-only behaviour");
        }
    }

    /// <summary>The directory holds exactly these names (hidden temp files included).</summary>
    public static void AssertEntries(TempDir dir, params string[] expected) =>
        Assert.That(dir.Entries(), Is.EqualTo(expected.Order(StringComparer.Ordinal).ToArray()));

    public static void AssertNoTemps(string directory) =>
        Assert.That(AtomicFile.FindTempFiles(directory), Is.Empty, "orphan temp files");

    public static string Text(string path) => File.ReadAllText(path, Encoding.UTF8);

    /// <summary>
    /// The private flag of the Unix seam that makes RenameNoReplace use link(2)+unlink(2) instead of
    /// renameat2(RENAME_NOREPLACE) (what happens on a libc without renameat2 or a file system answering EINVAL).
    /// </summary>
    public static IDisposable ForceLinkUnlinkFallback()
    {
        var field = typeof(SystemCalls).Assembly.GetType("SafeAtomic.Internal.UnixSystemCalls")!
            .GetField("s_renameat2Unsupported", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
        Assert.That(field, Is.Not.Null, "UnixSystemCalls.s_renameat2Unsupported not found (renamed?)");
        object? previous = field!.GetValue(null);
        field.SetValue(null, true);
        return new Restore(() => field.SetValue(null, previous));
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}

/// <summary>One call seen by <see cref="HookedCalls"/>: for renames <paramref name="Path"/> is the source and <paramref name="To"/> the destination.</summary>
internal readonly record struct HookedCall(Call Call, string? Path, string? To = null, FileMode? Mode = null);

/// <summary>
/// A pass-through system-call seam that runs a callback right before each call reaches the real
/// platform implementation, so a test can change the file system at an exact step of the protocol
/// (plant a squatter at the temp name, create the target just before the no-replace rename, ...).
/// Installed on construction, removed on dispose; process-wide like <see cref="FaultInjector"/>.
/// </summary>
internal sealed class HookedCalls : SystemCalls, IDisposable
{
    private readonly Action<HookedCall> _before;
    private readonly IDisposable _scope;
    private readonly System.Collections.Concurrent.ConcurrentQueue<HookedCall> _seen = new();

    public HookedCalls(Action<HookedCall> before)
    {
        _before = before;
        _scope = Use(this);
    }

    public IReadOnlyList<HookedCall> Seen => [.. _seen];

    public void Dispose() => _scope.Dispose();

    private void Before(HookedCall call)
    {
        _seen.Enqueue(call);
        _before(call);
    }

    public override SafeFileHandle Open(string path, FileMode mode, FileAccess access, FileShare share, UnixFileMode? createMode)
    {
        Before(new HookedCall(Call.Open, path, Mode: mode));
        return Platform.Open(path, mode, access, share, createMode);
    }

    public override SafeFileHandle OpenAppend(string path, out bool created)
    {
        Before(new HookedCall(Call.OpenAppend, path));
        return Platform.OpenAppend(path, out created);
    }

    public override int Write(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset)
    {
        Before(new HookedCall(Call.Write, null));
        return Platform.Write(handle, data, offset);
    }

    public override void Fsync(SafeFileHandle handle)
    {
        Before(new HookedCall(Call.Fsync, null));
        Platform.Fsync(handle);
    }

    public override void FsyncData(SafeFileHandle handle)
    {
        Before(new HookedCall(Call.FsyncData, null));
        Platform.FsyncData(handle);
    }

    public override void FsyncDirectory(string path)
    {
        Before(new HookedCall(Call.FsyncDirectory, path));
        Platform.FsyncDirectory(path);
    }

    public override void SetLength(SafeFileHandle handle, long length)
    {
        Before(new HookedCall(Call.SetLength, null));
        Platform.SetLength(handle, length);
    }

    public override void Rename(string from, string to)
    {
        Before(new HookedCall(Call.Rename, from, to));
        Platform.Rename(from, to);
    }

    public override bool RenameNoReplace(string from, string to)
    {
        Before(new HookedCall(Call.RenameNoReplace, from, to));
        return Platform.RenameNoReplace(from, to);
    }

    public override void Unlink(string path)
    {
        Before(new HookedCall(Call.Unlink, path));
        Platform.Unlink(path);
    }

    public override bool CreateDirectory(string path)
    {
        Before(new HookedCall(Call.CreateDirectory, path));
        return Platform.CreateDirectory(path);
    }
}
