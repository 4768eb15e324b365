using NUnit.Framework;

namespace DataWal.Cli.Tests;

/// <summary>Usage errors and help say one consistent thing: an unknown command is one error; optional arguments look optional everywhere.</summary>
public class CliUsageTests
{
    [Test]
    public void Unknown_command_is_one_error()
    {
        var r = Cli.Run("frobnicate");
        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        Assert.That(r.Out, Is.Empty);
        Assert.That(r.Err, Is.EqualTo("datawal: error: Unrecognized command or argument 'frobnicate'.\nRun 'datawal --help' for usage.\n"));
    }

    [Test]
    public void Unknown_command_under_json_is_one_json_error_line()
    {
        var r = Cli.Run("--json", "frobnicate");
        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        Assert.That(r.Out, Is.Empty);
        Assert.That(r.Err, Is.EqualTo("{\"schema\":\"datawal.cli.v1\",\"kind\":\"error\",\"command\":null,\"message\":\"Unrecognized command or argument 'frobnicate'.\",\"exit_code\":1}\n"));
    }

    [Test]
    public void No_command_still_says_so()
    {
        var r = Cli.Run();
        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        Assert.That(r.Err, Is.EqualTo("datawal: error: Required command was not provided.\nRun 'datawal --help' for usage.\n"));
    }

    [TestCase("demo", "demo [<dir>]")]
    [TestCase("doctor", "doctor [<dir>]")]
    [TestCase("compact", "compact <store> [<target>]")]
    [TestCase("get", "get <store>")]
    [TestCase("export", "export <store> <outfile>")]
    public void Top_level_help_shows_arguments_as_the_command_own_usage_does(string command, string row)
    {
        var top = Cli.Run("--help");
        Assert.That(top.Code, Is.Zero, top.ToString());
        var line = top.Out.Split('\n').Single(l => l.StartsWith("  " + command + " ", StringComparison.Ordinal));
        Assert.That(line, Does.StartWith("  " + row + "  "));
        Assert.That(Cli.Run(command, "--help").Out, Does.Contain(" " + row + " [options]\n"));

        // The description column stays aligned: every row's description starts at the same column.
        var rows = top.Out.Split("Commands:\n")[1].Split("\n\n")[0].Split('\n');
        Assert.That(rows.Select(DescriptionColumn).Distinct().Count(), Is.EqualTo(1), top.Out);
    }

    [TestCase("--json", "demo")]
    [TestCase("demo", "--json")]
    public void Demo_under_json_says_it_has_no_json_form_and_creates_nothing(params string[] args)
    {
        using var dir = new TestSupport.TempDir("cli-demo-json");
        string target = dir["demo"];
        var r = Cli.Run([.. args, target]);
        Assert.That(r.Code, Is.EqualTo(1), r.ToString());
        Assert.That(r.Out, Is.Empty);
        Assert.That(r.Err, Is.EqualTo("{\"schema\":\"datawal.cli.v1\",\"kind\":\"error\",\"command\":\"demo\",\"message\":\"demo has no JSON form (it is a walkthrough to read); run it without --json\",\"exit_code\":1}\n"));
        Assert.That(Directory.Exists(target), Is.False);
    }

    private static int DescriptionColumn(string row)
    {
        int i = row.IndexOf("  ", 2, StringComparison.Ordinal);
        while (row[i] == ' ')
        {
            i++;
        }

        return i;
    }
}
