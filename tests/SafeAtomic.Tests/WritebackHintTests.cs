using NUnit.Framework;
using SafeAtomic.Internal;
using TestSupport;

namespace SafeAtomic.Tests;

/// <summary>
/// A large streamed atomic write starts the kernel's writeback every 8 MiB while it goes on (so its final fsync
/// has little left), and that hint changes nothing about the content or the protocol.
/// </summary>
[NonParallelizable]   // reads a process-wide counter
public class WritebackHintTests
{
    [Test]
    public void A_large_streamed_write_starts_writeback_as_it_goes_and_keeps_every_byte()
    {
        Assume.That(OperatingSystem.IsLinux() && Environment.Is64BitProcess, "sync_file_range is Linux-only; elsewhere the hint does nothing");
        using var dir = new TempDir();
        string target = dir["big.bin"];
        var block = new byte[100_000];
        new Random(5).NextBytes(block);
        const int Blocks = 260;   // 26 MB: past three 8 MiB marks (25.2 MB)
        long before = WritebackHint.Started;
        AtomicFile.WriteAtomic(target, stream =>
        {
            for (int i = 0; i < Blocks; i++)
            {
                block[0] = (byte)i;
                stream.Write(block);
            }
        });

        Assert.That(WritebackHint.Started - before, Is.EqualTo(3), "one writeback started per 8 MiB written");
        var written = File.ReadAllBytes(target);
        Assert.That(written, Has.Length.EqualTo(Blocks * block.Length));
        for (int i = 0; i < Blocks; i++)
        {
            block[0] = (byte)i;
            Assert.That(written.AsSpan(i * block.Length, block.Length).SequenceEqual(block), Is.True, $"block {i}");
        }
    }

    [Test]
    public void A_small_write_starts_no_writeback()
    {
        using var dir = new TempDir();
        long before = WritebackHint.Started;
        AtomicFile.WriteAtomic(dir["small.txt"], "hello"u8.ToArray());
        Assert.That(WritebackHint.Started - before, Is.Zero);
    }
}
