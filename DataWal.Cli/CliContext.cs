using System.Diagnostics;
using System.Globalization;

namespace DataWal.Cli;

/// <summary>
/// What a command writes to: stdout for results, stderr for diagnostics and progress, whether the
/// output is JSON, and the token that asks a long-running command (<c>scan --follow</c>) to stop.
/// Lines end in <c>\n</c> on every platform (upstream's <c>println!</c>).
/// </summary>
internal sealed class CliContext
{
    private static int s_interruptScopes;

    public CliContext(TextWriter output, TextWriter error, bool json, bool stderrIsTerminal, CancellationToken cancellation = default)
    {
        Out = output;
        Err = error;
        Json = json;
        ProgressEnabled = stderrIsTerminal && !json;
        Cancellation = cancellation;
    }

    /// <summary>
    /// True while some command in this process ends cleanly on <see cref="Cancellation"/> (inside
    /// <see cref="HandleInterrupts"/>): <see cref="Program.Main"/> then turns Ctrl-C and SIGTERM into a
    /// cancellation. Otherwise the signals keep their default effect (the process ends at once), so a long
    /// pass that does not watch the token can still be interrupted.
    /// </summary>
    public static bool InterruptsHandled => Volatile.Read(ref s_interruptScopes) > 0;

    public TextWriter Out { get; }

    public TextWriter Err { get; }

    public bool Json { get; }

    /// <summary>Progress is shown only on an interactive stderr and never in JSON mode.</summary>
    public bool ProgressEnabled { get; }

    public void Line(string text) => Out.Write(text + "\n");

    /// <summary>A <c>label: value</c> line with the label padded to <paramref name="width"/> characters.</summary>
    public void Field(string label, object value, int width) =>
        Line(label.PadRight(width) + Convert.ToString(value, CultureInfo.InvariantCulture));

    /// <summary>The subcommand this context runs (<c>scan</c>, <c>export</c>, ...), named in JSON error and note lines.</summary>
    public string? Command { get; init; }

    /// <summary>A line on stderr for people only: callers leave it out under <c>--json</c> or use <see cref="Fail(string, int)"/>/<see cref="Note"/>.</summary>
    public void ErrorLine(string text) => Err.Write(text + "\n");

    /// <summary>
    /// Reports the error that ends the command and returns <paramref name="exitCode"/>: <paramref name="humanLine"/>
    /// on stderr, or under <c>--json</c> one <c>kind:"error"</c> line there (so a consumer parsing stderr never meets prose).
    /// </summary>
    public int Fail(string humanLine, string message, int exitCode)
    {
        Err.Write((Json ? JsonLines.Error(Command, message, exitCode) : humanLine) + "\n");
        return exitCode;
    }

    /// <summary>A command's own error line, <c>datawal: COMMAND: MESSAGE</c> (JSON: <c>kind:"error"</c> with MESSAGE).</summary>
    public int FailIn(string command, string message, int exitCode) => Fail($"datawal: {command}: {message}", message, exitCode);

    /// <summary>The generic error line, <c>datawal: error: MESSAGE</c> (JSON: <c>kind:"error"</c>).</summary>
    public int Fail(string message, int exitCode) => Fail($"datawal: error: {message}", message, exitCode);

    /// <summary>A note that does not end the command: <paramref name="humanLine"/>, or under <c>--json</c> a <c>kind:"note"</c> line, on stderr.</summary>
    public void Note(string humanLine, string message) =>
        Err.Write((Json ? JsonLines.Note(Command, message) : humanLine) + "\n");

    public ProgressLine Progress() => new(ProgressEnabled ? Err : null);

    /// <summary>Fires when the caller asks the command to stop (Ctrl-C, SIGTERM, or the embedder's token).</summary>
    public CancellationToken Cancellation { get; }

    /// <summary>Declares, until disposed, that this command ends cleanly on <see cref="Cancellation"/> (see <see cref="InterruptsHandled"/>).</summary>
    /// <remarks>A no-op when <see cref="Cancellation"/> can never fire: nothing could then end the command.</remarks>
    public IDisposable HandleInterrupts()
    {
        if (!Cancellation.CanBeCanceled)
        {
            return new InterruptScope(armed: false);
        }

        Interlocked.Increment(ref s_interruptScopes);
        return new InterruptScope(armed: true);
    }

    private sealed class InterruptScope(bool armed) : IDisposable
    {
        private int _disposed = armed ? 0 : 1;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref s_interruptScopes);
            }
        }
    }
}

/// <summary>A single, throttled status line on stderr (carriage return, no newline), erased when disposed.</summary>
internal sealed class ProgressLine : IDisposable
{
    private static readonly long Interval = Stopwatch.Frequency / 10;

    private readonly TextWriter? _writer;
    private long _lastTick;
    private int _width;

    public ProgressLine(TextWriter? writer) => _writer = writer;

    public bool Enabled => _writer is not null;

    /// <summary>Shows <paramref name="text"/> unless the last update was less than 100 ms ago (or <paramref name="force"/>).</summary>
    public void Update(Func<string> text, bool force = false)
    {
        if (_writer is null)
        {
            return;
        }

        long now = Stopwatch.GetTimestamp();
        if (!force && _lastTick != 0 && now - _lastTick < Interval)
        {
            return;
        }

        _lastTick = now;
        string line = text();
        _writer.Write("\r" + line.PadRight(_width));
        _width = line.Length;
        _writer.Flush();
    }

    public void Dispose()
    {
        if (_writer is not null && _width > 0)
        {
            _writer.Write("\r" + new string(' ', _width) + "\r");
            _writer.Flush();
            _width = 0;
        }
    }
}

/// <summary>An error the command reports as <c>datawal: error: &lt;message&gt;</c> with the given exit code.</summary>
internal sealed class CliException : Exception
{
    public CliException(string message, int exitCode = ExitCodes.Error, Exception? inner = null, string? hint = null)
        : base(message, inner)
    {
        ExitCode = exitCode;
        Hint = hint;
    }

    public int ExitCode { get; }

    /// <summary>A <c>datawal: hint: …</c> line printed after the error (not under <c>--json</c>), or null.</summary>
    public string? Hint { get; }
}

/// <summary>
/// An <see cref="IProgress{T}"/> that runs its callback on the reporting thread at once: <see cref="Progress{T}"/>
/// would post each report to the thread pool, where it could arrive out of order or after the line was erased.
/// </summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
