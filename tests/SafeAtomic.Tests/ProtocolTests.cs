using System.IO.Compression;
using System.Text.RegularExpressions;
using NUnit.Framework;
using SafeAtomic.Internal;
using TestSupport;
using static SafeAtomic.Tests.Helpers;

namespace SafeAtomic.Tests;

/// <summary>
/// The write protocol itself: where and how the temp file is made, the order of the system calls,
/// permission bits, relative paths, streaming, async, cancellation, and symlinks at the target.
/// </summary>
public partial class ProtocolTests
{
    [GeneratedRegex("^\\.a\\.txt\\.[0-9a-f]{16}\\.tmp$")]
    private static partial Regex TempOfATxt();

    // ---------------------------------------------------------------- the temp file

    [TestCaseSource(typeof(Helpers), nameof(AllVariants))]
    public void Temp_is_created_exclusively_in_the_target_directory_with_the_target_name_and_16_random_hex(WriteVariant variant)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];

        using (var faults = FaultInjector.Install())
        {
            Write(variant, target, Utf8("content"));
            var open = faults.Calls.Single(c => c.Call == Call.Open);
            Assert.That(Path.GetDirectoryName(open.Path), Is.EqualTo(dir.Path), "temp must live in the target's directory");
            Assert.That(Path.GetFileName(open.Path), Does.Match(TempOfATxt()));
            Assert.That(TempName.IsTempName(Path.GetFileName(open.Path!)), Is.True);
            Assert.That(open.Path, Is.Not.EqualTo(target));
        }

        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void Temp_exists_owner_only_while_the_body_writes_and_the_target_is_not_yet_touched()
    {
        RequireUnix();
        using var dir = new TempDir();
        var target = dir["a.txt"];
        AtomicFile.WriteAtomic(target, "old"u8);
        SetMode(target, Mode("644"));

        string? seenTemp = null;
        UnixFileMode seenMode = 0;
        string? targetDuringBody = null;
        AtomicFile.WriteAtomic(target, s =>
        {
            s.Write("new content"u8);
            s.Flush();   // handing bytes to the kernel must not publish anything
            var temps = AtomicFile.FindTempFiles(dir.Path);
            Assert.That(temps, Has.Count.EqualTo(1));
            seenTemp = temps[0];
            seenMode = GetMode(seenTemp);
            targetDuringBody = Text(target);
        });

        Assert.That(seenMode, Is.EqualTo(OwnerOnly), "temp must be created 0600");
        Assert.That(targetDuringBody, Is.EqualTo("old"), "a flush inside the body must not make the content visible");
        Assert.That(Path.GetFileName(seenTemp), Does.Match(TempOfATxt()));
        Assert.That(Text(target), Is.EqualTo("new content"));
        Assert.That(GetMode(target), Is.EqualTo(Mode("644")));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void Every_write_uses_a_fresh_temp_name_and_names_carry_64_random_bits()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        using (var faults = FaultInjector.Install())
        {
            for (int i = 0; i < 5; i++)
            {
                AtomicFile.WriteAtomic(target, Utf8("v" + i));
            }

            var opened = faults.Calls.Where(c => c.Call == Call.Open).Select(c => c.Path).ToList();
            Assert.That(opened, Has.Count.EqualTo(5));
            Assert.That(opened, Is.Unique);
        }

        // 16 lowercase hex digits, and every digit position takes every hex value across many draws
        // (a counter, a timestamp or a short random would leave positions constant).
        var names = Enumerable.Range(0, 4000).Select(_ => TempName.For("a.txt")).ToList();
        Assert.That(names, Is.Unique);
        var randomParts = names.Select(n => n[".a.txt.".Length..^".tmp".Length]).ToList();
        Assert.That(randomParts, Has.All.Match("^[0-9a-f]{16}$"));
        for (int position = 0; position < 16; position++)
        {
            var values = randomParts.Select(r => r[position]).Distinct().Count();
            Assert.That(values, Is.EqualTo(16), $"hex digit {position} does not look random");
        }
    }

    [Test]
    public void A_squatter_file_symlink_or_dangling_symlink_at_the_drawn_temp_name_is_never_written_through()
    {
        RequireUnix();
        using var dir = new TempDir();
        using var elsewhere = new TempDir("victim");
        var target = dir["a.txt"];
        AtomicFile.WriteAtomic(target, "old"u8);
        var victim = elsewhere["victim.txt"];
        File.WriteAllText(victim, "victim");
        var notThere = elsewhere["created-through-link.txt"];

        var planted = new List<string>();
        using (var hook = new HookedCalls(call =>
        {
            if (call.Call != Call.Open || call.Mode != FileMode.CreateNew)
            {
                return;
            }

            // Plant something at exactly the name the library is about to create.
            switch (planted.Count)
            {
                case 0:
                    File.WriteAllText(call.Path!, "squatter");
                    break;
                case 1:
                    File.CreateSymbolicLink(call.Path!, victim);
                    break;
                case 2:
                    File.CreateSymbolicLink(call.Path!, notThere);
                    break;
                default:
                    return;
            }

            planted.Add(call.Path!);
        }))
        {
            AtomicFile.WriteAtomic(target, "new"u8);
            var opens = hook.Seen.Where(c => c.Call == Call.Open).Select(c => c.Path).ToList();
            Assert.That(opens, Has.Count.EqualTo(4), "each collision must draw a fresh name");
            Assert.That(opens, Is.Unique);
        }

        Assert.That(Text(target), Is.EqualTo("new"));
        Assert.That(Text(planted[0]), Is.EqualTo("squatter"));
        Assert.That(new FileInfo(planted[1]).LinkTarget, Is.EqualTo(victim));
        Assert.That(Text(victim), Is.EqualTo("victim"));
        Assert.That(new FileInfo(planted[2]).LinkTarget, Is.EqualTo(notThere));
        Assert.That(File.Exists(notThere), Is.False, "O_EXCL must not create a file through a dangling link");
        Assert.That(elsewhere.Entries(), Is.EqualTo(new[] { "victim.txt" }));
    }

    [Test]
    public void Gives_up_with_NotWritten_after_bounded_name_collisions()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        AtomicFile.WriteAtomic(target, "old"u8);
        using (var faults = FaultInjector.Install())
        {
            faults.Fail(Call.Open, ErrorNumbers.EEXIST);
            var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteAtomic(target, "new"u8));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EEXIST));
            var opens = faults.Calls.Where(c => c.Call == Call.Open).Select(c => c.Path).ToList();
            Assert.That(opens, Has.Count.InRange(2, 64));
            Assert.That(opens, Is.Unique);
        }

        Assert.That(Text(target), Is.EqualTo("old"));
        AssertEntries(dir, "a.txt");
    }

    // ---------------------------------------------------------------- system-call order

    [TestCaseSource(typeof(Helpers), nameof(AllVariants))]
    public void Calls_are_open_temp_write_fsync_temp_rename_fsync_directory(WriteVariant variant)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");

        using var faults = FaultInjector.Install();
        Write(variant, target, Utf8("new"));
        var calls = faults.Calls;
        string temp = calls[0].Path!;

        Assert.That(calls.Select(c => c.Call), Is.EqualTo(new[] { Call.Open, Call.Write, Call.Fsync, Call.Rename, Call.FsyncDirectory }));
        Assert.That(calls.Select(c => c.Path), Is.EqualTo(new[] { temp, temp, temp, target, dir.Path }));
        Assert.That(File.Exists(temp), Is.False);
        Assert.That(Text(target), Is.EqualTo("new"));
    }

    [Test]
    public void WriteOnce_calls_are_open_temp_write_fsync_no_replace_rename_fsync_directory()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        using var hook = new HookedCalls(_ => { });

        Assert.That(AtomicFile.WriteOnce(target, "x"u8), Is.True);
        var calls = hook.Seen;
        Assert.That(calls.Select(c => c.Call), Is.EqualTo(new[] { Call.Open, Call.Write, Call.Fsync, Call.RenameNoReplace, Call.FsyncDirectory }));
        Assert.That(calls[0].Mode, Is.EqualTo(FileMode.CreateNew));
        Assert.That(calls[3].Path, Is.EqualTo(calls[0].Path), "the fsynced temp is what gets renamed");
        Assert.That(calls[3].To, Is.EqualTo(target));
        Assert.That(calls[4].Path, Is.EqualTo(dir.Path));
    }

    [Test]
    public void Replace_renames_the_temp_it_created_and_never_opens_the_target_itself()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");
        using var hook = new HookedCalls(_ => { });

        AtomicFile.WriteAtomic(target, "new"u8);
        var open = hook.Seen.Single(c => c.Call == Call.Open);
        var rename = hook.Seen.Single(c => c.Call == Call.Rename);
        Assert.That(open.Mode, Is.EqualTo(FileMode.CreateNew), "the temp must be created exclusively");
        Assert.That(rename.Path, Is.EqualTo(open.Path));
        Assert.That(rename.To, Is.EqualTo(target));
        Assert.That(hook.Seen.Where(c => c.Path == target), Is.Empty);
    }

    // ---------------------------------------------------------------- permissions

    [Test]
    public void A_new_target_is_created_owner_only()
    {
        RequireUnix();
        using var dir = new TempDir();
        AtomicFile.WriteAtomic(dir["a.txt"], "x"u8);
        AtomicFile.WriteAtomic(dir["b.txt"], s => s.Write("y"u8));
        Assert.That(AtomicFile.WriteOnce(dir["c.txt"], "z"u8), Is.True);

        Assert.That(GetMode(dir["a.txt"]), Is.EqualTo(OwnerOnly));
        Assert.That(GetMode(dir["b.txt"]), Is.EqualTo(OwnerOnly));
        Assert.That(GetMode(dir["c.txt"]), Is.EqualTo(OwnerOnly));
    }

    [TestCase("644")]
    [TestCase("755")]
    [TestCase("600")]
    [TestCase("640")]
    [TestCase("400")]
    [TestCase("666")]
    [TestCase("700")]
    public void Replacing_keeps_the_targets_permission_bits(string octal)
    {
        RequireUnix();
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");
        SetMode(target, Mode(octal));

        foreach (var variant in AllVariants)
        {
            Write(variant, target, Utf8("new " + variant));
            Assert.That(Octal(GetMode(target)), Is.EqualTo(octal), variant.ToString());
            Assert.That(Text(target), Is.EqualTo("new " + variant));
        }

        AssertEntries(dir, "a.txt");
    }

    // ---------------------------------------------------------------- paths

    [Test]
    public void A_bare_file_name_is_relative_to_the_current_directory()
    {
        using var dir = new TempDir();
        string previous = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = dir.Path;
            using (var faults = FaultInjector.Install())
            {
                AtomicFile.WriteAtomic("a.txt", "one"u8);
                Assert.That(faults.Calls[^1], Is.EqualTo(new ObservedCall(Call.FsyncDirectory, dir.Path)));
            }

            AtomicFile.WriteAtomic("a.txt", s => s.Write("two"u8));
            AtomicFile.WriteAtomicAsync("b.txt", "three"u8.ToArray()).GetAwaiter().GetResult();
            Assert.That(AtomicFile.WriteOnce("c.txt", "four"u8), Is.True);
            AtomicFile.WriteAppendFsync("d.txt", "five"u8);
            AtomicFile.RenameAtomic("b.txt", "e.txt");
            Assert.That(AtomicFile.WriteOnceWithParents("f.txt", "six"u8), Is.True);
            AtomicFile.FsyncDir(".");
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }

        Assert.That(Text(dir["a.txt"]), Is.EqualTo("two"));
        Assert.That(Text(dir["c.txt"]), Is.EqualTo("four"));
        Assert.That(Text(dir["d.txt"]), Is.EqualTo("five"));
        Assert.That(Text(dir["e.txt"]), Is.EqualTo("three"));
        Assert.That(Text(dir["f.txt"]), Is.EqualTo("six"));
        AssertEntries(dir, "a.txt", "c.txt", "d.txt", "e.txt", "f.txt");
    }

    [Test]
    public void A_missing_directory_is_NotWritten_with_ENOENT_and_creates_nothing()
    {
        RequireUnix();
        using var dir = new TempDir();
        var target = Path.Combine(dir.Path, "missing", "a.txt");

        foreach (var variant in AllVariants)
        {
            var e = Assert.Throws<NotWrittenException>(() => Write(variant, target, Utf8("x")));
            Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.ENOENT));
            Assert.That(e.Path, Is.EqualTo(target));
        }

        var once = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteOnce(target, "x"u8));
        Assert.That(once!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.ENOENT));
        AssertEntries(dir);
    }

    [Test]
    public void A_directory_at_the_target_is_NotWritten_and_left_alone()
    {
        RequireUnix();
        using var dir = new TempDir();
        var target = dir["a.txt"];
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "inside"), "kept");

        var e = Assert.Throws<NotWrittenException>(() => AtomicFile.WriteAtomic(target, "x"u8));
        Assert.That(e!.SystemError?.ErrorNumber, Is.EqualTo(ErrorNumbers.EISDIR));
        Assert.That(Text(Path.Combine(target, "inside")), Is.EqualTo("kept"));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void A_name_at_the_255_byte_limit_gets_a_truncated_temp_name_that_still_fits()
    {
        using var dir = new TempDir();
        // 127 two-byte characters + 1 = 255 UTF-8 bytes, the longest legal file name.
        var name = new string('é', 127) + "a";
        var target = dir[name];

        using (var faults = FaultInjector.Install())
        {
            AtomicFile.WriteAtomic(target, "long"u8);
            var temp = Path.GetFileName(faults.Calls[0].Path!);
            Assert.That(System.Text.Encoding.UTF8.GetByteCount(temp), Is.LessThanOrEqualTo(255));
            Assert.That(TempName.IsTempName(temp), Is.True);
        }

        Assert.That(Text(target), Is.EqualTo("long"));
        AssertEntries(dir, name);
    }

    [Test]
    public void A_path_naming_a_directory_is_rejected_before_anything_happens()
    {
        using var dir = new TempDir();
        using var faults = FaultInjector.Install();
        Assert.Throws<ArgumentException>(() => AtomicFile.WriteAtomic(dir.Path + Path.DirectorySeparatorChar, "x"u8));
        Assert.Throws<ArgumentException>(() => AtomicFile.WriteAtomic("", "x"u8));
        Assert.That(faults.Calls, Is.Empty);
    }

    // ---------------------------------------------------------------- streaming and async

    [Test]
    public void Streaming_write_of_5_MB_in_many_small_writes_is_exact()
    {
        using var dir = new TempDir();
        var target = dir["big.bin"];
        var expected = new byte[5 * 1024 * 1024 + 7];
        new Random(42).NextBytes(expected);

        AtomicFile.WriteAtomic(target, s =>
        {
            int at = 0;
            int step = 1;
            while (at < expected.Length)
            {
                // Mix single bytes, odd small chunks and the occasional chunk larger than the buffer.
                int n = Math.Min(expected.Length - at, step % 97 == 0 ? 70_000 : step % 13);
                if (n == 0)
                {
                    s.WriteByte(expected[at]);
                    n = 1;
                }
                else
                {
                    s.Write(expected, at, n);
                }

                at += n;
                step++;
            }

            Assert.That(s.Position, Is.EqualTo(expected.Length));
        });

        Assert.That(File.ReadAllBytes(target), Is.EqualTo(expected));
        AssertEntries(dir, "big.bin");
    }

    [Test]
    public async Task Async_streaming_write_with_WriteAsync_and_CopyToAsync_is_exact()
    {
        using var dir = new TempDir();
        var target = dir["big.bin"];
        var expected = new byte[1024 * 1024 + 1];
        new Random(7).NextBytes(expected);

        await AtomicFile.WriteAtomicAsync(target, async (s, ct) =>
        {
            await s.WriteAsync(expected.AsMemory(0, 1000), ct);
            using var source = new MemoryStream(expected, 1000, expected.Length - 1000);
            await source.CopyToAsync(s, 4096, ct);
        });

        Assert.That(File.ReadAllBytes(target), Is.EqualTo(expected));
        AssertEntries(dir, "big.bin");
    }

    [Test]
    public async Task Async_memory_write_replaces_and_an_empty_content_is_an_empty_file()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        await AtomicFile.WriteAtomicAsync(target, Utf8("one"));
        Assert.That(Text(target), Is.EqualTo("one"));
        await AtomicFile.WriteAtomicAsync(target, ReadOnlyMemory<byte>.Empty);
        Assert.That(File.ReadAllBytes(target), Is.Empty);
        AtomicFile.WriteAtomic(target, s => { });
        Assert.That(File.ReadAllBytes(target), Is.Empty);
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public async Task A_pre_cancelled_token_changes_nothing_and_touches_no_file()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        using (var faults = FaultInjector.Install())
        {
            await Assert.CatchAsync<OperationCanceledException>(async () => await AtomicFile.WriteAtomicAsync(target, Utf8("new"), cts.Token));
            bool bodyRan = false;
            await Assert.CatchAsync<OperationCanceledException>(async () => await AtomicFile.WriteAtomicAsync(
                target,
                (s, ct) =>
                {
                    bodyRan = true;
                    return ValueTask.CompletedTask;
                },
                cts.Token));
            Assert.That(bodyRan, Is.False);
            Assert.That(faults.Calls, Is.Empty);
        }

        Assert.That(Text(target), Is.EqualTo("old"));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public async Task A_token_cancelled_inside_the_body_aborts_even_when_the_body_returns_normally()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");
        using var cts = new CancellationTokenSource();

        using (var faults = FaultInjector.Install())
        {
            await Assert.CatchAsync<OperationCanceledException>(async () => await AtomicFile.WriteAtomicAsync(
                target,
                async (s, ct) =>
                {
                    await s.WriteAsync(Utf8("new content"), ct);
                    await cts.CancelAsync();
                },
                cts.Token));
            Assert.That(faults.Count(Call.Rename), Is.Zero, "cancellation is honoured up to the rename");
            Assert.That(faults.Count(Call.Unlink), Is.EqualTo(1));
        }

        Assert.That(Text(target), Is.EqualTo("old"));
        AssertEntries(dir, "a.txt");
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Cancellation_is_honoured_up_to_the_rename_and_never_after_it(bool streaming)
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");

        Task Run(CancellationToken token) => streaming
            ? AtomicFile.WriteAtomicAsync(target, async (s, ct) => await s.WriteAsync(Utf8("new"), ct), token)
            : AtomicFile.WriteAtomicAsync(target, Utf8("new"), token);

        // Cancelled while the temp is being fsynced: before the commit point, so nothing happens.
        using (var cts = new CancellationTokenSource())
        using (var hook = new HookedCalls(c =>
        {
            if (c.Call == Call.Fsync)
            {
                cts.Cancel();
            }
        }))
        {
            await Assert.CatchAsync<OperationCanceledException>(() => Run(cts.Token));
            Assert.That(hook.Seen.Select(c => c.Call), Has.No.Member(Call.Rename));
        }

        Assert.That(Text(target), Is.EqualTo("old"));
        AssertEntries(dir, "a.txt");

        // Cancelled during the directory fsync, after the rename: the write completes.
        using (var cts = new CancellationTokenSource())
        using (new HookedCalls(c =>
        {
            if (c.Call == Call.FsyncDirectory)
            {
                cts.Cancel();
            }
        }))
        {
            await Run(cts.Token);
        }

        Assert.That(Text(target), Is.EqualTo("new"));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public async Task A_body_that_observes_cancellation_aborts_and_leaves_no_temp()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        using var cts = new CancellationTokenSource();

        await Assert.CatchAsync<OperationCanceledException>(async () => await AtomicFile.WriteAtomicAsync(
            target,
            async (s, ct) =>
            {
                await s.WriteAsync(new byte[100_000], ct);
                await cts.CancelAsync();
                await s.WriteAsync(new byte[10], ct);   // HandleWriteStream.WriteAsync checks the token
            },
            cts.Token));

        Assert.That(File.Exists(target), Is.False);
        AssertEntries(dir);
    }

    [Test]
    public async Task A_throwing_body_propagates_the_same_exception_and_leaves_old_content_and_no_temp()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        File.WriteAllText(target, "old");
        var boom = new InvalidOperationException("boom");

        var thrown = Assert.Throws<InvalidOperationException>(() => AtomicFile.WriteAtomic(target, s =>
        {
            s.Write(new byte[200_000]);   // larger than the buffer: bytes already reached the temp
            throw boom;
        }));
        Assert.That(thrown, Is.SameAs(boom));

        var thrownAsync = await Assert.ThrowsAsync<InvalidOperationException>(async () => await AtomicFile.WriteAtomicAsync(target, async (s, ct) =>
        {
            await s.WriteAsync(new byte[10], ct);
            throw boom;
        }));
        Assert.That(thrownAsync, Is.SameAs(boom));

        Assert.That(Text(target), Is.EqualTo("old"));
        AssertEntries(dir, "a.txt");
    }

    [Test]
    public void A_throwing_body_on_a_new_target_creates_nothing()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        Assert.Throws<FormatException>(() => AtomicFile.WriteAtomic(target, s =>
        {
            s.Write("partial"u8);
            s.Flush();
            throw new FormatException();
        }));
        AssertEntries(dir);
    }

    [Test]
    public void The_stream_is_write_only_and_forward_only()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        AtomicFile.WriteAtomic(target, s =>
        {
            Assert.That(s.CanWrite, Is.True);
            Assert.That(s.CanRead, Is.False);
            Assert.That(s.CanSeek, Is.False);
            Assert.Throws<NotSupportedException>(() => s.Seek(0, SeekOrigin.Begin));
            Assert.Throws<NotSupportedException>(() => s.ReadByte());
            s.Write("abc"u8);
            Assert.That(s.Length, Is.EqualTo(3));
        });
        Assert.That(Text(target), Is.EqualTo("abc"));
    }

    // A body that disposes the stream it was given (a BinaryWriter, GZipStream or `using` without
    // leaveOpen, an extremely common pattern) must still commit every byte it wrote: the alternative is
    // a silently truncated file presented as a successful atomic write.
    [Test]
    public void A_body_that_disposes_the_stream_still_commits_every_byte_BinaryWriter()
    {
        using var dir = new TempDir();
        var target = dir["a.bin"];
        AtomicFile.WriteAtomic(target, s =>
        {
            using var writer = new BinaryWriter(s);   // leaveOpen: false → closes the stream without flushing it
            writer.Write(0x01020304);
            writer.Write("hello");
        });

        using var reader = new BinaryReader(File.OpenRead(target));
        Assert.That(new FileInfo(target).Length, Is.EqualTo(10), "4-byte int + 1-byte length + 5 chars");
        Assert.That(reader.ReadInt32(), Is.EqualTo(0x01020304));
        Assert.That(reader.ReadString(), Is.EqualTo("hello"));
    }

    [Test]
    public void A_body_that_disposes_the_stream_still_commits_every_byte_GZipStream()
    {
        using var dir = new TempDir();
        var target = dir["a.gz"];
        var payload = Utf8(string.Concat(Enumerable.Repeat("compress me ", 1000)));
        AtomicFile.WriteAtomic(target, s =>
        {
            using var gzip = new GZipStream(s, CompressionLevel.Fastest);
            gzip.Write(payload);
        });

        using var input = new GZipStream(File.OpenRead(target), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        Assert.That(output.ToArray(), Is.EqualTo(payload));
    }

    [Test]
    public async Task A_body_that_disposes_the_stream_still_commits_every_byte_async()
    {
        using var dir = new TempDir();
        var target = dir["a.txt"];
        await AtomicFile.WriteAtomicAsync(target, async (s, ct) =>
        {
            await using (s)
            {
                await s.WriteAsync(Utf8("disposed by the body"), ct);
            }
        });

        Assert.That(Text(target), Is.EqualTo("disposed by the body"));
    }

    // ---------------------------------------------------------------- symlinks at the target

    [Test]
    public void A_symlink_at_the_target_is_replaced_by_an_owner_only_regular_file()
    {
        RequireUnix();
        using var dir = new TempDir();
        var real = dir["real.txt"];
        var link = dir["link.txt"];
        File.WriteAllText(real, "referent");
        SetMode(real, Mode("640"));
        File.CreateSymbolicLink(link, real);

        AtomicFile.WriteAtomic(link, "new"u8);

        Assert.That(new FileInfo(link).LinkTarget, Is.Null, "the link itself is replaced");
        Assert.That(Text(link), Is.EqualTo("new"));
        Assert.That(GetMode(link), Is.EqualTo(OwnerOnly), "docs/design.md D19: the mode is never taken through a symlink");
        Assert.That(Text(real), Is.EqualTo("referent"));
        Assert.That(GetMode(real), Is.EqualTo(Mode("640")));
        AssertEntries(dir, "link.txt", "real.txt");
    }

    [Test]
    public void A_dangling_symlink_at_the_target_is_replaced_by_an_owner_only_file_and_nothing_is_created_through_it()
    {
        RequireUnix();
        using var dir = new TempDir();
        var link = dir["link.txt"];
        var nowhere = dir["nowhere.txt"];
        File.CreateSymbolicLink(link, nowhere);

        AtomicFile.WriteAtomic(link, "new"u8);

        Assert.That(new FileInfo(link).LinkTarget, Is.Null);
        Assert.That(Text(link), Is.EqualTo("new"));
        Assert.That(GetMode(link), Is.EqualTo(OwnerOnly));
        Assert.That(File.Exists(nowhere), Is.False);
        AssertEntries(dir, "link.txt");
    }

    // ---------------------------------------------------------------- FsyncDir, FindTempFiles

    [Test]
    public void FsyncDir_goes_through_the_seam_and_a_missing_directory_throws_ENOENT()
    {
        RequireUnix();
        using var dir = new TempDir();
        using (var faults = FaultInjector.Install())
        {
            AtomicFile.FsyncDir(dir.Path);
            Assert.That(faults.Calls, Is.EqualTo(new[] { new ObservedCall(Call.FsyncDirectory, dir.Path) }));
        }

        var e = Assert.Throws<SystemCallException>(() => AtomicFile.FsyncDir(dir["missing"]));
        Assert.That(e!.ErrorNumber, Is.EqualTo(ErrorNumbers.ENOENT));
        Assert.That(e.ErrorName, Is.EqualTo("ENOENT"));
        Assert.That(e.SystemError, Is.SameAs(e));

        File.WriteAllText(dir["file"], "x");
        var notDir = Assert.Throws<SystemCallException>(() => AtomicFile.FsyncDir(dir["file"]));
        Assert.That(notDir!.ErrorNumber, Is.EqualTo(ErrorNumbers.ENOTDIR));
    }

    [Test]
    public void FindTempFiles_lists_exactly_the_temp_shaped_names()
    {
        using var dir = new TempDir();
        string[] temps = [".a.txt.0123456789abcdef.tmp", ".data.tmp.fedcba9876543210.tmp", ".x.0000000000000000.tmp"];
        string[] others =
        [
            "a.txt", "a.tmp", "data.tmp", ".a.txt.tmp", ".a.txt.0123456789ABCDEF.tmp", ".a.txt.0123456789abcde.tmp",
            ".a.txt.0123456789abcdeg.tmp", ".a.txt.0123456789abcdef.tmp.bak", "a.txt.0123456789abcdef.tmp",
        ];
        foreach (var name in temps.Concat(others))
        {
            File.WriteAllText(dir[name], "x");
        }

        Directory.CreateDirectory(dir[".d.0123456789abcdef.tmp"]);   // a directory is not a temp file

        var found = AtomicFile.FindTempFiles(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.That(found, Is.EqualTo(temps.Order(StringComparer.Ordinal)));
        Assert.That(AtomicFile.FindTempFiles(dir.Path), Has.All.StartsWith(dir.Path));
    }
}
