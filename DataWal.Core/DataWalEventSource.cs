using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Tracing;

namespace DataWal.Core;

/// <summary>
/// The <c>DataWal</c> event source: rare, significant moments of a log's life (recovery, tail cut,
/// poisoning, rotation). Event ids are stable: tools and listeners key on them.
/// Callers check <see cref="EventSource.IsEnabled()"/> first, so an unlistened event costs one field read.
/// </summary>
[EventSource(Name = DataWalDiagnostics.EventSourceName)]
internal sealed class DataWalEventSource : EventSource
{
    public const int RecoveryCompletedId = 1;
    public const int TailCutId = 2;
    public const int PoisonedId = 3;
    public const int SegmentRotatedId = 4;
    // 5 and 6 were compaction and export; they moved to the key/value store's own source (DataWal.Kv) with
    // their numbers, which stay retired here.

    public static readonly DataWalEventSource Log = new();

    // WriteEventCore carries [RequiresUnreferencedCode] because EventSource builds its manifest by reflecting
    // over the event method's parameter types, and a complex type's properties could be trimmed away. Every
    // event here takes only strings and primitives (the runtime's own event sources suppress it the same way).
    private const string PrimitivePayload = "Parameters to this method are primitive and are trimmer safe.";

    private DataWalEventSource()
    {
    }

    /// <summary>A writer open finished recovering the log in <paramref name="directory"/>.</summary>
    [Event(RecoveryCompletedId, Level = EventLevel.Informational,
        Message = "Recovered {0}: {1} segment(s), {2} record(s), tail truncated {3} ({4} byte(s) discarded, cut: {5}) in {6} ms")]
    [UnconditionalSuppressMessage("ReflectionAnalysis", "IL2026:RequiresUnreferencedCode", Justification = PrimitivePayload)]
    public unsafe void RecoveryCompleted(string directory, int filesScanned, long recordsReplayed, int tailTruncated, long tailBytesDiscarded, bool tailCut, double elapsedMilliseconds)
    {
        // The manifest's bool is a 4-byte Win32 BOOL, not the CLR's 1-byte bool.
        int cut = tailCut ? 1 : 0;
        fixed (char* dir = directory)
        {
            EventData* data = stackalloc EventData[7];
            SetString(ref data[0], dir, directory);
            Set(ref data[1], &filesScanned, sizeof(int));
            Set(ref data[2], &recordsReplayed, sizeof(long));
            Set(ref data[3], &tailTruncated, sizeof(int));
            Set(ref data[4], &tailBytesDiscarded, sizeof(long));
            Set(ref data[5], &cut, sizeof(int));
            Set(ref data[6], &elapsedMilliseconds, sizeof(double));
            WriteEventCore(RecoveryCompletedId, 7, data);
        }
    }

    /// <summary>A writer open cut <paramref name="bytes"/> bytes of damaged tail off the active segment.</summary>
    [Event(TailCutId, Level = EventLevel.Warning, Message = "Cut {1} byte(s) of damaged tail off the active segment of {0}")]
    public void TailCut(string directory, long bytes) => WriteEvent(TailCutId, directory, bytes);

    /// <summary>The writer of <paramref name="directory"/> was poisoned; writes are refused until a reopen.</summary>
    [Event(PoisonedId, Level = EventLevel.Error, Message = "Writer of {0} poisoned: {1}; drop handle and reopen")]
    public void Poisoned(string directory, string reason) => WriteEvent(PoisonedId, directory, reason);

    /// <summary>A rotation sealed the active segment and started <paramref name="newSegmentId"/>.</summary>
    [Event(SegmentRotatedId, Level = EventLevel.Informational, Message = "Rotated {0} to segment {1}")]
    [UnconditionalSuppressMessage("ReflectionAnalysis", "IL2026:RequiresUnreferencedCode", Justification = PrimitivePayload)]
    public unsafe void SegmentRotated(string directory, uint newSegmentId)
    {
        fixed (char* dir = directory)
        {
            EventData* data = stackalloc EventData[2];
            SetString(ref data[0], dir, directory);
            Set(ref data[1], &newSegmentId, sizeof(uint));
            WriteEventCore(SegmentRotatedId, 2, data);
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
