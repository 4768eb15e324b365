using DataWal.Core;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Kv.Tests;

/// <summary>
/// <see cref="KvCopyProgress"/> from CompactToAsync, ExportJsonlAsync and SalvageToAsync: reported in order as the copy
/// goes, last at the total once the output is complete, and the token stops the copy.
/// </summary>
public class CopyProgressTests
{
    private const int Keys = 10_000;   // more than two reporting intervals (4,096 keys)

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("kv-progress");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private KvStore Filled()
    {
        var kv = KvStore.Open(_dir["store"]);
        for (int i = 0; i < Keys; i++)
        {
            kv.Put($"key:{i:D6}", $"value {i}");
        }

        kv.Delete("key:000000"u8);   // a dead key is not copied, nor counted
        return kv;
    }

    [Test]
    public async Task CompactToAsync_reports_up_to_the_total()
    {
        using var kv = Filled();
        var reports = new List<KvCopyProgress>();
        var stats = await kv.CompactToAsync(_dir["copy"], new Recorder(reports.Add));
        AssertRisingToTheEnd(reports, Keys - 1, stats.BytesWritten);
    }

    [Test]
    public async Task ExportJsonlAsync_reports_up_to_the_total_once_the_file_is_in_place()
    {
        using var kv = Filled();
        var reports = new List<KvCopyProgress>();
        string path = _dir["out.jsonl"];
        bool inPlaceAtTheEnd = false;
        await kv.ExportJsonlAsync(path, overwrite: false, new Recorder(p =>
        {
            reports.Add(p);
            inPlaceAtTheEnd = p.KeysCopied == p.KeysTotal && File.Exists(path);
        }));
        AssertRisingToTheEnd(reports, Keys - 1, new FileInfo(path).Length);
        Assert.That(inPlaceAtTheEnd, Is.True, "the final report comes when the file is in place");
    }

    [Test]
    public async Task SalvageToAsync_reports_up_to_the_total()
    {
        using (Filled())
        {
        }

        var reports = new List<KvCopyProgress>();
        var result = await KvStore.SalvageToAsync(_dir["store"], _dir["salvaged"], new Recorder(reports.Add));
        Assert.That(result.LiveKeys, Is.EqualTo(Keys - 1));
        AssertRisingToTheEnd(reports, Keys - 1, result.BytesWritten);
        using var salvaged = KvStore.OpenReadOnly(_dir["salvaged"]);
        Assert.That(salvaged.Count, Is.EqualTo(Keys - 1));
    }

    [Test]
    public void Cancelling_from_the_first_report_stops_each_copy()
    {
        using var kv = Filled();
        Assert.Multiple(() =>
        {
            Assert.That(Cancelled(p => kv.CompactToAsync(_dir["copy"], p, p.Token)), Is.LessThan(Keys - 1));
            Assert.That(Cancelled(p => kv.ExportJsonlAsync(_dir["out.jsonl"], false, p, p.Token)), Is.LessThan(Keys - 1));
            Assert.That(File.Exists(_dir["out.jsonl"]), Is.False, "a cancelled export leaves no file");
            Assert.That(AtomicLeftovers(), Is.Empty, "nor a temp file");
        });
    }

    private string[] AtomicLeftovers() => [.. SafeAtomic.AtomicFile.FindTempFiles(_dir.Path)];

    /// <returns>The last report's count before the copy stopped.</returns>
    private static long Cancelled(Func<CancellingRecorder, Task> copy)
    {
        var recorder = new CancellingRecorder();
        Assert.That(async () => await copy(recorder), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(recorder.Reports, Is.Not.Empty);
        return recorder.Reports[^1].KeysCopied;
    }

    private static void AssertRisingToTheEnd(List<KvCopyProgress> reports, long total, long bytes)
    {
        Assert.That(reports, Has.Count.GreaterThanOrEqualTo(3), "two intervals and the end");
        Assert.That(reports.Select(r => r.KeysTotal).Distinct(), Is.EqualTo(new[] { total }));
        Assert.That(reports.Select(r => r.KeysCopied), Is.Ordered.Ascending);
        Assert.That(reports.Select(r => r.BytesWritten), Is.Ordered.Ascending);
        Assert.That(reports[^1], Is.EqualTo(new KvCopyProgress(total, total, bytes)));
        Assert.That(reports.Take(reports.Count - 1).All(r => r.KeysCopied < total), Is.True, "only the last report is at the total");
    }

    private sealed class Recorder(Action<KvCopyProgress> report) : IProgress<KvCopyProgress>
    {
        public void Report(KvCopyProgress value) => report(value);
    }

    private sealed class CancellingRecorder : IProgress<KvCopyProgress>, IDisposable
    {
        private readonly CancellationTokenSource _cts = new();

        public List<KvCopyProgress> Reports { get; } = [];

        public CancellationToken Token => _cts.Token;

        public void Report(KvCopyProgress value)
        {
            Reports.Add(value);
            _cts.Cancel();
        }

        public void Dispose() => _cts.Dispose();
    }
}
