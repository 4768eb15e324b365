using DataWal.Core;
using DataWal.Kv;

namespace DataWal.Cli;

/// <summary>
/// Opens stores for inspection, read-only for real (docs/design.md D12): through <see cref="RecordLogReader"/>
/// or <see cref="KvStore.OpenReadOnly(string)"/>, which take no lock and never create or change anything. A missing
/// store is a clear error (exit 1), never an empty store created on the spot.
/// </summary>
internal static class Store
{
    /// <summary>Checks that <paramref name="path"/> is an existing directory.</summary>
    public static void RequireDirectory(string path)
    {
        if (Directory.Exists(path))
        {
            return;
        }

        if (File.Exists(path))
        {
            throw new CliException($"not a store directory: {path} (it is a file)");
        }

        throw new CliException($"store directory not found: {path} (nothing was created)");
    }

    public static RecordLogReader OpenReader(CliContext context, string path, ReadMode mode = ReadMode.Strict)
    {
        RequireDirectory(path);
        var reader = RecordLogReader.Open(path, mode);
        if (reader.Segments.Count == 0)
        {
            NoteEmpty(context, path);
        }

        return reader;
    }

    public static KvStore OpenKv(CliContext context, string path, ReadMode mode = ReadMode.Strict)
    {
        RequireDirectory(path);
        var store = KvStore.OpenReadOnly(path, mode);
        if (store.RecoveryReport.FilesScanned == 0)
        {
            NoteEmpty(context, path);
        }

        return store;
    }

    /// <summary>Total size of the snapshotted segments (for progress), best effort.</summary>
    public static long SegmentBytes(RecordLogReader reader, out long[] sizes)
    {
        sizes = new long[reader.Segments.Count];
        long total = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            try
            {
                sizes[i] = new FileInfo(SegmentFiles.PathFor(reader.Directory, reader.Segments[i])).Length;
            }
            catch (IOException)
            {
                sizes[i] = 0;
            }

            total += sizes[i];
        }

        return total;
    }

    private static void NoteEmpty(CliContext context, string path)
    {
        if (!context.Json)
        {
            context.ErrorLine($"datawal: note: no segment files (NNNNNNNN.dwal) in {path}: an empty store");
        }
    }
}
