namespace SafeAtomic;

/// <summary>
/// Root of every error SafeAtomic raises. The subclasses say what state the file system was left in;
/// the operating-system error that caused it is the <see cref="Exception.InnerException"/>.
/// </summary>
public class SafeAtomicException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">A stable, human-readable message.</param>
    /// <param name="path">The path the operation was about.</param>
    /// <param name="inner">The underlying error, usually a <see cref="SystemCallException"/>.</param>
    public SafeAtomicException(string message, string? path, Exception? inner = null)
        : base(message, inner)
    {
        Path = path;
    }

    /// <summary>The path the failed operation was about.</summary>
    public string? Path { get; }

    /// <summary>
    /// The failed system call behind this error (this exception itself or the nearest inner one), with its
    /// errno; <c>null</c> when no system call failed.
    /// </summary>
    public SystemCallException? SystemError
    {
        get
        {
            for (Exception? e = this; e is not null; e = e.InnerException)
            {
                if (e is SystemCallException sce)
                {
                    return sce;
                }
            }

            return null;
        }
    }
}

/// <summary>
/// The operation did not take effect: the target still holds its previous content (or is still absent),
/// and no temporary file was left behind.
/// </summary>
public sealed class NotWrittenException : SafeAtomicException
{
    /// <summary>Creates the exception.</summary>
    public NotWrittenException(string message, string path, Exception? inner)
        : base(message, path, inner)
    {
    }
}

/// <summary>
/// The new content is in place and visible, but making it durable failed (the directory fsync after the
/// rename reported an error): after a power loss the old content or no file may come back. There is no
/// rollback; write again to retry.
/// </summary>
public sealed class DurabilityUnconfirmedException : SafeAtomicException
{
    /// <summary>Creates the exception.</summary>
    public DurabilityUnconfirmedException(string message, string path, Exception? inner)
        : base(message, path, inner)
    {
    }
}

/// <summary>The destination already exists and the operation never replaces it.</summary>
public sealed class AlreadyExistsException : SafeAtomicException
{
    /// <summary>Creates the exception.</summary>
    public AlreadyExistsException(string message, string path, Exception? inner = null)
        : base(message, path, inner)
    {
    }
}

/// <summary>
/// A rename crossed file systems (EXDEV). SafeAtomic never falls back to copy-and-delete, which would not
/// be atomic; the source is untouched and the destination unchanged.
/// </summary>
public sealed class CrossDeviceException : SafeAtomicException
{
    /// <summary>Creates the exception.</summary>
    public CrossDeviceException(string message, string source, string destination, Exception? inner)
        : base(message, destination, inner)
    {
        Source = source;
        Destination = destination;
    }

    /// <summary>The path that was to be moved.</summary>
    public new string Source { get; }

    /// <summary>The path it was to be moved to.</summary>
    public string Destination { get; }
}
