using DataWal.Kv;
using static TestChild.Readme.Harness;

namespace TestChild.Readme;

/// <summary>README.md's snippet, verbatim between the markers (ReadmeSnippetTests compares the two and runs this).</summary>
internal static class KvQuickStart
{
    public static async Task Run()
    {
        // README BEGIN
        using var kv = KvStore.Open("state");                // writer: lock, recovery, keydir rebuilt in the same pass
        kv.Put("user:1"u8, "alice"u8);
        kv.Put("user:1"u8, "alicia"u8);                      // last write wins
        kv.Delete("user:2"u8);                               // always writes a tombstone
        kv.Fsync();
        byte[]? name = kv.Get("user:1"u8);                   // positional read; CRC, type and key re-verified
        kv.Put("greeting", "héllo");                         // strings are stored as UTF-8 (strict: a lone surrogate throws)
        string? greeting = kv.GetString("greeting");
        // Spans, arrays, strings: kv.Put(byte[], byte[]) and the other array/string overloads throw
        // ArgumentNullException for null; an empty array or "" is the empty key (valid, as upstream).

        if (Directory.Exists("state.compact"))                // CompactTo refuses a non-empty target directory
            Directory.Delete("state.compact", recursive: true);
        kv.CompactTo("state.compact");                       // one Put per live key, sorted; the source is untouched
        kv.ExportJsonl("state.jsonl", overwrite: true);      // {"key_b64":"…","value_b64":"…"} lines, atomic file; without
                                                             // overwrite: true an existing file is refused (DataWalException)

        using var view = KvStore.OpenReadOnly("state");      // no lock, creates nothing: beside a live writer
        // README END
        await Task.CompletedTask;
    }
}
