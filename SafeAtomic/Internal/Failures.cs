namespace SafeAtomic.Internal;

/// <summary>Builds SafeAtomic's exceptions with their stable messages (a throw helper).</summary>
internal static class Failures
{
    public static NotWrittenException NotWritten(string path, Exception inner) =>
        new($"safeatomic: could not write {path}; it was left unchanged: {inner.Message}", path, inner);

    public static NotWrittenException SourceMissing(string from, string to, SystemCallException inner) =>
        new($"safeatomic: could not rename {from} to {to}: the source {from} does not exist; nothing was changed ({inner.Message})", to, inner);

    public static DurabilityUnconfirmedException NotDurable(string path, Exception inner) =>
        new($"safeatomic: {path} is in place but its directory could not be fsynced; durability is not confirmed: {inner.Message}", path, inner);

    public static CrossDeviceException CrossDevice(string from, string to, Exception inner) =>
        new($"safeatomic: cannot rename {from} to {to} atomically: they are on different file systems; nothing was changed", from, to, inner);

    public static AlreadyExistsException AlreadyExists(string path) =>
        new($"safeatomic: {path} already exists; nothing was changed", path);

    public static SafeAtomicException PartialAppend(string path, Exception inner) =>
        new($"safeatomic: append to {path} failed; the file may now end in part of this append: {inner.Message}", path, inner);

    /// <summary>Fsyncs a directory after its entries changed; failure means "visible, not durable".</summary>
    public static void FsyncDirectoryAfterCommit(string directory, string target)
    {
        try
        {
            FileSync.FsyncDirectory(directory);
        }
        catch (SafeAtomicException e)
        {
            throw NotDurable(target, e);
        }
    }
}
