using SafeAtomic;
using static TestChild.Readme.Harness;

namespace TestChild.Readme;

/// <summary>README.md's snippet, verbatim between the markers (ReadmeSnippetTests compares the two and runs this).</summary>
internal static class SafeAtomicQuickStart
{
    public static async Task Run()
    {
        // README BEGIN
        // Replace a file atomically and durably: readers and crashes see the old or the new content, whole.
        AtomicFile.WriteAtomic("settings.json", """{"theme":"dark"}"""u8);

        // Stream a large file through the same protocol.
        AtomicFile.WriteAtomic("export.csv", stream => { foreach (var row in rows) stream.Write(row); });

        // Create-if-absent: exactly one of any number of racing threads or processes gets true.
        bool iAmFirst = AtomicFile.WriteOnce("init.done", "ok"u8);

        // Append and fsync (fsyncs the directory too when it created the file).
        AtomicFile.WriteAppendFsync("journal.log", "event\n"u8);

        // Rename atomically; across file systems it throws CrossDeviceException instead of copying.
        Directory.CreateDirectory("staging");
        Directory.CreateDirectory("published");
        AtomicFile.WriteAtomic("staging/report.pdf", "%PDF-1.7"u8);
        AtomicFile.RenameAtomic("staging/report.pdf", "published/report.pdf");
        // README END
        await Task.CompletedTask;
    }
}
