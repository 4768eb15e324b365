using NUnit.Framework;

namespace DataWal.Core.Tests;

/// <summary>
/// <see cref="RecordLogOptions"/> and <see cref="FollowOptions"/> refuse a bad value where it is set (the
/// object initializer), naming the property, the way System.Threading.Channels' options do; every value at
/// a valid boundary is kept as given, and the defaults are the documented ones.
/// </summary>
public class OptionsTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromTicks(1);

    private static void AssertRefused(Action build, string property, object actual, string message)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => build())!;
        Assert.That(e.ParamName, Is.EqualTo(property));
        Assert.That(e.ActualValue, Is.EqualTo(actual));
        Assert.That(e.Message, Does.StartWith(message));
    }

    // ---------------------------------------------------------------- RecordLogOptions

    [Test]
    public void RecordLogOptions_defaults_are_unchanged()
    {
        var options = new RecordLogOptions();
        Assert.That(options.ReadBufferSize, Is.EqualTo(256 * 1024));
        Assert.That(options.Durability, Is.EqualTo(DurabilityMode.Manual));
        Assert.That(options.GroupCommitInterval, Is.EqualTo(TimeSpan.FromMilliseconds(10)));
        Assert.That(options.GroupCommitRecords, Is.Zero);
        Assert.That(options.GroupCommitBytes, Is.Zero);
    }

    [TestCase(0)]
    [TestCase(-1)]
    [TestCase(int.MinValue)]
    [TestCase((1 << 30) + 1)]
    [TestCase(int.MaxValue)]
    public void RecordLogOptions_ReadBufferSize_out_of_range_is_refused(int value) =>
        AssertRefused(() => _ = new RecordLogOptions { ReadBufferSize = value }, "ReadBufferSize", value,
            "RecordLogOptions.ReadBufferSize must be positive and at most 1 GiB.");

    [TestCase(1)]
    [TestCase(24)]
    [TestCase(1 << 30)]
    public void RecordLogOptions_ReadBufferSize_at_a_valid_boundary_is_kept(int value) =>
        Assert.That(new RecordLogOptions { ReadBufferSize = value }.ReadBufferSize, Is.EqualTo(value));

    [TestCase(-1)]
    [TestCase(3)]
    [TestCase(42)]
    [TestCase(int.MaxValue)]
    public void RecordLogOptions_undefined_Durability_is_refused(int value) =>
        AssertRefused(() => _ = new RecordLogOptions { Durability = (DurabilityMode)value }, "Durability", (DurabilityMode)value,
            "RecordLogOptions.Durability must be a defined DurabilityMode value.");

    [Test]
    public void RecordLogOptions_every_named_Durability_is_kept([Values] DurabilityMode mode) =>
        Assert.That(new RecordLogOptions { Durability = mode }.Durability, Is.EqualTo(mode));

    private static IEnumerable<TimeSpan> BadGroupCommitIntervals() =>
    [
        TimeSpan.Zero, -Tick, TimeSpan.FromMilliseconds(-10), Timeout.InfiniteTimeSpan, TimeSpan.MinValue,
        TimeSpan.FromMilliseconds(1) - Tick, Tick, TimeSpan.FromDays(1) + Tick, TimeSpan.FromDays(30), TimeSpan.MaxValue,
    ];

    [TestCaseSource(nameof(BadGroupCommitIntervals))]
    public void RecordLogOptions_GroupCommitInterval_out_of_range_is_refused(TimeSpan value) =>
        AssertRefused(() => _ = new RecordLogOptions { GroupCommitInterval = value }, "GroupCommitInterval", value,
            "RecordLogOptions.GroupCommitInterval must be at least 1 ms and at most one day.");

    [Test]
    public void RecordLogOptions_GroupCommitInterval_is_checked_whatever_the_durability_mode() =>
        AssertRefused(() => _ = new RecordLogOptions { Durability = DurabilityMode.Manual, GroupCommitInterval = TimeSpan.Zero },
            "GroupCommitInterval", TimeSpan.Zero, "RecordLogOptions.GroupCommitInterval must be at least 1 ms and at most one day.");

    private static IEnumerable<TimeSpan> GoodGroupCommitIntervals() =>
        [TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1) + Tick, TimeSpan.FromHours(1), TimeSpan.FromDays(1)];

    [TestCaseSource(nameof(GoodGroupCommitIntervals))]
    public void RecordLogOptions_GroupCommitInterval_at_a_valid_boundary_is_kept(TimeSpan value) =>
        Assert.That(new RecordLogOptions { GroupCommitInterval = value }.GroupCommitInterval, Is.EqualTo(value));

    [TestCase(-1)]
    [TestCase(int.MinValue)]
    public void RecordLogOptions_negative_GroupCommitRecords_is_refused(int value) =>
        AssertRefused(() => _ = new RecordLogOptions { GroupCommitRecords = value }, "GroupCommitRecords", value,
            "RecordLogOptions.GroupCommitRecords must not be negative (0 = no limit).");

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(int.MaxValue)]
    public void RecordLogOptions_GroupCommitRecords_at_a_valid_boundary_is_kept(int value) =>
        Assert.That(new RecordLogOptions { GroupCommitRecords = value }.GroupCommitRecords, Is.EqualTo(value));

    [TestCase(-1L)]
    [TestCase(long.MinValue)]
    public void RecordLogOptions_negative_GroupCommitBytes_is_refused(long value) =>
        AssertRefused(() => _ = new RecordLogOptions { GroupCommitBytes = value }, "GroupCommitBytes", value,
            "RecordLogOptions.GroupCommitBytes must not be negative (0 = no limit).");

    [TestCase(0L)]
    [TestCase(1L)]
    [TestCase(long.MaxValue)]
    public void RecordLogOptions_GroupCommitBytes_at_a_valid_boundary_is_kept(long value) =>
        Assert.That(new RecordLogOptions { GroupCommitBytes = value }.GroupCommitBytes, Is.EqualTo(value));

    [Test]
    public void A_log_opens_with_every_option_at_its_smallest_valid_value()
    {
        using var dir = new TestSupport.TempDir();
        var options = new RecordLogOptions
        {
            ReadBufferSize = 1,
            Durability = DurabilityMode.Grouped,
            GroupCommitInterval = TimeSpan.FromMilliseconds(1),
            GroupCommitRecords = 0,
            GroupCommitBytes = 0,
        };
        using (var log = RecordLog.Open(dir.Path, options))
        {
            log.Append(TestUtil.B("a"));
            log.Append(TestUtil.B("b"));
            log.Fsync();
        }

        using var reopened = RecordLog.Open(dir.Path, options);
        Assert.That(reopened.Scan().Select(r => TestUtil.S(r.Payload)), Is.EqualTo(new[] { "a", "b" }));
    }

    // ---------------------------------------------------------------- FollowOptions

    [Test]
    public void FollowOptions_defaults_are_unchanged()
    {
        var options = new FollowOptions();
        Assert.That(options.DurableOnly, Is.False);
        Assert.That(options.PollInterval, Is.EqualTo(TimeSpan.FromMilliseconds(250)));
        Assert.That(FollowOptions.DefaultPollInterval, Is.EqualTo(TimeSpan.FromMilliseconds(250)));
        Assert.That(options.WatchFileSystem, Is.True);
        Assert.That(options.ReadBufferSize, Is.EqualTo(256 * 1024));
    }

    private static IEnumerable<TimeSpan> BadPollIntervals() =>
        [TimeSpan.Zero, -Tick, TimeSpan.FromMilliseconds(-250), Timeout.InfiniteTimeSpan, TimeSpan.MinValue, TimeSpan.FromDays(1) + Tick, TimeSpan.MaxValue];

    [TestCaseSource(nameof(BadPollIntervals))]
    public void FollowOptions_PollInterval_out_of_range_is_refused(TimeSpan value) =>
        AssertRefused(() => _ = new FollowOptions { PollInterval = value }, "PollInterval", value,
            "FollowOptions.PollInterval must be positive and at most one day.");

    private static IEnumerable<TimeSpan> GoodPollIntervals() => [Tick, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1), TimeSpan.FromDays(1)];

    [TestCaseSource(nameof(GoodPollIntervals))]
    public void FollowOptions_PollInterval_at_a_valid_boundary_is_kept(TimeSpan value) =>
        Assert.That(new FollowOptions { PollInterval = value }.PollInterval, Is.EqualTo(value));

    [TestCase(0)]
    [TestCase(-5)]
    [TestCase(int.MinValue)]
    [TestCase((1 << 30) + 1)]
    [TestCase(int.MaxValue)]
    public void FollowOptions_ReadBufferSize_out_of_range_is_refused(int value) =>
        AssertRefused(() => _ = new FollowOptions { ReadBufferSize = value }, "ReadBufferSize", value,
            "FollowOptions.ReadBufferSize must be positive and at most 1 GiB.");

    [TestCase(1)]
    [TestCase(16)]
    [TestCase(1 << 30)]
    public void FollowOptions_ReadBufferSize_at_a_valid_boundary_is_kept(int value) =>
        Assert.That(new FollowOptions { ReadBufferSize = value }.ReadBufferSize, Is.EqualTo(value));
}
