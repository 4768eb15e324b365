using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Reflection;
using System.Runtime.InteropServices;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary>Entry point of the <c>datawal</c> tool.</summary>
internal static class Program
{
    /// <summary>
    /// Runs the tool on the process's console. While a command that ends cleanly on cancellation runs
    /// (<c>scan --follow</c>), Ctrl-C (SIGINT) and SIGTERM cancel it: it flushes its output and exits 0.
    /// Otherwise the signals keep their default effect.
    /// </summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>The process exit code (see <see cref="ExitCodes"/>).</returns>
    public static int Main(string[] args)
    {
        // Never disposed: a signal may still arrive on another thread while the process winds down.
        var interrupted = new CancellationTokenSource();
        void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
        {
            if (CliContext.InterruptsHandled)
            {
                e.Cancel = true;   // keep the process alive until the command has flushed and returned
                interrupted.Cancel();
            }
        }

        Console.CancelKeyPress += OnCancelKeyPress;
        PosixSignalRegistration? sigterm = null;
        try
        {
            sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                if (CliContext.InterruptsHandled)
                {
                    context.Cancel = true;
                    interrupted.Cancel();
                }
            });
        }
        catch (PlatformNotSupportedException)
        {
        }

        try
        {
            return Run(args, Console.Out, Console.Error, interrupted.Token);
        }
        finally
        {
            sigterm?.Dispose();
            Console.CancelKeyPress -= OnCancelKeyPress;
        }
    }

    /// <summary>
    /// Parses <paramref name="args"/> and runs the chosen command in-process: results go to
    /// <paramref name="stdout"/>, diagnostics to <paramref name="stderr"/>. Never throws for a failing
    /// command and never prints a stack trace: every failure is a message and an exit code. Progress is
    /// shown only when <paramref name="stderr"/> is the process's own stderr and that is a terminal.
    /// </summary>
    /// <param name="args">Command-line arguments, e.g. <c>["--json", "scan", "./store"]</c>.</param>
    /// <param name="stdout">Receives the command's output.</param>
    /// <param name="stderr">Receives errors, hints and progress.</param>
    /// <returns>The exit code (see <see cref="ExitCodes"/>).</returns>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, CancellationToken.None);

    /// <summary>
    /// <see cref="Run(string[], TextWriter, TextWriter)"/> with a way to stop a command that runs until
    /// interrupted: when <paramref name="cancellationToken"/> fires, <c>scan --follow</c> flushes what it
    /// printed and returns <see cref="ExitCodes.Ok"/>. Other commands do not watch the token.
    /// </summary>
    /// <param name="args">Command-line arguments, e.g. <c>["scan", "./store", "--follow"]</c>.</param>
    /// <param name="stdout">Receives the command's output (flushed whenever a follow is about to wait).</param>
    /// <param name="stderr">Receives errors, hints and progress.</param>
    /// <param name="cancellationToken">Ends a follow with exit code 0.</param>
    /// <returns>The exit code (see <see cref="ExitCodes"/>).</returns>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        bool terminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        try
        {
            return new App(stdout, stderr, terminal, cancellationToken).Invoke(args);
        }
        finally
        {
            stdout.Flush();
            stderr.Flush();
        }
    }

    /// <summary>The tool's version (the assembly's informational version without build metadata).</summary>
    internal static string Version
    {
        get
        {
            string? version = typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
            version ??= typeof(Program).Assembly.GetName().Version?.ToString() ?? "0.0.0";
            int plus = version.IndexOf('+', StringComparison.Ordinal);
            return plus >= 0 ? version[..plus] : version;
        }
    }
}

/// <summary>The command tree of one invocation, bound to its output writers.</summary>
internal sealed class App
{
    private readonly TextWriter _out;
    private readonly TextWriter _err;
    private readonly bool _terminal;
    private readonly CancellationToken _cancellation;
    private readonly Dictionary<Command, string[]> _examples = [];

    public App(TextWriter output, TextWriter error, bool terminal, CancellationToken cancellation)
    {
        _out = output;
        _err = error;
        _terminal = terminal;
        _cancellation = cancellation;
        Json = new Option<bool>("--json")
        {
            Description = "Machine-readable output: one compact JSON object per line (schema datawal.cli.v1). Accepted before or after the command.",
            Recursive = true,
            Arity = ArgumentArity.Zero,
        };
    }

    /// <summary>The global <c>--json</c> flag.</summary>
    public Option<bool> Json { get; }

