using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;
using SafeAtomic.Internal;

namespace TestSupport;

/// <summary>The system calls the seam exposes, for targeting injected faults.</summary>
public enum Call
{
    Open,
    OpenAppend,
    Write,
    Fsync,
    FsyncData,
    FsyncDirectory,
    SetLength,
    Rename,
    RenameNoReplace,
    Unlink,
    CreateDirectory,
    Read,
    GetLength,
    GetFileKind,
    ReadDirectory,
    GetIdentity,
}

/// <summary>One observed system call: which, and the path involved (for handle calls, the path the handle was opened with).</summary>
public readonly record struct ObservedCall(Call Call, string? Path);

/// <summary>
/// Replaces SafeAtomic's system-call seam for the lifetime of the object: records every call and fails
/// the ones that match injected rules with a chosen errno, or shortens writes. Process-wide: tests that
/// use it must not run in parallel with other file-system tests of the same process.
/// </summary>
public sealed class FaultInjector : IDisposable
{
    private readonly Layer _layer;
    private readonly IDisposable _scope;

    private FaultInjector()
    {
        _layer = new Layer(this);
        _scope = SystemCalls.Use(_layer);
    }

    /// <summary>Installs a fresh injector (no rules: every call passes through and is recorded).</summary>
    public static FaultInjector Install() => new();

    private readonly List<Rule> _rules = [];
    private readonly List<Hook> _hooks = [];
    private readonly ConcurrentQueue<ObservedCall> _calls = new();
    private readonly ConcurrentDictionary<SafeFileHandle, string> _handlePaths = new();

    /// <summary>Every call seen so far, in order.</summary>
    public IReadOnlyList<ObservedCall> Calls => [.. _calls];

    /// <summary>Every call seen so far that can change the disk (reads, lengths, lstat and listings left out), in order.</summary>
    public IReadOnlyList<ObservedCall> WriteSideCalls => [.. _calls.Where(c => c.Call is not (Call.Read or Call.GetLength or Call.GetFileKind or Call.ReadDirectory or Call.GetIdentity))];

    /// <summary>How many calls of <paramref name="call"/> were seen.</summary>
    public int Count(Call call) => _calls.Count(c => c.Call == call);

    /// <summary>
    /// Fails matching calls with <paramref name="errno"/>: the first <paramref name="skip"/> matches pass,
    /// the next <paramref name="times"/> fail. <paramref name="path"/> filters by the path involved.
    /// </summary>
    public FaultInjector Fail(Call call, int errno, int skip = 0, int times = int.MaxValue, Func<string?, bool>? path = null)
    {
        lock (_rules)
        {
            _rules.Add(new Rule(call, errno, null, skip, times, path));
        }

        return this;
    }

    /// <summary>Makes matching writes accept at most <paramref name="maxBytes"/> bytes (a short write).</summary>
    public FaultInjector ShortWrites(int maxBytes, int skip = 0, int times = int.MaxValue, Func<string?, bool>? path = null)
    {
        lock (_rules)
        {
            _rules.Add(new Rule(Call.Write, 0, maxBytes, skip, times, path));
        }

        return this;
    }

    /// <summary>
    /// Runs <paramref name="action"/> (given the path involved) just before the next <paramref name="times"/> matching
    /// calls go through: a deterministic place to put what another thread might do between two system calls.
    /// </summary>
    public FaultInjector Before(Call call, Action<string?> action, int times = 1, Func<string?, bool>? path = null)
    {
        lock (_rules)
        {
            _hooks.Add(new Hook(call, action, times, path));
        }

        return this;
    }

    /// <summary>Removes every rule and hook (calls keep being recorded).</summary>
    public void Clear()
    {
        lock (_rules)
        {
            _rules.Clear();
            _hooks.Clear();
        }
    }

    /// <summary>Restores the real system calls.</summary>
    public void Dispose() => _scope.Dispose();

    private Rule? Match(Call call, string? path)
    {
        _calls.Enqueue(new ObservedCall(call, path));
        Hook? hook = null;
        lock (_rules)
        {
            hook = _hooks.Find(h => h.Call == call && h.Times > 0 && (h.PathFilter is null || h.PathFilter(path)));
            if (hook is not null)
            {
                hook.Times--;
            }
        }

        hook?.Action(path);   // outside the lock: the action may make system calls of its own
        lock (_rules)
        {
            foreach (var rule in _rules)
            {
                if (rule.Call != call || (rule.PathFilter is not null && !rule.PathFilter(path)))
                {
                    continue;
                }

                if (rule.Skip > 0)
                {
                    rule.Skip--;
                    continue;
                }

                if (rule.Times <= 0)
                {
                    continue;
                }

                rule.Times--;
                return rule;
            }
        }

        return null;
    }

