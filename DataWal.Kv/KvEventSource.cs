using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Tracing;

namespace DataWal.Kv;

/// <summary>
/// The <c>DataWal.Kv</c> event source: the key/value store's rare, significant moments (compaction, export).
/// The log beneath raises its own (recovery, tail cut, poisoning, rotation) on the <c>DataWal</c> source.
/// Event ids are stable; they keep the numbers these events had when the <c>DataWal</c> source raised them.
/// </summary>
[EventSource(Name = KvDiagnostics.EventSourceName)]
internal sealed class KvEventSource : EventSource
{
    public const int CompactionCompletedId = 5;
    public const int ExportCompletedId = 6;

    public static readonly KvEventSource Log = new();

    private KvEventSource()
    {
    }

    /// <summary>A compaction of the store in <paramref name="directory"/> into <paramref name="target"/> completed.</summary>
    [Event(CompactionCompletedId, Level = EventLevel.Informational, Message = "Compacted {0} into {1}: {2} record(s), {3} byte(s) in {4} ms")]
    public void CompactionCompleted(string directory, string target, long records, long bytes, double elapsedMilliseconds) =>
        WriteStoreOperation(CompactionCompletedId, directory, target, records, bytes, elapsedMilliseconds);

    /// <summary>A JSONL export of the store in <paramref name="directory"/> to <paramref name="path"/> completed.</summary>
    [Event(ExportCompletedId, Level = EventLevel.Informational, Message = "Exported {0} to {1}: {2} record(s), {3} byte(s) in {4} ms")]
    public void ExportCompleted(string directory, string path, long records, long bytes, double elapsedMilliseconds) =>
        WriteStoreOperation(ExportCompletedId, directory, path, records, bytes, elapsedMilliseconds);

    /// <summary>The one payload shape of the whole-store operations: source, target, records, bytes, duration.</summary>
    /// <remarks>
    /// WriteEventCore carries [RequiresUnreferencedCode] because EventSource builds its manifest by reflecting over
    /// the event method's parameter types, and a complex type's properties could be trimmed away. Both events that
    /// come through here take only strings and primitives (the runtime's own event sources suppress it the same way).
    /// </remarks>
    [NonEvent]
    [UnconditionalSuppressMessage("ReflectionAnalysis", "IL2026:RequiresUnreferencedCode",
        Justification = "Parameters to this method are primitive and are trimmer safe.")]
    private unsafe void WriteStoreOperation(int eventId, string directory, string target, long records, long bytes, double elapsedMilliseconds)
    {
        fixed (char* dir = directory)
        fixed (char* to = target)
        {
            EventData* data = stackalloc EventData[5];
            SetString(ref data[0], dir, directory);
            SetString(ref data[1], to, target);
            Set(ref data[2], &records, sizeof(long));
            Set(ref data[3], &bytes, sizeof(long));
            Set(ref data[4], &elapsedMilliseconds, sizeof(double));
            WriteEventCore(eventId, 5, data);
        }
    }

    [NonEvent]
    private static unsafe void SetString(ref EventData slot, char* chars, string value)
    {
        // Strings travel NUL-terminated, as the manifest's win:UnicodeString expects.
        slot.DataPointer = (nint)chars;
        slot.Size = (value.Length + 1) * sizeof(char);
    }

    [NonEvent]
    private static unsafe void Set(ref EventData slot, void* value, int size)
    {
        slot.DataPointer = (nint)value;
        slot.Size = size;
    }
}
