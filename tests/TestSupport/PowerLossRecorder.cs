using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;
using SafeAtomic.Internal;

namespace TestSupport;

/// <summary>The opt-in shapes a crash state can have besides the basic prefixes and zero fills.</summary>
public enum CrashShape
{
    /// <summary>A prefix of the written bytes, the durable bytes, zero fill, an absent file.</summary>
    Basic,

    /// <summary>A write-boundary prefix plus 1 to header-length − 1 bytes of the next write, then only zeros.</summary>
    TornHeaderThenZeros,

    /// <summary>Everything written, except a run of zeros starting 0 to header-length − 1 bytes into a write, with written data after it.</summary>
    ZeroRunThenData,
}

/// <summary>One simulated post-power-loss state of a directory: file name → content (absent files are missing).</summary>
/// <param name="CrashPoint">How many recorded operations had started when the power went (ops [0, CrashPoint)).</param>
/// <param name="Description">What the state is (for failure messages).</param>
/// <param name="Files">File name (no directory) → bytes on disk after the crash.</param>
/// <param name="Shape">Which kind of state it is.</param>
/// <param name="HeaderBytesKept">For the header shapes, how many bytes of the write (a frame header) precede the zeros; else -1.</param>
public sealed record CrashState(int CrashPoint, string Description, IReadOnlyDictionary<string, byte[]> Files, CrashShape Shape = CrashShape.Basic, int HeaderBytesKept = -1);

/// <summary>
/// Replaces SafeAtomic's system-call seam (delegating to <c>SystemCalls.Platform</c>) and records, per file,
/// every write (offset + bytes), fsync/fdatasync, truncate (SetLength), creation, rename, unlink and directory
/// fsync of a workload. <see cref="CrashStates"/> then enumerates the states a power loss could leave:
/// for every file, the bytes as of its last fsync plus every prefix of the bytes written after it (at every
/// write boundary and every <c>stride</c>-th byte), the same with that unsynced part zero-filled (docs/design.md D13),
/// a write-boundary prefix followed by zeros up to the written length; and all of that for every prefix of the
/// creates, renames and unlinks made since the last directory fsync (a new file absent, a rename or unlink undone;
/// see <see cref="CrashStates"/>). On request, also the header shapes of <see cref="CrashShape"/>.
/// </summary>
/// <remarks>
/// Process-wide (the seam is global): tests using it must not run in parallel with other file-system tests of
/// the same process. A sync is recorded when it starts (it covers what was written before it; that is
/// conservative), a write once the kernel accepted it (only the bytes it accepted). Read <see cref="OpCount"/> after an operation returns to
/// learn from which crash point on its effect must be durable.
/// </remarks>
public sealed class PowerLossRecorder : IDisposable
{
    private enum Kind
    {
        Create,
        Write,
        Sync,
        SetLength,
        DirSync,
        Rename,
        Unlink,
    }

    private sealed record Op(Kind Kind, string Path, long Offset, byte[]? Data, string? To = null);

    private readonly string _root;
    private readonly List<Op> _ops = [];
    private readonly Dictionary<string, byte[]> _initial = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<SafeFileHandle, string> _paths = new();
    private readonly IDisposable _scope;

    private PowerLossRecorder(string root)
    {
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        if (Directory.Exists(_root))
        {
            foreach (var file in Directory.EnumerateFiles(_root))
            {
                _initial[Path.GetFullPath(file)] = File.ReadAllBytes(file);
            }
        }

        _scope = SystemCalls.Use(new Layer(this));
    }

    /// <summary>
    /// Starts recording. Files already in <paramref name="root"/> are taken as durable (content and name).
    /// Only files directly in <paramref name="root"/> appear in crash states.
    /// </summary>
    public static PowerLossRecorder Install(string root) => new(root);

    /// <summary>Number of operations recorded so far.</summary>
    public int OpCount
    {
        get
        {
            lock (_ops)
            {
                return _ops.Count;
            }
        }
    }

    /// <summary>Number of recorded writes.</summary>
    public int WriteCount
    {
        get
        {
            lock (_ops)
            {
                return _ops.Count(o => o.Kind == Kind.Write);
            }
        }
    }

    /// <summary>
    /// Called (on the creating thread, after the creation was recorded, no lock held) with the name of each file a
    /// recorded open creates in the directory: lets a test act at an exact step of a protocol, e.g. write to the
    /// store while a compaction creates its image.
    /// </summary>
    public Action<string>? Created { get; set; }

