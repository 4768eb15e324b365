using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;
using DataWal.Core;
using NUnit.Framework;

namespace TestSupport;

// Shared by the DataWal.Core and DataWal.Kv telemetry tests (linked into the latter): listeners that keep
// only what concerns one test's directory, and one that only counts.

/// <summary>A listener on every DataWal instrument whose callback only counts (it allocates nothing).</summary>
internal static class CountingListener
{
    // The key/value store's names (KvDiagnostics): spelled out because this file is compiled into the Core tests
    // too, which do not reference DataWal.Kv.
    internal const string KvMeterName = "DataWal.Kv";
    internal const string KvEventSourceName = "DataWal.Kv";

    private static long s_measurements;

    public static long Measurements => Interlocked.Read(ref s_measurements);

    /// <summary>Enables the instruments of DataWal's two meters and nothing else.</summary>
    public static void EnableDataWal(Instrument instrument, MeterListener listener)
    {
        if (instrument.Meter.Name is DataWalDiagnostics.MeterName or KvMeterName)
        {
            listener.EnableMeasurementEvents(instrument);
        }
    }

    public static MeterListener Start()
    {
        var listener = new MeterListener { InstrumentPublished = EnableDataWal };
        listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => Interlocked.Increment(ref s_measurements));
        listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => Interlocked.Increment(ref s_measurements));
        listener.Start();
        return listener;
    }
}

/// <summary>One measurement of a DataWal instrument, with its tags (string values).</summary>
internal sealed record Measured(string Instrument, double Value, IReadOnlyDictionary<string, string?> Tags);

/// <summary>
/// Collects the measurements of DataWal's meters tagged with one directory (other tests' directories are
/// ignored, so concurrent work elsewhere in the process cannot disturb exact counts).
/// </summary>
internal sealed class MetricsCapture : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly string _directory;
    private readonly List<Measured> _measurements = [];

    public MetricsCapture(string directory)
    {
        _directory = directory;
        _listener.InstrumentPublished = CountingListener.EnableDataWal;
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.Start();
    }

    public IReadOnlyList<Measured> All
    {
        get
        {
            lock (_measurements)
            {
                return [.. _measurements];
            }
        }
    }

    /// <summary>The values of <paramref name="instrument"/> whose tags include every one of <paramref name="tags"/>, in order.</summary>
    public List<double> Values(string instrument, params (string Key, string Value)[] tags) =>
        All.Where(m => m.Instrument == instrument && tags.All(t => m.Tags.TryGetValue(t.Key, out var v) && v == t.Value)).Select(m => m.Value).ToList();

    public double Sum(string instrument, params (string Key, string Value)[] tags) => Values(instrument, tags).Sum();

    public int Count(string instrument, params (string Key, string Value)[] tags) => Values(instrument, tags).Count;

    public void Dispose() => _listener.Dispose();

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var map = new Dictionary<string, string?>();
        foreach (var (key, tagValue) in tags)
        {
            Assert.That(tagValue, Is.TypeOf<string>(), $"{instrument.Name}: tag {key} is a string (never boxed)");
            map[key] = (string?)tagValue;
        }

        if (map.TryGetValue(DataWalDiagnostics.DirectoryTag, out var directory) && directory == _directory)
        {
            lock (_measurements)
            {
                _measurements.Add(new Measured(instrument.Name, value, map));
            }
        }
    }
}

/// <summary>Collects the DataWal event sources' events whose first payload (the directory) is one directory.</summary>
internal sealed class EventCapture : EventListener
{
    private readonly ConcurrentQueue<EventWrittenEventArgs> _events = new();
    private readonly string _directory;

    public EventCapture(string directory)
    {
        _directory = directory;
    }

    public IReadOnlyList<EventWrittenEventArgs> All => [.. _events];

    public IReadOnlyList<string?> Names => All.Select(e => e.EventName).ToList();

    public EventWrittenEventArgs Single(string name) => All.Single(e => e.EventName == name);

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name is DataWalDiagnostics.EventSourceName or CountingListener.KvEventSourceName)
        {
            EnableEvents(eventSource, EventLevel.Verbose);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        // Called from the base constructor's replay before _directory is set: those events are not ours.
        if (_directory is not null && eventData.Payload is { Count: > 0 } payload && Equals(payload[0], _directory))
        {
            _events.Enqueue(eventData);
        }
    }
}
