using System.CommandLine;

namespace DataWal.Cli;

/// <summary>Entry point of the <c>datawal</c> tool.</summary>
public static class Program
{
    /// <summary>Parses the command line and runs the chosen command.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>The process exit code.</returns>
    public static int Main(string[] args)
    {
        var root = new RootCommand("datawal: crash-safe append-only logs and key/value stores");

        var dirArgument = new Argument<string?>("dir")
        {
            Description = "Directory to work in (default: a fresh temporary directory, removed afterwards).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var demo = new Command("demo", "Show the crash-safe primitives at work in a scratch directory.");
        demo.Arguments.Add(dirArgument);
        demo.SetAction(parse => DemoCommand.Run(parse.GetValue(dirArgument), Console.Out));
        root.Subcommands.Add(demo);

        return root.Parse(args).Invoke();
    }
}
