using DataWal.Core;
using static TestChild.Readme.Harness;

namespace TestChild.Readme;

/// <summary>README.md's snippet, verbatim between the markers (ReadmeSnippetTests compares the two and runs this).</summary>
internal static class CoreQuickStart
{
    public static async Task Run()
    {
        // README BEGIN
        using (var log = RecordLog.Open("events"))          // creates the directory and 00000001.dwal; takes .lock
        {
            RecordRef at = log.Append("{\"event\":\"started\"}"u8);   // one frame, one write: safe against a process crash
            log.AppendRecord(RecordType.Put, "user:1"u8, "alice"u8);
            log.Fsync();                                     // now it survives a power loss too
            log.Rotate();                                    // seal 00000001.dwal, continue in 00000002.dwal
                                                             // (also automatic at RecordLogOptions.MaxSegmentBytes, default 128 MiB; 0 = manual only)

            foreach (Record r in log.ScanIter())             // lazy: one record in memory at a time
                Console.WriteLine($"{r.TxId} {r.Type} {r.Payload.Length} bytes");
        }

        // A reader takes no lock and changes nothing: use it beside a live writer, in any process.
        var reader = RecordLogReader.Open("events");
        foreach (Record r in reader.ScanIter()) { /* ... */ }
        // README END
        await Task.CompletedTask;
    }
}
