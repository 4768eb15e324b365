using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using DataWal.Core;
using DataWal.Kv;
using TestSupport;

namespace DataWal.Cli.Tests;

/// <summary>The result of one in-process run of the tool.</summary>
public sealed record CliResult(int Code, string Out, string Err)
{
    /// <summary>Non-empty stdout lines.</summary>
    public string[] Lines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Each stdout line parsed as JSON.</summary>
    public List<JsonElement> Json => Lines.Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    public override string ToString() => $"exit {Code}\n--- stdout\n{Out}--- stderr\n{Err}";
}

/// <summary>Runs the tool in-process through <see cref="Program.Run"/>.</summary>
public static class Cli
{
    public static CliResult Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(args, output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>The built tool next to the test assembly (referenced project output).</summary>
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "datawal.dll");

    /// <summary>Runs the real <c>datawal.dll</c> in a child process.</summary>
    public static CliResult RunProcess(params string[] args)
    {
        var psi = new ProcessStartInfo(ChildProcess.DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            throw new TimeoutException("datawal did not exit in time");
        }

        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}

/// <summary>Every entry under a directory with a SHA-256 of each file: equal snapshots mean nothing changed.</summary>
public static class DirectorySnapshot
{
    public static SortedDictionary<string, string> Capture(string root)
    {
        var entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (!Directory.Exists(root))
        {
            return entries;
        }

        foreach (var path in Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            string relative = Path.GetRelativePath(root, path);
            entries[relative] = File.Exists(path) ? Hash(path) : "<dir>";
        }

        return entries;
    }

    /// <summary>
    /// Hashes a file without .NET's implicit advisory lock (opening for reading takes a shared flock on Unix,
    /// which would collide with a writer's lock on <c>.lock</c>).
    /// </summary>
    private static string Hash(string path)
    {
        using var handle = SafeAtomic.FileSync.Open(path, FileMode.Open, FileAccess.Read);
        using var stream = new FileStream(handle, FileAccess.Read);
        return Convert.ToHexStringLower(SHA256.HashData(stream)) + " " + RandomAccess.GetLength(handle);
    }
}

/// <summary>Builds stores with the libraries (writer closed before the tool runs, as upstream's tests do).</summary>
public static class Stores
{
    public static string Kv(TempDir dir, params (byte[] Key, byte[] Value)[] pairs)
    {
        string path = dir["store"];
        using var kv = KvStore.Open(path);
        foreach (var (key, value) in pairs)
        {
            kv.Put(key, value);
        }

        kv.Fsync();
        return path;
    }

    public static string Kv(TempDir dir, params (string Key, string Value)[] pairs) =>
        Kv(dir, pairs.Select(p => (System.Text.Encoding.UTF8.GetBytes(p.Key), System.Text.Encoding.UTF8.GetBytes(p.Value))).ToArray());

    public static string Raw(TempDir dir, params string[] payloads)
    {
        string path = dir["store"];
        using var log = RecordLog.Open(path);
        foreach (var p in payloads)
        {
            log.Append(System.Text.Encoding.UTF8.GetBytes(p));
        }

        log.Fsync();
        return path;
    }

    /// <summary>Cuts <paramref name="bytes"/> off the end of the store's last segment (a torn write).</summary>
    public static void Tear(string store, int bytes)
    {
        var segments = SegmentFiles.List(store);
        string last = SegmentFiles.PathFor(store, segments[^1]);
        using var file = new FileStream(last, FileMode.Open, FileAccess.Write);
        file.SetLength(file.Length - bytes);
    }
}
