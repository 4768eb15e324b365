using Microsoft.Win32.SafeHandles;

namespace SafeAtomic.Internal;

/// <summary>
/// One atomic write in progress: a random, exclusive, owner-only temp file next to the target. The
/// caller writes through <see cref="Handle"/>, then <see cref="Commit"/> fsyncs it, carries the target's
/// permission bits over (0777 only, never through a symlink), renames it into place and fsyncs the
/// directory — or <see cref="Abort"/> removes it. A failure before the rename always leaves the target untouched and no temp file behind.
/// </summary>
internal sealed class PendingFile
{
    private const int MaxNameAttempts = 16;
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private SafeFileHandle? _handle;

    private PendingFile(string targetPath, string directory, string tempPath, SafeFileHandle handle)
    {
        TargetPath = targetPath;
        Directory = directory;
        TempPath = tempPath;
        _handle = handle;
    }

    public string TargetPath { get; }

    public string Directory { get; }

    public string TempPath { get; }

    public SafeFileHandle Handle => _handle ?? throw new ObjectDisposedException(nameof(PendingFile));

    /// <summary>Creates the temp file for <paramref name="path"/> (a bare name means the current directory).</summary>
    public static PendingFile Create(string path)
    {
        var (full, directory, name) = Paths.Split(path);
        for (int attempt = 0; ; attempt++)
        {
            string temp = Path.Combine(directory, TempName.For(name));
            try
            {
                var handle = FileSync.Open(temp, FileMode.CreateNew, FileAccess.Write, OwnerOnly);
                return new PendingFile(full, directory, temp, handle);
            }
            catch (SystemCallException e) when (e.ErrorNumber == ErrorNumbers.EEXIST && attempt < MaxNameAttempts)
            {
                // A 64-bit random name collided (or something squats on it): draw another.
            }
            catch (SafeAtomicException e)
            {
                throw Failures.NotWritten(full, e);
            }
        }
    }

    /// <summary>
    /// Makes the temp durable and renames it over the target (or, with <paramref name="replace"/> false,
    /// only if the target is absent), then fsyncs the directory. Returns false when
    /// <paramref name="replace"/> is false and the target exists (the temp is then removed).
    /// </summary>
    /// <param name="replace">Whether an existing target is replaced.</param>
    /// <param name="cancellationToken">Honoured up to the rename, never after it.</param>
    public bool Commit(bool replace, CancellationToken cancellationToken = default)
    {
        try
        {
            var handle = Handle;
            if (replace && !OperatingSystem.IsWindows())
            {
                KeepTargetMode(handle);
            }

            FileSync.Fsync(handle);
            handle.Dispose();
            _handle = null;
            cancellationToken.ThrowIfCancellationRequested();

            if (replace)
            {
                FileSync.RetryInterrupted((TempPath, TargetPath), static (calls, p) => calls.Rename(p.TempPath, p.TargetPath));
            }
            else if (!FileSync.RetryInterrupted((TempPath, TargetPath), static (calls, p) => calls.RenameNoReplace(p.TempPath, p.TargetPath)))
            {
                Abort();
                return false;
            }
        }
        catch (Exception e)
        {
            Abort();
            if (e is OperationCanceledException)
            {
                throw;
            }

            throw Failures.NotWritten(TargetPath, e);
        }

        Failures.FsyncDirectoryAfterCommit(Directory, TargetPath);
        return true;
    }

    /// <summary>Closes and removes the temp file; never throws.</summary>
    public void Abort()
    {
        _handle?.Dispose();
        _handle = null;
        try
        {
            FileSync.RetryInterrupted(TempPath, static (calls, t) => calls.Unlink(t));
        }
        catch (SystemCallException)
        {
            // Already gone (renamed or never fully created) or not removable: nothing more can be done,
            // and the caller's original error is the one worth reporting.
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private void KeepTargetMode(SafeFileHandle handle)
    {
        // docs/design.md D19: only the permission bits of a regular file at the target itself. Through a symlink
        // the caller could be handed the mode of any file (a set-uid binary, when run as root), and
        // set-uid/set-gid/sticky on new content would give it privileges nobody granted to these bytes.
        // A symlink, a missing target or anything else keeps the temp's owner-only mode.
        var mode = SystemCalls.Current.RegularFilePermissions(TargetPath);
        if (mode is { } bits && bits != OwnerOnly)
        {
            File.SetUnixFileMode(handle, bits);
        }
    }
}
