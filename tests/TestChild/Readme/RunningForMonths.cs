using DataWal.Core;
using DataWal.Kv;
using static TestChild.Readme.Harness;

namespace TestChild.Readme;

/// <summary>README.md's snippet, verbatim between the markers (ReadmeSnippetTests compares the two and runs this).</summary>
internal static class RunningForMonths
{
    public static async Task Run()
    {
        // README BEGIN
        // 1. Rotation: the active segment is sealed and a new one started before a write would take it past
        //    MaxSegmentBytes (default 128 MiB; 0 = only when you call Rotate(), upstream's behaviour).
        var logOptions = new RecordLogOptions { MaxSegmentBytes = 64L * 1024 * 1024 };

        // 2. Retention, for logs: delete whole sealed segments below a position.
        using (var log = RecordLog.Open("audit", logOptions))
        {
            RecordRef checkpoint = log.Append("processed up to here"u8);
            IReadOnlyList<uint> removed = log.DeleteSegmentsBefore(checkpoint.Segment);   // ascending, directory fsynced
        }

        // 3. Compaction, for key/value stores: in place, beside live puts and gets, by hand or by policy.
        using var kv = KvStore.Open("state", new KvStoreOptions
        {
            Log = logOptions,
            AutoCompaction = new KvAutoCompaction { DeadFraction = 0.5, MinDeadBytes = 64L * 1024 * 1024 },   // off unless set
        });
        KvCompactionResult result = kv.Compact();   // or await kv.CompactAsync(progress, cancellationToken)
        Console.WriteLine($"{result.LiveKeys} live keys, {result.BytesBefore} -> {result.BytesAfter} bytes in {result.Elapsed}");
        // README END
        await Task.CompletedTask;
    }
}
