using SafeAtomic.Internal;

namespace SafeAtomic;

/// <summary>
/// Crash-safe whole-file operations. A reader — or the file system after a crash — sees either the
/// old content or the complete new content, never a mix, and once a call returns the new content
/// survives a power loss.
/// </summary>
/// <remarks>
/// <para>
/// Protocol of every write: a temp file named <c>.&lt;name&gt;.&lt;16 random hex&gt;.tmp</c> is created
/// exclusively (O_CREAT|O_EXCL, so never through a pre-planted file or symlink) and owner-only (0600) in
/// the target's own directory; the content is written and fsynced; an existing target's permission bits
/// are carried over (0777 only: set-uid, set-gid and sticky never reach new content); the temp is renamed
/// over the target; the directory is fsynced. Any failure before the rename removes the temp and throws
/// <see cref="NotWrittenException"/> (target untouched); a failure of the final directory fsync throws
/// <see cref="DurabilityUnconfirmedException"/> (new content visible, durability unconfirmed). The
/// operating-system error is the inner <see cref="SystemCallException"/>.
/// </para>
/// <para>
/// A symlink at the target path is replaced by a regular file (the link itself, not what it points to),
/// created owner-only (0600) like a new target: the mode is never taken through a link. Ownership, ACLs,
/// extended attributes and hard links of an existing target are not carried over (the new content is a
/// new inode), and the old modification time is never copied.
/// </para>
/// <para>
/// No rename protocol is safe in a directory that other users may write and that is not sticky: they
/// can swap the temp file for a link of their own between its fsync and the rename, and the call still
/// succeeds. Keep targets in directories only trusted users can write (<c>datawal doctor</c> warns).
/// </para>
/// <para>All members are safe to call from several threads and processes at once.</para>
/// </remarks>
public static class AtomicFile
{
    /// <summary>Atomically and durably replaces (or creates) <paramref name="path"/> with <paramref name="content"/>.</summary>
    /// <param name="path">The target file; a bare name means the current directory. Its directory must exist.</param>
    /// <param name="content">The complete new content.</param>
    /// <exception cref="NotWrittenException">Nothing changed: the target keeps its previous content.</exception>
    /// <exception cref="DurabilityUnconfirmedException">The new content is visible but the directory fsync failed.</exception>
    public static void WriteAtomic(string path, ReadOnlySpan<byte> content) => WriteAtomic(path, content, CancellationToken.None);

    /// <summary>
    /// Asynchronous <see cref="WriteAtomic(string, ReadOnlySpan{byte})"/>. Cancellation is honoured up to the
    /// rename (the target is then untouched and no temp remains), never after it.
    /// </summary>
    /// <param name="path">The target file.</param>
    /// <param name="content">The complete new content; it must not change until the task completes.</param>
    /// <param name="cancellationToken">Cancels the write before its commit point.</param>
    /// <returns>A task that completes when the content is durable.</returns>
    public static Task WriteAtomicAsync(string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled(cancellationToken);
        }

