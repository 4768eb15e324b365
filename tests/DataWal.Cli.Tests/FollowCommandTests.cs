using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>
/// <c>scan --follow</c>: in-process through <see cref="Program.Run(string[], TextWriter, TextWriter, CancellationToken)"/>
/// with a writer in the test, and as a real child process ended by SIGINT / SIGTERM.
/// </summary>
public partial class FollowCommandTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("cli-follow");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static void Append(RecordLog log, params string[] payloads)
    {
        foreach (var p in payloads)
        {
            log.Append(Encoding.UTF8.GetBytes(p));
        }
    }

    // ---- in-process

    [Test]
    public void Follow_prints_existing_then_appended_records_across_a_rotation()
    {
        string store = _dir["store"];
        using var log = RecordLog.Open(store);
        Append(log, "boot", "config loaded");
        using var follow = new InProcessFollow("scan", store, "--follow");
        follow.WaitForLines(2);
        Append(log, "ready");
        log.Rotate();
        Append(log, "after rotate");
        follow.WaitForLines(4);
        Assert.That(follow.Stop(), Is.Zero, follow.ToString());
        Assert.That(follow.Out.Text, Is.EqualTo(
            "seg=00000001 off=         0 len=      32 type=RAW txid=         1 key=\"\" payload=boot\n" +
            "seg=00000001 off=        32 len=      41 type=RAW txid=         2 key=\"\" payload=\"config loaded\"\n" +
            "seg=00000001 off=        73 len=      33 type=RAW txid=         3 key=\"\" payload=ready\n" +
            "seg=00000002 off=         0 len=      40 type=RAW txid=         4 key=\"\" payload=\"after rotate\"\n"));
        Assert.That(follow.Err.Text, Is.Empty);
    }

    [Test]
    public void Json_follow_prints_the_same_record_lines_as_scan()
    {
        string store = _dir["store"];
        using var log = RecordLog.Open(store);
        Append(log, "boot");
        using var follow = new InProcessFollow("--json", "scan", store, "-f");
        follow.WaitForLines(1);
        log.Rotate();
        Append(log, "ready");
        follow.WaitForLines(2);
        Assert.That(follow.Stop(), Is.Zero, follow.ToString());
        Assert.That(follow.Out.Text, Is.EqualTo(
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"record\",\"segment\":1,\"offset\":0,\"len\":32,\"record_type\":\"Raw\",\"txid\":1,\"key_base64\":\"\",\"payload_base64\":\"Ym9vdA==\"}\n" +
            "{\"schema\":\"datawal.cli.v1\",\"kind\":\"record\",\"segment\":2,\"offset\":0,\"len\":33,\"record_type\":\"Raw\",\"txid\":2,\"key_base64\":\"\",\"payload_base64\":\"cmVhZHk=\"}\n"));
        Assert.That(Cli.Run("--json", "scan", store).Out, Is.EqualTo(follow.Out.Text), "the same lines as a plain scan");
        Assert.That(follow.Err.Text, Is.Empty);
    }

    [Test]
    public void From_now_skips_the_existing_records()
    {
        string store = _dir["store"];
        using var log = RecordLog.Open(store);
        Append(log, "old-1", "old-2");
        using var follow = new InProcessFollow("scan", store, "--follow", "--from", "now");

        // When the follower has taken its position is not observable: append until one new record shows.
        var deadline = DateTime.UtcNow + Timeout;
        int appended = 0;
        while (follow.Out.Lines.Length == 0)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "no record printed: " + follow);
            Append(log, $"new-{appended++}");
            Thread.Sleep(20);
        }

        Append(log, "last");
        follow.WaitFor(l => l.EndsWith("payload=last", StringComparison.Ordinal));
        Assert.That(follow.Stop(), Is.Zero, follow.ToString());
        var lines = follow.Out.Lines;
        Assert.That(lines, Has.None.Contains("old-"), follow.ToString());
        Assert.That(lines[^1], Does.EndWith("payload=last"));
        int first = int.Parse(lines[0][(lines[0].LastIndexOf('-') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var expected = Enumerable.Range(first, appended - first).Select(i => $"payload=new-{i}").Append("payload=last").ToArray();
        Assert.That(lines.Select(l => l[l.IndexOf("payload=", StringComparison.Ordinal)..]), Is.EqualTo(expected), "every record from the first new one on, in order");
    }

    [Test]
    public void Limit_ends_the_follow_with_exit_0_after_N_records()
    {
        string store = _dir["store"];
        using var log = RecordLog.Open(store);
        Append(log, "a", "b");
        using var follow = new InProcessFollow("scan", store, "--follow", "--limit", "3");
        follow.WaitForLines(2);
        Assert.That(follow.Exit.IsCompleted, Is.False, "two of three records: still following");
        Append(log, "c", "d");
        Assert.That(follow.WaitForExit(), Is.Zero, follow.ToString());
        Assert.That(follow.Out.Lines.Select(l => l[^1..]), Is.EqualTo(new[] { "a", "b", "c" }));
        Assert.That(follow.Err.Text, Is.Empty);
    }

    [Test]
    public void From_segment_and_offset_filter_the_follow_like_the_scan()
    {
        string store = _dir["store"];
        using var log = RecordLog.Open(store);
        Append(log, "a", "b");
        log.Rotate();
        Append(log, "c", "d");   // segment 2: c at 0, d at 29
        using var follow = new InProcessFollow("scan", store, "--follow", "--from-segment", "2", "--from-offset", "29", "--limit", "2");
        follow.WaitForLines(1);
        Append(log, "e");
        Assert.That(follow.WaitForExit(), Is.Zero, follow.ToString());
        Assert.That(follow.Out.Text, Is.EqualTo(
            "seg=00000002 off=        29 len=      29 type=RAW txid=         4 key=\"\" payload=d\n" +
            "seg=00000002 off=        58 len=      29 type=RAW txid=         5 key=\"\" payload=e\n"));
    }

    [Test]
    public void Output_is_flushed_whenever_the_follower_waits()
    {
        string store = _dir["store"];
        using var log = RecordLog.Open(store);
        Append(log, "a", "b");
        using var follow = new InProcessFollow(new LineSink(buffered: true), "scan", store, "--follow");
        follow.WaitForLines(2);   // visible only once flushed
        Append(log, "c");
        follow.WaitForLines(3);
        Assert.That(follow.Stop(), Is.Zero, follow.ToString());
    }

    [Test]
    public void Cancellation_ends_the_follow_with_exit_0_and_every_line_printed()
    {
        string store = Stores.Raw(_dir, "one", "two");
        using var follow = new InProcessFollow("scan", store, "--follow", "--poll-interval", "50");
        follow.WaitForLines(2);
        Assert.That(follow.Exit.IsCompleted, Is.False, "a follow runs until cancelled");
        Assert.That(follow.Stop(), Is.Zero, follow.ToString());
        Assert.That(follow.Out.Lines, Has.Length.EqualTo(2));
        Assert.That(follow.Out.Lines[1], Does.EndWith("payload=two"));
        Assert.That(follow.Err.Text, Is.Empty);
    }

    [Test]
    public void A_damaged_tail_is_waited_on_not_reported()
    {
        string store = Stores.Raw(_dir, "one", "two", "three");
        Stores.Tear(store, 5);
        using var follow = new InProcessFollow("scan", store, "--follow");
        follow.WaitForLines(2);
        using (var log = RecordLog.Open(store))   // cuts the torn tail, then appends where "three" began
        {
            Append(log, "four");
        }

        follow.WaitForLines(3);
        Assert.That(follow.Stop(), Is.Zero, follow.ToString());
        Assert.That(follow.Out.Lines[2], Is.EqualTo("seg=00000001 off=        62 len=      32 type=RAW txid=         3 key=\"\" payload=four"));
        Assert.That(follow.Out.Text, Does.Not.Contain("three"));
        Assert.That(follow.Err.Text, Is.Empty, "no damaged-tail message while following");
    }

    [Test]
    public void Durable_only_follow_prints_fsynced_records()
    {
        string store = Stores.Raw(_dir, "one");
        using var follow = new InProcessFollow("scan", store, "--follow", "--durable-only");
        follow.WaitForLines(1);
        using (var log = RecordLog.Open(store))
        {
            Append(log, "two");
            log.Fsync();
        }

        follow.WaitForLines(2);
        Assert.That(follow.Stop(), Is.Zero, follow.ToString());
        Assert.That(follow.Out.Lines[1], Does.EndWith("payload=two"));
    }

    [Test]
    public void Corrupt_sealed_segment_while_following_exits_3()
    {
        string store = Corpus.Copy(_dir, "bad_crc");
        using var follow = new InProcessFollow("scan", store, "--follow");
        Assert.That(follow.WaitForExit(), Is.EqualTo(3), follow.ToString());
        Assert.That(follow.Out.Text, Is.EqualTo("seg=00000001 off=         0 len=      32 type=RAW txid=         1 key=\"\" payload=good\n"));
        Assert.That(follow.Err.Text, Does.StartWith("datawal: scan: mid-stream error: ").And.Contain("non-tail segment 2"));
        var err = follow.Err.Text.TrimEnd('\n').Split('\n');
        Assert.That(err, Has.Length.EqualTo(2), "one line of error, then the hint");
        Assert.That(err[1], Does.StartWith("datawal: hint: the damage is in segment 2 ").And.Contain($"datawal scan {store} --follow --salvage"));
    }

    [Test]
    public void Missing_store_is_an_error_while_following()
    {
        using var follow = new InProcessFollow("scan", _dir["missing"], "--follow");
        Assert.That(follow.WaitForExit(), Is.EqualTo(1), follow.ToString());
        Assert.That(follow.Err.Text, Does.StartWith("datawal: error: store directory not found"));
        Assert.That(Path.Exists(_dir["missing"]), Is.False);
    }

    [TestCase("--durable-only", "--durable-only requires --follow")]
    [TestCase("--poll-interval 100", "--poll-interval requires --follow")]
    [TestCase("--from now", "--from requires --follow")]
    [TestCase("--follow --poll-interval 0", "invalid value '0' for '--poll-interval <MS>': expected a positive integer number of milliseconds no larger than 86400000 (one day)")]
    [TestCase("-f --poll-interval abc", "invalid value 'abc' for '--poll-interval <MS>': expected a positive integer number of milliseconds no larger than 86400000 (one day)")]
    [TestCase("--follow --poll-interval 86400001", "invalid value '86400001' for '--poll-interval <MS>': expected a positive integer number of milliseconds no larger than 86400000 (one day)")]
    [TestCase("--follow --from bogus", "invalid value 'bogus' for '--from <start|now>': expected start or now")]
    [TestCase("--follow --from now --from-segment 1", "--from now cannot be used with --from-segment (both choose where to start)")]
    public void Follow_usage_errors_exit_1_with_a_message(string options, string message)
    {
        string store = Stores.Raw(_dir, "one");
        using var follow = new InProcessFollow(["scan", store, .. options.Split(' ')]);
        Assert.That(follow.WaitForExit(), Is.EqualTo(1), follow.ToString());
        Assert.That(follow.Out.Text, Is.Empty);
        Assert.That(follow.Err.Text, Is.EqualTo($"datawal: error: {message}\nRun 'datawal scan --help' for usage.\n"));
    }

    [Test]
    public void Scan_help_shows_the_follow_options_and_examples()
    {
        var r = Cli.Run("scan", "--help");
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Out, Does.Contain("-f, --follow").And.Contain("--from <start|now>").And.Contain("--durable-only").And.Contain("--poll-interval <MS>"));
        Assert.That(r.Out, Does.Contain("  datawal scan ./store --follow\n").And.Contain("  datawal --json scan ./store --follow --from now\n"));
    }

    // ---- child process

    [TestCase("SIGINT", 2)]
    [TestCase("SIGTERM", 15)]
    public void Child_process_follow_prints_appended_records_and_exits_0_on_a_signal(string name, int signal)
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Ignore("POSIX signals");
        }

        string store = _dir["store"];
        using var log = RecordLog.Open(store);
        Append(log, "a", "b");
        using var child = new ChildFollow(store);
        Assert.That(child.ReadLine(), Does.EndWith("payload=a"), child.ToString());
        Assert.That(child.ReadLine(), Does.EndWith("payload=b"), child.ToString());
        Append(log, "c");   // another process: the child wakes on file-change notification (or its poll)
        Assert.That(child.ReadLine(), Does.EndWith("payload=c"), child.ToString());
        Assert.That(Kill(child.Id, signal), Is.Zero, $"kill -{name}");
        Assert.That(child.WaitForExit(), Is.Zero, $"{name}: {child}");
        Assert.That(child.RemainingLines(), Is.Empty, child.ToString());
        Assert.That(child.Err, Is.Empty, $"{name}: no stack trace, no noise");
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>
    /// A thread-safe writer that records what is written and lets a test wait for lines. When
    /// <paramref name="buffered"/>, text becomes visible only on <see cref="Flush"/>, like a pipe behind a buffer.
    /// </summary>
    private sealed class LineSink(bool buffered = false) : TextWriter
    {
        private readonly StringBuilder _text = new();
        private readonly StringBuilder _pending = new();

        public override Encoding Encoding => Encoding.UTF8;

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        public string[] Lines => Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        public override void Write(char value) => Write(value.ToString());

        public override void Write(string? value)
        {
            lock (_text)
            {
                (buffered ? _pending : _text).Append(value);
                Monitor.PulseAll(_text);
            }
        }

        public override void Flush()
        {
            lock (_text)
            {
                _text.Append(_pending);
                _pending.Clear();
                Monitor.PulseAll(_text);
            }
        }

        /// <summary>Waits until <paramref name="done"/> holds for the complete lines written so far.</summary>
        public bool WaitFor(Func<string[], bool> done, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            lock (_text)
            {
                while (true)
                {
                    string text = _text.ToString();
                    string[] complete = text[..(text.LastIndexOf('\n') + 1)].Split('\n', StringSplitOptions.RemoveEmptyEntries);
                    if (done(complete))
                    {
                        return true;
                    }

                    var left = deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero)
                    {
                        return false;
                    }

                    Monitor.Wait(_text, left);
                }
            }
        }
    }

    /// <summary><c>Program.Run(args, out, err, token)</c> on a pool thread; cancelled (and awaited) when disposed.</summary>
    private sealed class InProcessFollow : IDisposable
    {
        private readonly CancellationTokenSource _cancel = new();

        public InProcessFollow(params string[] args)
            : this(new LineSink(), args)
        {
        }

        public InProcessFollow(LineSink output, params string[] args)
        {
            Out = output;
            Exit = Task.Run(() => Program.Run(args, Out, Err, _cancel.Token));
        }

        public LineSink Out { get; }

        public LineSink Err { get; } = new();

        public Task<int> Exit { get; }

        public void WaitForLines(int count) =>
            Assert.That(Out.WaitFor(lines => lines.Length >= count || Exit.IsCompleted, Timeout) && Out.Lines.Length >= count, Is.True, $"waiting for {count} lines: {this}");

        public void WaitFor(Func<string, bool> line) =>
            Assert.That(Out.WaitFor(lines => lines.Any(line), Timeout), Is.True, $"waiting for a line: {this}");

        public int WaitForExit()
        {
            Assert.That(Exit.Wait(Timeout), Is.True, $"the run did not end: {this}");
            return Exit.Result;
        }

        /// <summary>Cancels the token and returns the exit code.</summary>
        public int Stop()
        {
            _cancel.Cancel();
            return WaitForExit();
        }

        public override string ToString() =>
            $"exit {(Exit.IsCompleted ? Exit.Result.ToString(System.Globalization.CultureInfo.InvariantCulture) : "(running)")}\n--- stdout\n{Out.Text}--- stderr\n{Err.Text}";

        public void Dispose()
        {
            _cancel.Cancel();
            try
            {
                Exit.Wait(Timeout);
            }
            catch (AggregateException)
            {
            }

            _cancel.Dispose();
            Out.Dispose();
            Err.Dispose();
        }
    }

    /// <summary>The real <c>datawal.dll scan STORE --follow</c> in a child process, its stdout read line by line.</summary>
    private sealed class ChildFollow : IDisposable
    {
        private readonly Process _process;
        private readonly BlockingCollection<string> _lines = [];
        private readonly StringBuilder _err = new();

        public ChildFollow(string store)
        {
            var psi = new ProcessStartInfo(ChildProcess.DotnetHost)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { Cli.Dll, "scan", store, "--follow" })
            {
                psi.ArgumentList.Add(a);
            }

            _process = new Process { StartInfo = psi };
            _process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    _lines.CompleteAdding();
                }
                else
                {
                    _lines.Add(e.Data);
                }
            };
            _process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    lock (_err)
                    {
                        _err.Append(e.Data).Append('\n');
                    }
                }
            };
            _process.Start();
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public int Id => _process.Id;

        public string Err
        {
            get
            {
                lock (_err)
                {
                    return _err.ToString();
                }
            }
        }

        /// <summary>The next stdout line, or null at the end of the output or after 15 s (the first includes process start).</summary>
        public string? ReadLine() => _lines.TryTake(out var line, TimeSpan.FromSeconds(15)) ? line : null;

        public int WaitForExit()
        {
            Assert.That(_process.WaitForExit(Timeout), Is.True, $"datawal did not exit: {this}");
            _process.WaitForExit();   // the output readers reach the end
            return _process.ExitCode;
        }

        public List<string> RemainingLines()
        {
            var rest = new List<string>();
            while (_lines.TryTake(out var line, TimeSpan.FromSeconds(5)))
            {
                rest.Add(line);
            }

            return rest;
        }

        public override string ToString() => $"pid {_process.Id}, stderr:\n{Err}";

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill();
                    _process.WaitForExit();
                }
            }
            catch (InvalidOperationException)
            {
            }

            _process.Dispose();
            _lines.Dispose();
        }
    }
}