    private void Check(Call call, string? path)
    {
        var rule = Match(call, path);
        if (rule is not null && rule.ShortBytes is null)
        {
            throw new SystemCallException(call.ToString().ToLowerInvariant(), path, rule.Errno, ErrorNumbers.Name(rule.Errno));
        }
    }

    private string? PathOf(SafeFileHandle handle) => _handlePaths.TryGetValue(handle, out var p) ? p : null;

    private sealed class Hook(Call call, Action<string?> action, int times, Func<string?, bool>? pathFilter)
    {
        public Call Call { get; } = call;
        public Action<string?> Action { get; } = action;
        public int Times { get; set; } = times;
        public Func<string?, bool>? PathFilter { get; } = pathFilter;
    }

    private sealed class Rule(Call call, int errno, int? shortBytes, int skip, int times, Func<string?, bool>? pathFilter)
    {
        public Call Call { get; } = call;
        public int Errno { get; } = errno;
        public int? ShortBytes { get; } = shortBytes;
        public int Skip { get; set; } = skip;
        public int Times { get; set; } = times;
        public Func<string?, bool>? PathFilter { get; } = pathFilter;
    }

    private sealed class Layer(FaultInjector owner) : SystemCalls
    {
        private static SystemCalls Real => Platform;

        public override SafeFileHandle Open(string path, FileMode mode, FileAccess access, FileShare share, UnixFileMode? createMode)
        {
            owner.Check(Call.Open, path);
            var h = Real.Open(path, mode, access, share, createMode);
            owner._handlePaths[h] = path;
            return h;
        }

        public override SafeFileHandle OpenAppend(string path, out bool created)
        {
            owner.Check(Call.OpenAppend, path);
            var h = Real.OpenAppend(path, out created);
            owner._handlePaths[h] = path;
            return h;
        }

        public override int Write(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset)
        {
            var path = owner.PathOf(handle);
            var rule = owner.Match(Call.Write, path);
            if (rule is null)
            {
                return Real.Write(handle, data, offset);
            }

            if (rule.ShortBytes is int max)
            {
                return Real.Write(handle, data[..Math.Min(max, data.Length)], offset);
            }

            throw new SystemCallException("write", path, rule.Errno, ErrorNumbers.Name(rule.Errno));
        }

        public override void Fsync(SafeFileHandle handle)
        {
            owner.Check(Call.Fsync, owner.PathOf(handle));
            Real.Fsync(handle);
        }

        public override void FsyncData(SafeFileHandle handle)
        {
            owner.Check(Call.FsyncData, owner.PathOf(handle));
            Real.FsyncData(handle);
        }

        public override void FsyncDirectory(string path)
        {
            owner.Check(Call.FsyncDirectory, path);
            Real.FsyncDirectory(path);
        }

        public override void SetLength(SafeFileHandle handle, long length)
        {
            owner.Check(Call.SetLength, owner.PathOf(handle));
            Real.SetLength(handle, length);
        }

        public override void Rename(string from, string to)
        {
            owner.Check(Call.Rename, to);
            Real.Rename(from, to);
        }

        public override bool RenameNoReplace(string from, string to)
        {
            owner.Check(Call.RenameNoReplace, to);
            return Real.RenameNoReplace(from, to);
        }

        public override void Unlink(string path)
        {
            owner.Check(Call.Unlink, path);
            Real.Unlink(path);
        }

        public override bool CreateDirectory(string path)
        {
            owner.Check(Call.CreateDirectory, path);
            return Real.CreateDirectory(path);
        }

        public override SafeFileHandle OpenRegular(string path, FileAccess access, bool create, UnixFileMode? createMode)
        {
            owner.Check(Call.Open, path);
            var h = Real.OpenRegular(path, access, create, createMode);
            owner._handlePaths[h] = path;
            return h;
        }

        public override int Read(SafeFileHandle handle, Span<byte> buffer, long offset)
        {
            owner.Check(Call.Read, owner.PathOf(handle));
            return Real.Read(handle, buffer, offset);
        }

        public override long GetLength(SafeFileHandle handle)
        {
            owner.Check(Call.GetLength, owner.PathOf(handle));
            return Real.GetLength(handle);
        }

        public override FileKind GetFileKind(string path)
        {
            owner.Check(Call.GetFileKind, path);
            return Real.GetFileKind(path);
        }

        public override FileIdentity GetIdentity(SafeFileHandle handle)
        {
            owner.Check(Call.GetIdentity, owner.PathOf(handle));
            return Real.GetIdentity(handle);
        }

        public override FileIdentity? GetIdentity(string path)
        {
            owner.Check(Call.GetIdentity, path);
            return Real.GetIdentity(path);
        }

        public override IReadOnlyList<DirectoryEntry> ReadDirectory(string path)
        {
            owner.Check(Call.ReadDirectory, path);
            return Real.ReadDirectory(path);
        }
    }
}