        return Task.Run(() => WriteAtomic(path, content.Span, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Atomically and durably replaces <paramref name="path"/> with what <paramref name="write"/> writes to
    /// the stream it is given (the same protocol, streamed: the content never has to fit in memory).
    /// </summary>
    /// <param name="path">The target file.</param>
    /// <param name="write">
    /// Writes the complete new content; it may dispose the stream when done (the bytes are kept). If it
    /// throws, nothing changes and its exception propagates — except SafeAtomic's own I/O errors from the
    /// stream, which are reported as <see cref="NotWrittenException"/> for the target.
    /// </param>
    /// <exception cref="NotWrittenException">Nothing changed: the target keeps its previous content.</exception>
    /// <exception cref="DurabilityUnconfirmedException">The new content is visible but the directory fsync failed.</exception>
    public static void WriteAtomic(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var pending = PendingFile.Create(path);
        var stream = new HandleWriteStream(pending.Handle);
        try
        {
            write(stream);
            stream.Flush();
        }
        catch (Exception e)
        {
            if (AbortBody(pending, e) is { } notWritten)
            {
                throw notWritten;
            }

            throw;
        }
        finally
        {
            stream.Release();
        }

        pending.Commit(replace: true);
    }

    /// <summary>
    /// Asynchronous streaming write: <paramref name="write"/> writes the complete new content to the stream
    /// it is given; the same protocol as <see cref="WriteAtomic(string, Action{Stream})"/>.
    /// </summary>
    /// <param name="path">The target file.</param>
    /// <param name="write">Writes the content; if it throws, nothing changes and its exception propagates.</param>
    /// <param name="cancellationToken">Passed to <paramref name="write"/>; honoured up to the rename.</param>
    /// <returns>A task that completes when the content is durable.</returns>
    public static async Task WriteAtomicAsync(string path, Func<Stream, CancellationToken, ValueTask> write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        cancellationToken.ThrowIfCancellationRequested();
        var pending = PendingFile.Create(path);
        var stream = new HandleWriteStream(pending.Handle);
        try
        {
            await write(stream, cancellationToken).ConfigureAwait(false);
            stream.Flush();
        }
        catch (Exception e)
        {
            if (AbortBody(pending, e) is { } notWritten)
            {
                throw notWritten;
            }

            throw;
        }
        finally
        {
            stream.Release();
        }

        pending.Commit(replace: true, cancellationToken);
    }

    /// <summary>
    /// Creates <paramref name="path"/> with <paramref name="content"/> only if nothing exists at that path.
    /// Among any number of racing callers (threads or processes) exactly one returns true, and the file only
    /// ever appears complete. The directory must exist (see <see cref="WriteOnceWithParents"/>).
    /// </summary>
    /// <param name="path">The file to create.</param>
    /// <param name="content">Its complete content.</param>
    /// <returns>True if this call created the file; false if the path already existed (it is left as it was).</returns>
    /// <exception cref="NotWrittenException">The file could not be created; nothing changed.</exception>
    /// <exception cref="DurabilityUnconfirmedException">The file was created but the directory fsync failed.</exception>
    public static bool WriteOnce(string path, ReadOnlySpan<byte> content)
    {
        var (full, _, _) = Paths.Split(path);
        if (Exists(full))
        {
            return false;
        }

        var pending = PendingFile.Create(full);
        try
        {
            FileSync.Write(pending.Handle, content, 0);
        }
        catch (SafeAtomicException e)
        {
            pending.Abort();
            throw Failures.NotWritten(full, e);
        }

        // The no-replace rename (renameat2 RENAME_NOREPLACE, renamex_np RENAME_EXCL, or link+unlink) is the
        // single point that decides the winner; the existence check above only saves work.
        return pending.Commit(replace: false);
    }

    /// <summary>
    /// <see cref="WriteOnce"/> after creating any missing parent directories, each made durable by
    /// fsyncing its own parent (so a crash cannot lose the new directory while the file claims to exist).
    /// </summary>
    /// <param name="path">The file to create.</param>
    /// <param name="content">Its complete content.</param>
    /// <returns>True if this call created the file; false if the path already existed.</returns>
    /// <exception cref="NotWrittenException">The directories or the file could not be created (durably).</exception>
    /// <exception cref="DurabilityUnconfirmedException">The file was created but the directory fsync failed.</exception>
    public static bool WriteOnceWithParents(string path, ReadOnlySpan<byte> content)
    {
        var (full, directory, _) = Paths.Split(path);
        try
        {
            CreateDirectories(directory);
        }
        catch (SafeAtomicException e)
        {
            throw Failures.NotWritten(full, e);
        }

        return WriteOnce(full, content);
    }

    /// <summary>
    /// Appends <paramref name="content"/> to <paramref name="path"/> (created if missing, O_APPEND) and fsyncs
    /// it; when the call created the file, the directory is fsynced too so the file itself survives a crash.
    /// </summary>
    /// <remarks>
    /// A raw primitive: no framing and no recovery. A crash during the call can leave part of the appended
    /// bytes at the end of the file; concurrent appenders in separate calls do not interleave within one
    /// write system call, but a large append may take several.
    /// </remarks>
    /// <param name="path">The file to append to.</param>
    /// <param name="content">The bytes to append.</param>
    /// <exception cref="NotWrittenException">The file could not be opened or created; nothing changed.</exception>
    /// <exception cref="SafeAtomicException">The write or the fsync failed: the file may end in part of this append.</exception>
    /// <exception cref="DurabilityUnconfirmedException">The append is durable but the new file's directory entry may not be.</exception>
    public static void WriteAppendFsync(string path, ReadOnlySpan<byte> content)
    {
        var (full, directory, _) = Paths.Split(path);
        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        bool created;
        try
        {
            (handle, created) = FileSync.RetryInterrupted(full, static (calls, f) => (calls.OpenAppend(f, out bool c), c));
        }
        catch (SafeAtomicException e)
        {
            throw Failures.NotWritten(full, e);
        }

        using (handle)
        {
            try
            {
                FileSync.Append(handle, content);
                FileSync.Fsync(handle);
            }
            catch (SafeAtomicException e)
            {
                throw Failures.PartialAppend(full, e);
            }
        }

        if (created)
        {
            Failures.FsyncDirectoryAfterCommit(directory, full);
        }
    }

    /// <summary>
    /// Atomically renames <paramref name="from"/> to <paramref name="to"/>, replacing an existing
    /// <paramref name="to"/>, then fsyncs the destination directory (and the source directory when it
    /// differs). Never copies: a move across file systems throws <see cref="CrossDeviceException"/>.
    /// </summary>
    /// <param name="from">The existing path.</param>
    /// <param name="to">The new path.</param>
    /// <exception cref="NotWrittenException">The rename failed; nothing changed.</exception>
    /// <exception cref="CrossDeviceException">The paths are on different file systems; nothing changed.</exception>
    /// <exception cref="DurabilityUnconfirmedException">Renamed, but a directory fsync failed.</exception>
    public static void RenameAtomic(string from, string to) => RenameAtomic(from, to, overwrite: true);

    /// <summary>
    /// Atomically renames <paramref name="from"/> to <paramref name="to"/>; with <paramref name="overwrite"/>
    /// false an existing destination is never replaced (<see cref="AlreadyExistsException"/>, race-free).
    /// </summary>
    /// <param name="from">The existing path.</param>
    /// <param name="to">The new path.</param>
    /// <param name="overwrite">Whether an existing destination is replaced.</param>
    /// <exception cref="NotWrittenException">The rename failed; nothing changed.</exception>
    /// <exception cref="AlreadyExistsException">The destination exists and <paramref name="overwrite"/> is false.</exception>
    /// <exception cref="CrossDeviceException">The paths are on different file systems; nothing changed.</exception>
    /// <exception cref="DurabilityUnconfirmedException">Renamed, but a directory fsync failed.</exception>
    public static void RenameAtomic(string from, string to, bool overwrite)
    {
        var (fullFrom, fromDirectory, _) = Paths.Split(from);
        var (fullTo, toDirectory, _) = Paths.Split(to);
        try
        {
            if (overwrite)
            {
                FileSync.RetryInterrupted((fullFrom, fullTo), static (calls, p) => calls.Rename(p.fullFrom, p.fullTo));
            }
            else if (!FileSync.RetryInterrupted((fullFrom, fullTo), static (calls, p) => calls.RenameNoReplace(p.fullFrom, p.fullTo)))
            {
                throw Failures.AlreadyExists(fullTo);
            }
        }
        catch (SystemCallException e) when (e.ErrorNumber == ErrorNumbers.EXDEV)
        {
            throw Failures.CrossDevice(fullFrom, fullTo, e);
        }
        catch (SystemCallException e) when (e.ErrorNumber == ErrorNumbers.ENOENT && FileSync.GetFileKind(fullFrom) == FileKind.Missing)
        {
            throw Failures.SourceMissing(fullFrom, fullTo, e);
        }
        catch (SystemCallException e)
        {
            throw Failures.NotWritten(fullTo, e);
        }

        Failures.FsyncDirectoryAfterCommit(toDirectory, fullTo);
        if (!string.Equals(fromDirectory, toDirectory, StringComparison.Ordinal))
        {
            Failures.FsyncDirectoryAfterCommit(fromDirectory, fullTo);
        }
    }

    /// <summary>
    /// Makes <paramref name="directory"/>'s entries durable (open with O_DIRECTORY, fsync). A documented
    /// no-op on Windows, where directories cannot be flushed (NTFS journals metadata).
    /// </summary>
    /// <remarks>
    /// Upstream's <c>fsync_dir</c>, under its upstream name: an alias of <see cref="FileSync.FsyncDirectory"/>
    /// (the name every other SafeAtomic member and the handle-level layer use) that makes a relative
    /// <paramref name="directory"/> absolute first, so errors name the absolute path.
    /// </remarks>
    /// <param name="directory">The directory to fsync.</param>
    /// <exception cref="SystemCallException">The directory could not be opened or fsynced.</exception>
    public static void FsyncDir(string directory) => FileSync.FsyncDirectory(Path.GetFullPath(directory));

    /// <summary>
    /// Creates <paramref name="directory"/> and any missing ancestors (mkdir -p), durably: each directory it
    /// creates is made to survive a crash by fsyncing its parent. Existing levels are left alone.
    /// </summary>
    /// <param name="directory">The directory to create.</param>
    /// <returns>True when at least one level was created.</returns>
    /// <exception cref="SystemCallException">A level could not be created or its parent fsynced.</exception>
    public static bool CreateDirectories(string directory)
    {
        var missing = new Stack<string>();
        for (string? d = Path.GetFullPath(directory); d is not null && !System.IO.Directory.Exists(d); d = Path.GetDirectoryName(d))
        {
            missing.Push(d);
        }

        bool created = false;
        while (missing.TryPop(out string? level))
        {
            created |= FileSync.RetryInterrupted(level, static (calls, l) => calls.CreateDirectory(l));
            FileSync.FsyncDirectory(Path.GetDirectoryName(level)!);
        }

        return created;
    }

    /// <summary>
    /// Lists leftover temp files of interrupted atomic writes in <paramref name="directory"/> (names shaped
    /// <c>.&lt;name&gt;.&lt;16 hex&gt;.tmp</c>). Only a process that crashed mid-write leaves them; they never
    /// replace anything by themselves and may be deleted when no write is in progress.
    /// </summary>
    /// <param name="directory">The directory to look in.</param>
    /// <returns>Full paths of the temp files found.</returns>
    public static IReadOnlyList<string> FindTempFiles(string directory)
    {
        var found = new List<string>();
        foreach (string file in System.IO.Directory.EnumerateFiles(directory, ".*.tmp"))
        {
            if (TempName.IsTempName(Path.GetFileName(file)))
            {
                found.Add(file);
            }
        }

        return found;
    }

    private static void WriteAtomic(string path, ReadOnlySpan<byte> content, CancellationToken cancellationToken)
    {
        var pending = PendingFile.Create(path);
        try
        {
            FileSync.Write(pending.Handle, content, 0);
        }
        catch (SafeAtomicException e)
        {
            pending.Abort();
            throw Failures.NotWritten(pending.TargetPath, e);
        }

        pending.Commit(replace: true, cancellationToken);
    }

    /// <summary>
    /// After a streaming body failed: removes the temp file; returns the exception to throw instead of the
    /// body's own one (SafeAtomic's I/O errors become <see cref="NotWrittenException"/>), or null to rethrow it.
    /// </summary>
    private static NotWrittenException? AbortBody(PendingFile pending, Exception e)
    {
        pending.Abort();
        return e is SafeAtomicException ? Failures.NotWritten(pending.TargetPath, e) : null;
    }

    private static bool Exists(string fullPath)
    {
        var info = new FileInfo(fullPath);
        return info.Exists || info.LinkTarget is not null || System.IO.Directory.Exists(fullPath);
    }
}
