namespace SafeAtomic;

/// <summary>
/// A system call failed. Carries the call's name, the path it worked on and the error number, so
/// that callers can tell EIO from ENOSPC from EXDEV without parsing text.
/// </summary>
/// <remarks>
/// <see cref="ErrorNumber"/> uses the Linux numbering on every platform (EIO = 5, EXDEV = 18,
/// ENOSPC = 28), as Mono.Posix does; on Windows it holds the Win32 error code instead.
/// </remarks>
public sealed class SystemCallException : SafeAtomicException
{
    /// <summary>Creates the exception for a failed call.</summary>
    /// <param name="call">The system call, e.g. <c>fsync</c>.</param>
    /// <param name="path">The path involved, when known.</param>
    /// <param name="errorNumber">The errno value (Linux numbering).</param>
    /// <param name="errorName">The symbolic name, e.g. <c>EIO</c>.</param>
    public SystemCallException(string call, string? path, int errorNumber, string errorName)
        : base(FormatMessage(call, path, errorNumber, errorName), path)
    {
        Call = call;
        ErrorNumber = errorNumber;
        ErrorName = errorName;
        HResult = errorNumber;
    }

    /// <summary>The name of the system call that failed.</summary>
    public string Call { get; }

    /// <summary>The error number (Linux numbering on Unix; the Win32 code on Windows).</summary>
    public int ErrorNumber { get; }

    /// <summary>The symbolic error name, e.g. <c>EIO</c>, <c>ENOSPC</c>, <c>EXDEV</c>.</summary>
    public string ErrorName { get; }

    private static string FormatMessage(string call, string? path, int errorNumber, string errorName) =>
        path is null
            ? $"{call} failed: {errorName} ({errorNumber})"
            : $"{call} {path} failed: {errorName} ({errorNumber})";
}