    public int Invoke(string[] args)
    {
        var root = BuildRoot();
        var parse = root.Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            string? chosen = parse.CommandResult.Command is RootCommand ? null : parse.CommandResult.Command.Name;
            bool json = args.Contains("--json", StringComparer.Ordinal);
            foreach (var error in UsageErrors(root, parse))
            {
                _err.Write((json ? JsonLines.Error(chosen, error.Message, ExitCodes.Error) : $"datawal: error: {error.Message}") + "\n");
            }

            if (!json)
            {
                _err.Write($"Run 'datawal {(chosen is null ? "" : chosen + " ")}--help' for usage.\n");
            }

            return ExitCodes.Error;
        }

        var configuration = new InvocationConfiguration
        {
            Output = _out,
            Error = _err,
            EnableDefaultExceptionHandler = false,
        };
        try
        {
            return parse.Invoke(configuration);
        }
#pragma warning disable CA1031 // The tool's outermost handler: any failure is a message and exit code 1 (upstream's contract), never a stack trace.
        catch (Exception e)
#pragma warning restore CA1031
        {
            // Only reached by exceptions outside a command body (those are handled in Bind).
            bool json = args.Contains("--json", StringComparer.Ordinal);
            _err.Write((json ? JsonLines.Error(null, e.Message, ExitCodes.Error) : $"datawal: error: {e.Message}") + "\n");
            return ExitCodes.Error;
        }
    }

    /// <summary>
    /// The parse errors to print: all of them, except that an unrecognized word where a command belongs
    /// (<c>datawal frobnicate</c>) is reported alone, without the "no command was given" error that comes with it.
    /// </summary>
    private static IEnumerable<ParseError> UsageErrors(RootCommand root, ParseResult parse)
    {
        if (parse.CommandResult.Command is not RootCommand || parse.UnmatchedTokens.Count == 0)
        {
            return parse.Errors;
        }

        // The parser's own (localized) wording of "no command": the one error of an empty command line.
        var noCommand = root.Parse([]).Errors.Select(e => e.Message).ToHashSet(StringComparer.Ordinal);
        var rest = parse.Errors.Where(e => !noCommand.Contains(e.Message)).ToList();
        return rest.Count > 0 ? rest : parse.Errors;
    }

    /// <summary>Sets a command's action: builds its context and turns every failure into a message and an exit code.</summary>
    public void Bind(Command command, Func<ParseResult, CliContext, int> body, params string[] examples)
    {
        _examples[command] = examples;
        command.SetAction(parse =>
        {
            var context = new CliContext(_out, _err, parse.GetValue(Json), _terminal, _cancellation) { Command = command.Name };
            try
            {
                return body(parse, context);
            }
            catch (CliException e)
            {
                context.Fail(e.Message, e.ExitCode);
                if (e.Hint is { } hint)
                {
                    Salvage.Hint(context, hint);
                }

                return e.ExitCode;
            }
            catch (CorruptRecordException e)
            {
                // Commands wrap corruption with their own hint; this is the fallback for any that does not.
                context.Fail(e.Message, ExitCodes.Corrupt);
                Salvage.Hint(context, Salvage.ReadHint("STORE", e));
                return ExitCodes.Corrupt;
            }
#pragma warning disable CA1031 // A command's last resort: any other failure is a message and exit code 1, as upstream's CLI does.
            catch (Exception e)
#pragma warning restore CA1031
            {
                return context.Fail(e.Message, ExitCodes.Error);
            }
            finally
            {
                context.Out.Flush();
            }
        });
    }

    private RootCommand BuildRoot()
    {
        var root = new RootCommand(
            "datawal: inspect, verify, export and compact DataWal stores (crash-safe append-only logs and key/value stores).\n" +
            "Inspection is read-only for real: it takes no lock, works beside a live writer, and never creates or changes a file.\n" +
            "Only compact --in-place and truncate change a store: they take its writer lock and refuse while another process writes.\n" +
            "A damaged store: the read-only commands take --salvage to read past the damage, and salvage copies what is intact into a new store.\n" +
            "Exit codes: 0 ok, 1 usage or environment error, 2 damaged tail on the last segment, get miss, or ranges skipped by --salvage/salvage, 3 corruption.");
        root.Options.Add(Json);
        root.Subcommands.Add(ScanCommand.Create(this));
        root.Subcommands.Add(GetCommand.Create(this));
        root.Subcommands.Add(ReportCommand.Create(this));
        root.Subcommands.Add(VerifyCommand.Create(this));
        root.Subcommands.Add(DumpCommand.Create(this));
        root.Subcommands.Add(CheckCommand.Create(this));
        root.Subcommands.Add(ExportCommand.Create(this));
        root.Subcommands.Add(CompactCommand.Create(this));
        root.Subcommands.Add(TruncateCommand.Create(this));
        root.Subcommands.Add(SalvageCommand.Create(this));
        root.Subcommands.Add(DemoCommand.Create(this));
        root.Subcommands.Add(DoctorCommand.Create(this));
        _examples[root] =
        [
            "datawal demo",
            "datawal scan ./store --limit 20",
            "datawal --json report ./store",
            "datawal get ./store --key user:1",
            "datawal salvage ./store ./store.salvaged",
            "datawal doctor /var/lib/myapp",
        ];

        foreach (var option in root.Options)
        {
            switch (option)
            {
                case HelpOption help when help.Action is HelpAction inner:
                    help.Action = new HelpWithExamples(inner, _examples);
                    break;
                case VersionOption version:
                    version.Action = new VersionAction();
                    break;
            }
        }

        return root;
    }

    /// <summary>The default help, followed by an Examples section for the command.</summary>
    private sealed class HelpWithExamples(HelpAction inner, Dictionary<Command, string[]> examples) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var output = parseResult.InvocationConfiguration.Output;
            var help = new StringWriter { NewLine = "\n" };
            parseResult.InvocationConfiguration.Output = help;
            int code;
            try
            {
                code = inner.Invoke(parseResult);
            }
            finally
            {
                parseResult.InvocationConfiguration.Output = output;
            }

            output.Write(MarkOptionalArguments(help.ToString(), parseResult.CommandResult.Command));
            if (examples.TryGetValue(parseResult.CommandResult.Command, out var lines) && lines.Length > 0)
            {
                output.Write("Examples:\n");
                foreach (var line in lines)
                {
                    output.Write("  " + line + "\n");
                }

                output.Write("\n");
            }

            return code;
        }

        /// <summary>
        /// The Commands list shows a subcommand's optional argument as optional, as the subcommand's own usage line does
        /// (<c>demo [&lt;dir&gt;]</c>, <c>compact &lt;store&gt; [&lt;target&gt;]</c>): the parser's default list shows every
        /// argument as required. Rewrites those rows, and realigns the list's second column.
        /// </summary>
        internal static string MarkOptionalArguments(string help, Command command)
        {
            var rows = command.Subcommands.Where(c => !c.Hidden).Select(c =>
            {
                var args = c.Arguments.Where(a => !a.Hidden).ToList();
                string label = string.Join(' ', [c.Name, .. args.Select(a => $"<{a.HelpName ?? a.Name}>")]);
                string marked = string.Join(' ', [c.Name, .. args.Select(a => a.Arity.MinimumNumberOfValues == 0 ? $"[<{a.HelpName ?? a.Name}>]" : $"<{a.HelpName ?? a.Name}>")]);
                return (Label: label, Marked: marked);
            }).ToList();
            if (rows.All(r => r.Label == r.Marked))
            {
                return help;
            }

            int oldColumn = 2 + rows.Max(r => r.Label.Length) + 2;
            int newColumn = 2 + rows.Max(r => r.Marked.Length) + 2;
            var lines = help.Split('\n');
            bool inCommands = false;
            for (int i = 0; i < lines.Length; i++)
            {
                string line = lines[i];
                if (line == "Commands:")
                {
                    inCommands = true;
                    continue;
                }

                if (!inCommands)
                {
                    continue;
                }

                if (line.Length == 0 || !line.StartsWith("  ", StringComparison.Ordinal))
                {
                    break;
                }

                var row = rows.FirstOrDefault(r => line.Length > oldColumn && line.StartsWith("  " + r.Label + " ", StringComparison.Ordinal));
                lines[i] = row.Label is null
                    ? new string(' ', newColumn - oldColumn) + line
                    : ("  " + row.Marked).PadRight(newColumn) + line[oldColumn..];
            }

            return string.Join('\n', lines);
        }
    }

    /// <summary><c>--version</c>: <c>datawal X.Y.Z</c>.</summary>
    private sealed class VersionAction : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.Write($"datawal {Program.Version}\n");
            return ExitCodes.Ok;
        }
    }
}
