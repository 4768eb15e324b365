using System.Diagnostics.CodeAnalysis;
using DataWal.Core;
using SafeAtomic;

namespace DataWal.Kv;

/// <summary>
/// The store's own throw helpers (not Core's internal ones: Kv is to need nothing but Core's public surface):
/// <c>Throw*</c> methods throw; the others build the exception for a <c>throw</c> at the call site, in a
/// catch block. Tests pin the messages: change none. The segment messages are the same as Core's.
/// </summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowCompactTargetIsNotADirectory(string target) =>
        throw new DataWalException($"datawal: compact_to target {target} is not a directory (KvStore.CompactTo)");

    [DoesNotReturn]
    public static void ThrowCompactTargetIsNotEmpty(string target) =>
        throw new DataWalException($"datawal: compact_to target {target} is not empty; refusing to overwrite (KvStore.CompactTo)");

    public static DataWalException OpenSegmentFailed(string path, SafeAtomicException inner) =>
        new($"datawal: open segment {path}: {inner.Message}", inner);

    public static DataWalException ReadSegmentFailed(string path, long offset, SafeAtomicException inner) =>
        new($"datawal: read segment {path} at offset {offset}: {inner.Message}", inner);

    /// <param name="path">The export file (absolute).</param>
    /// <param name="inner">SafeAtomic's exception: it tells whether the old file is intact or the new one is in place but not confirmed durable.</param>
    public static DataWalException ExportJsonlFailed(string path, SafeAtomicException inner) =>
        new($"datawal: export jsonl to {path}: {Outcome(inner)}", inner);

    /// <summary>
    /// What SafeAtomic's exception means for the export file, then the system call that failed. SafeAtomic's own text
    /// names the temp file the export wrote (and that one's own temp file), so quoting it would nest a second and a
    /// third "could not write PATH" under the user's path; the outcome and the failing call say the same once.
    /// </summary>
    private static string Outcome(SafeAtomicException inner)
    {
        var call = inner as SystemCallException ?? inner.InnerException as SystemCallException;
        return (inner, call) switch
        {
            (NotWrittenException, not null) => $"not written, an existing file was left unchanged: {call.Message}",
            (DurabilityUnconfirmedException, not null) => $"in place, but its directory could not be fsynced, so durability is not confirmed: {call.Message}",
            (SystemCallException, not null) => call.Message,
            _ => inner.Message.StartsWith("safeatomic: ", StringComparison.Ordinal) ? inner.Message["safeatomic: ".Length..] : inner.Message,
        };
    }

    /// <param name="path">The export file (absolute).</param>
    /// <param name="inner">The failed no-replace rename when the file appeared during the export; null when it existed before
    /// (an <see cref="AlreadyExistsException"/> is made, so that callers tell the case apart by the inner exception either way).</param>
    public static DataWalException ExportTargetExists(string path, AlreadyExistsException? inner) =>
        new(
            $"datawal: export_jsonl target {path} already exists; refusing to overwrite (pass overwrite: true to replace it)",
            inner ?? new AlreadyExistsException($"{path} already exists", path));
}