    /// <summary>Stops recording (the recorded operations stay available).</summary>
    public void Dispose() => _scope.Dispose();

    private void Add(Op op)
    {
        lock (_ops)
        {
            _ops.Add(op);
        }
    }

    /// <summary>One file's content (an inode): what was written, what an fsync made durable. Names map to it.</summary>
    private sealed class FileModel
    {
        public byte[] Current = [];
        public byte[] Durable = [];
        public long Base;                 // smallest length since the last sync: [0, Base) is durable as in Current
        public List<long> Boundaries = []; // lengths after each write since the last sync
    }

    /// <summary>A change of the directory's entries not yet made durable by a directory fsync.</summary>
    private sealed record NameChange(Kind Kind, string Path, string? To, FileModel? Created);

    /// <summary>
    /// Enumerates the crash states just before every sync / truncate / create / rename / unlink / directory-fsync
    /// step and at the end (a state reachable earlier is also reachable there, the unsynced bytes being partly lost).
    /// </summary>
    /// <remarks>
    /// <para>
    /// Names and contents are modelled apart (a name points at a file's content, like a directory entry at an
    /// inode). A create, rename or unlink is durable only once the directory is fsynced after it; before that, a
    /// crash may keep it or not. So each crash point is enumerated for every <em>prefix</em> of the directory changes
    /// since the last directory fsync (none of them, the first one, …, all of them), each with the same content
    /// variants. A rename over an existing name therefore leaves the old file or the new one under that name,
    /// never no file, and an unlinked file is still there in the states that lose the unlink.
    /// </para>
    /// <para>
    /// Prefixes, not every subset: journaling file systems (ext4, XFS, btrfs) commit directory changes in the
    /// order they were made (a transaction holds every change before it), and the compaction and retention
    /// protocols (docs/design.md D15: deletions in ascending order) are designed for exactly that. A file system
    /// that reorders un-fsynced unlinks would need one directory fsync per deletion.
    /// </para>
    /// </remarks>
    /// <param name="stride">Besides every write boundary, a prefix every <paramref name="stride"/> bytes (1 = byte-granular).</param>
    /// <param name="fileFilter">Which file names (no directory) to materialise (e.g. only segments).</param>
    /// <param name="headerLength">
    /// When positive, also the header shapes (<see cref="CrashShape"/>) for the first <paramref name="headerLength"/>
    /// bytes of every unsynced write start (the durable end and every write boundary after it).
    /// </param>
    public IEnumerable<CrashState> CrashStates(int stride, Func<string, bool> fileFilter, int headerLength = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(headerLength);
        List<Op> ops;
        lock (_ops)
        {
            ops = [.. _ops];
        }

        var names = new SortedDictionary<string, FileModel>(StringComparer.Ordinal);        // the entries now
        var durable = new SortedDictionary<string, FileModel>(StringComparer.Ordinal);      // as of the last directory fsync
        var pending = new List<NameChange>();                                                // since then, in order
        foreach (var (path, bytes) in _initial)
        {
            names[path] = durable[path] = new FileModel { Current = bytes, Durable = bytes, Base = bytes.Length };
        }

        bool dirty = true;
        for (int i = 0; i <= ops.Count; i++)
        {
            bool crashPoint = i == ops.Count || ops[i].Kind != Kind.Write;
            if (crashPoint && dirty)
            {
                for (int kept = 0; kept <= pending.Count; kept++)
                {
                    var entries = NamesAfter(durable, pending, kept);
                    string note = kept == pending.Count ? string.Empty : $" [{pending.Count - kept} of {pending.Count} un-fsynced directory changes lost: {string.Join(", ", pending.Skip(kept).Select(c => c.Kind + " " + Path.GetFileName(c.Path)))}]";
                    foreach (var state in StatesAt(i, entries, note, stride, fileFilter, headerLength))
                    {
                        yield return state;
                    }
                }

                dirty = false;
            }

            if (i == ops.Count)
            {
                break;
            }

            var op = ops[i];
            switch (op.Kind)
            {
                case Kind.DirSync:
                    if (string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(op.Path)), _root, StringComparison.Ordinal))
                    {
                        durable = new SortedDictionary<string, FileModel>(names, StringComparer.Ordinal);
                        pending.Clear();
                    }

                    continue;
                case Kind.Create:
                    if (!names.ContainsKey(op.Path))
                    {
                        var created = new FileModel();
                        names[op.Path] = created;
                        pending.Add(new NameChange(Kind.Create, op.Path, null, created));
                        dirty = true;
                    }

                    continue;
                case Kind.Unlink:
                    if (names.Remove(op.Path))
                    {
                        pending.Add(new NameChange(Kind.Unlink, op.Path, null, null));
                        dirty = true;
                    }

                    continue;
                case Kind.Rename:
                    if (names.Remove(op.Path, out var moved))
                    {
                        names[op.To!] = moved;
                        pending.Add(new NameChange(Kind.Rename, op.Path, op.To, null));
                        dirty = true;
                    }

                    continue;
            }

