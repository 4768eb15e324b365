using System.Diagnostics;

namespace TestSupport;

/// <summary>
/// Starts the TestChild helper program (copied next to the test assembly) as a separate process, for
/// cross-process races, lock contention and kill -9 crash loops.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly System.Collections.Concurrent.BlockingCollection<string> _lines = new();
    private readonly System.Text.StringBuilder _stderr = new();

    private ChildProcess(Process process)
    {
        _process = process;
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
                lock (_stderr)
                {
                    _stderr.AppendLine(e.Data);
                }
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The dotnet host running the tests (children use the same one).</summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } p ? p : "dotnet";

    /// <summary>Path of the child program's assembly.</summary>
    public static string ChildAssembly => System.IO.Path.Combine(AppContext.BaseDirectory, "TestChild.dll");

    /// <summary>Starts <c>TestChild &lt;args&gt;</c>.</summary>
    public static ChildProcess Start(params string[] args) => Start(false, args);

    /// <summary>Starts <c>TestChild &lt;args&gt;</c> with a standard input the parent writes (<see cref="SendLine"/>).</summary>
    public static ChildProcess StartWithInput(params string[] args) => Start(true, args);

    private static ChildProcess Start(bool input, string[] args)
    {
        var psi = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(ChildAssembly);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start the child process");
        return new ChildProcess(process);
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Writes one line to the child's standard input (started with <see cref="StartWithInput"/>).</summary>
    public void SendLine(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>Waits for the next stdout line; null at end of output or on timeout.</summary>
    public string? ReadLine(TimeSpan timeout) =>
        _lines.TryTake(out var line, timeout) ? line : null;

    /// <summary>Waits until a line equal to <paramref name="expected"/> appears (lines before it are discarded).</summary>
    public bool WaitForLine(string expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var line = ReadLine(deadline - DateTime.UtcNow);
            if (line is null)
            {
                return false;
            }

            if (line == expected)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>All remaining stdout lines (after the process exits).</summary>
    public List<string> DrainLines()
    {
        var all = new List<string>();
        while (_lines.TryTake(out var l, TimeSpan.FromSeconds(5)))
        {
            all.Add(l);
        }

        return all;
    }

    /// <summary>SIGKILL on Unix (TerminateProcess on Windows); waits until the process is gone.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            try
            {
                _process.Kill(entireProcessTree: false);
            }
            catch (InvalidOperationException)
            {
            }
        }

        _process.WaitForExit();
    }

    /// <summary>Waits for a normal exit and returns the exit code.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            Kill();
            throw new TimeoutException("child did not exit in time; stderr: " + StandardError);
        }

        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