            if (!names.TryGetValue(op.Path, out var f))
            {
                f = new FileModel();   // a handle opened before recording began on a file created meanwhile
                names[op.Path] = f;
            }

            switch (op.Kind)
            {
                case Kind.Write:
                    {
                        long offset = op.Offset < 0 ? f.Current.Length : op.Offset;
                        long end = offset + op.Data!.Length;
                        if (end > f.Current.Length)
                        {
                            Array.Resize(ref f.Current, (int)end);
                        }

                        op.Data.CopyTo(f.Current, offset);
                        f.Base = Math.Min(f.Base, offset);
                        f.Boundaries.Add(end);
                        dirty = true;
                        break;
                    }

                case Kind.Sync:
                    f.Durable = (byte[])f.Current.Clone();
                    f.Base = f.Current.Length;
                    f.Boundaries.Clear();
                    break;
                case Kind.SetLength:
                    {
                        byte[] resized = f.Current;
                        Array.Resize(ref resized, (int)op.Offset);
                        f.Current = resized;
                        f.Base = Math.Min(f.Base, op.Offset);
                        f.Boundaries.Add(op.Offset);
                        dirty = true;
                        break;
                    }
            }
        }
    }

    /// <summary>The directory's entries after the durable ones and the first <paramref name="kept"/> pending changes.</summary>
    private static SortedDictionary<string, FileModel> NamesAfter(SortedDictionary<string, FileModel> durable, List<NameChange> pending, int kept)
    {
        var entries = new SortedDictionary<string, FileModel>(durable, StringComparer.Ordinal);
        foreach (var change in pending.Take(kept))
        {
            switch (change.Kind)
            {
                case Kind.Create:
                    entries.TryAdd(change.Path, change.Created!);
                    break;
                case Kind.Unlink:
                    entries.Remove(change.Path);
                    break;
                case Kind.Rename:
                    if (entries.Remove(change.Path, out var moved))
                    {
                        entries[change.To!] = moved;
                    }

                    break;
            }
        }

        return entries;
    }

    private static IEnumerable<CrashState> StatesAt(int crashPoint, SortedDictionary<string, FileModel> entries, string namespaceNote, int stride, Func<string, bool> fileFilter, int headerLength)
    {
        var relevant = entries.Where(kv => fileFilter(Path.GetFileName(kv.Key))).ToList();

        // Baseline: every file as written (the page cache made it whole to disk).
        Dictionary<string, byte[]> Full()
        {
            var d = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var (path, m) in relevant)
            {
                d[Path.GetFileName(path)] = m.Current;
            }

            return d;
        }

        yield return new CrashState(crashPoint, $"crash before op {crashPoint}{namespaceNote}: all written bytes survived", Full());
        foreach (var (path, m) in relevant)
        {
            string name = Path.GetFileName(path);
            if (!m.Durable.AsSpan().SequenceEqual(m.Current))
            {
                var durableFiles = Full();
                durableFiles[name] = m.Durable;
                yield return new CrashState(crashPoint, $"crash before op {crashPoint}{namespaceNote}: {name} exactly as of its last fsync ({m.Durable.Length} B)", durableFiles);
            }

            long b = m.Base;
            long end = m.Current.Length;
            if (end <= b)
            {
                continue;
            }

            var cuts = new SortedSet<long>();
            for (long k = b; k < end; k += stride)
            {
                cuts.Add(k);
            }

            foreach (long k in m.Boundaries)
            {
                if (k > b && k < end)
                {
                    cuts.Add(k);
                }
            }

            foreach (long k in cuts)
            {
                // The unsynced bytes survived up to k.
                var prefix = Full();
                prefix[name] = m.Current[..(int)k];
                yield return new CrashState(crashPoint, $"crash before op {crashPoint}{namespaceNote}: {name} synced {b} B + {k - b} of {end - b} unsynced B", prefix);
            }

            foreach (long k in cuts.Append(end))
            {
                if (k == b)
                {
                    continue;
                }

                // The length reached k but the unsynced data did not: zero-filled (docs/design.md D13).
                var zeros = Full();
                var bytes = new byte[k];
                m.Current.AsSpan(0, (int)b).CopyTo(bytes);
                zeros[name] = bytes;
                yield return new CrashState(crashPoint, $"crash before op {crashPoint}{namespaceNote}: {name} synced {b} B + {k - b} zero B", zeros);
            }

            foreach (long k in m.Boundaries)
            {
                if (k > b && k < end)
                {
                    // Data up to a write boundary survived; the length of later writes did, their data did not.
                    var mixed = Full();
                    var bytes = new byte[end];
                    m.Current.AsSpan(0, (int)k).CopyTo(bytes);
                    mixed[name] = bytes;
                    yield return new CrashState(crashPoint, $"crash before op {crashPoint}{namespaceNote}: {name} synced {b} B + {k - b} unsynced B + {end - k} zero B", mixed);
                }
            }

            if (headerLength > 0)
            {
                foreach (var state in HeaderShapes(crashPoint, name, m, b, Full, headerLength))
                {
                    yield return state;
                }
            }
        }
    }

    /// <summary>
    /// The header shapes of one file's unsynced bytes [<paramref name="b"/>, end). A power loss loses unsynced
    /// data in pages, and a page boundary can fall at any byte of a frame header: (1) the tear keeps the first
    /// j bytes of a write and the file reads zeros from there to its end, to the next page boundary, or to one
    /// header past the write start (docs/design.md D13's torn header); (2) a zero run (an unwritten page or hole
    /// inside the file size, e.g. ext4 delayed allocation written back out of order) starts j bytes into a
    /// write and later written data survives after it, up to the next write boundary or for one 4 KiB page.
    /// </summary>
    private static IEnumerable<CrashState> HeaderShapes(int crashPoint, string name, FileModel m, long b, Func<Dictionary<string, byte[]>> full, int headerLength)
    {
        const int Page = 4096;
        long end = m.Current.Length;
        var starts = new SortedSet<long>(m.Boundaries.Where(k => k > b && k < end)) { b };
        foreach (long s in starts)
        {
            for (int j = 1; j < headerLength && s + j < end; j++)
            {
                long kept = s + j;
                long page = ((kept / Page) + 1) * Page;
                foreach (long length in new[] { end, Math.Min(page, end), Math.Min(s + headerLength, end) }.Where(l => l > kept).Distinct())
                {
                    var files = full();
                    var bytes = new byte[length];
                    m.Current.AsSpan(0, (int)kept).CopyTo(bytes);
                    files[name] = bytes;
                    yield return new CrashState(crashPoint, $"crash before op {crashPoint}: {name} synced {b} B + unsynced up to {s} + {j} header B of the next write + {length - kept} zero B (torn header)", files, CrashShape.TornHeaderThenZeros, j);
                }
            }

            for (int j = 0; j < headerLength && s + j < end; j++)
            {
                long zero = s + j;
                long nextStart = starts.GetViewBetween(zero + 1, end).DefaultIfEmpty(end).Min();
                foreach (long stop in new[] { nextStart, zero + Page }.Where(t => t < end).Distinct())
                {
                    var files = full();
                    var bytes = (byte[])m.Current.Clone();
                    bytes.AsSpan((int)zero, (int)(stop - zero)).Clear();
                    files[name] = bytes;
                    yield return new CrashState(crashPoint, $"crash before op {crashPoint}: {name} synced {b} B, all {end - b} unsynced B written but [{zero}, {stop}) zero, {j} header B of the write at {s} kept (zero run then data)", files, CrashShape.ZeroRunThenData, j);
                }
            }
        }
    }

    /// <summary>Writes <paramref name="state"/> into <paramref name="directory"/>, removing every other file there.</summary>
    public static void Materialise(CrashState state, string directory)
    {
        ArgumentNullException.ThrowIfNull(state);
        Directory.CreateDirectory(directory);
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            if (!state.Files.ContainsKey(Path.GetFileName(file)))
            {
                File.Delete(file);
            }
        }

        foreach (var (name, bytes) in state.Files)
        {
            File.WriteAllBytes(Path.Combine(directory, name), bytes);
        }
    }

    /// <summary>
    /// Makes every fsync / fdatasync / directory fsync a no-op until disposed: for checking many throwaway crash
    /// states quickly (their durability is irrelevant). Never use it while recording.
    /// </summary>
    public static IDisposable WithoutFsync() => SystemCalls.Use(new NoSync());

    /// <summary>Every call reaches the disk except the syncs, which do nothing.</summary>
    private sealed class NoSync : PassThroughCalls
    {
        public override void Fsync(SafeFileHandle handle)
        {
        }

        public override void FsyncData(SafeFileHandle handle)
        {
        }

        public override void FsyncDirectory(string path)
        {
        }
    }

    private bool Inside(string path) => string.Equals(Path.GetDirectoryName(Path.GetFullPath(path)), _root, StringComparison.Ordinal);

    private sealed class Layer(PowerLossRecorder owner) : SystemCalls
    {
        private static SystemCalls Real => Platform;

        private string? PathOf(SafeFileHandle handle) => owner._paths.TryGetValue(handle, out var p) ? p : null;

        public override SafeFileHandle Open(string path, FileMode mode, FileAccess access, FileShare share, UnixFileMode? createMode)
        {
            string full = Path.GetFullPath(path);
            bool existed = File.Exists(full);
            var h = Opened(Real.Open(path, mode, access, share, createMode), full, existed);

            if (mode is FileMode.Create or FileMode.Truncate && existed && owner.Inside(full))
            {
                owner.Add(new Op(Kind.SetLength, full, 0, null));
            }

            return h;
        }

        public override SafeFileHandle OpenAppend(string path, out bool created)
        {
            string full = Path.GetFullPath(path);
            var h = Real.OpenAppend(path, out created);
            owner._paths[h] = full;
            if (created && owner.Inside(full))
            {
                owner.Add(new Op(Kind.Create, full, 0, null));
            }

            return h;
        }

        public override int Write(SafeFileHandle handle, ReadOnlySpan<byte> data, long offset)
        {
            var path = PathOf(handle);
            int n = Real.Write(handle, data, offset);
            if (path is not null && owner.Inside(path) && n > 0)
            {
                owner.Add(new Op(Kind.Write, path, offset, data[..n].ToArray()));
            }

            return n;
        }

        public override void Fsync(SafeFileHandle handle)
        {
            var path = PathOf(handle);
            if (path is not null && owner.Inside(path))
            {
                owner.Add(new Op(Kind.Sync, path, 0, null));
            }

            Real.Fsync(handle);
        }

        public override void FsyncData(SafeFileHandle handle)
        {
            var path = PathOf(handle);
            if (path is not null && owner.Inside(path))
            {
                owner.Add(new Op(Kind.Sync, path, 0, null));
            }

            Real.FsyncData(handle);
        }

        public override void FsyncDirectory(string path)
        {
            owner.Add(new Op(Kind.DirSync, Path.GetFullPath(path), 0, null));
            Real.FsyncDirectory(path);
        }

        public override void SetLength(SafeFileHandle handle, long length)
        {
            var path = PathOf(handle);
            Real.SetLength(handle, length);
            if (path is not null && owner.Inside(path))
            {
                owner.Add(new Op(Kind.SetLength, path, length, null));
            }
        }

        public override void Rename(string from, string to)
        {
            Real.Rename(from, to);
            owner.Add(new Op(Kind.Rename, Path.GetFullPath(from), 0, null, Path.GetFullPath(to)));
        }

        public override bool RenameNoReplace(string from, string to)
        {
            bool done = Real.RenameNoReplace(from, to);
            if (done)
            {
                owner.Add(new Op(Kind.Rename, Path.GetFullPath(from), 0, null, Path.GetFullPath(to)));
            }

            return done;
        }

        public override void Unlink(string path)
        {
            Real.Unlink(path);
            owner.Add(new Op(Kind.Unlink, Path.GetFullPath(path), 0, null));
        }

        public override bool CreateDirectory(string path) => Real.CreateDirectory(path);

        public override SafeFileHandle OpenRegular(string path, FileAccess access, bool create, UnixFileMode? createMode)
        {
            string full = Path.GetFullPath(path);
            bool existed = File.Exists(full);
            return Opened(Real.OpenRegular(path, access, create, createMode), full, existed);
        }

        /// <summary>Remembers the handle's path, and records the file's creation when the open made it.</summary>
        private SafeFileHandle Opened(SafeFileHandle handle, string full, bool existed)
        {
            owner._paths[handle] = full;
            if (!existed && owner.Inside(full))
            {
                owner.Add(new Op(Kind.Create, full, 0, null));
                owner.Created?.Invoke(Path.GetFileName(full));
            }

            return handle;
        }
    }
}
