using System.Text;
using SafeAtomic;

namespace DataWal.Cli;

/// <summary>The <c>demo</c> command: a short, readable tour of what the libraries guarantee.</summary>
internal static class DemoCommand
{
    public static int Run(string? directory, TextWriter output)
    {
        bool temporary = directory is null;
        string dir = directory ?? Path.Combine(Path.GetTempPath(), "datawal-demo-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            output.WriteLine($"datawal demo in {dir}");

            string config = Path.Combine(dir, "config.json");
            AtomicFile.WriteAtomic(config, Encoding.UTF8.GetBytes("{\"version\":1}\n"));
            AtomicFile.WriteAtomic(config, Encoding.UTF8.GetBytes("{\"version\":2}\n"));
            output.WriteLine($"  WriteAtomic  config.json twice -> {File.ReadAllText(config).Trim()} (old or new, never a mix)");

            string marker = Path.Combine(dir, "init.done");
            bool first = AtomicFile.WriteOnce(marker, "first"u8);
            bool second = AtomicFile.WriteOnce(marker, "second"u8);
            output.WriteLine($"  WriteOnce    init.done twice -> {first}, {second}; content \"{File.ReadAllText(marker)}\" (exactly one winner)");

            string journal = Path.Combine(dir, "journal.txt");
            for (int i = 1; i <= 3; i++)
            {
                AtomicFile.WriteAppendFsync(journal, Encoding.UTF8.GetBytes($"event {i}\n"));
            }

            output.WriteLine($"  WriteAppendFsync journal.txt x3 -> {File.ReadAllLines(journal).Length} durable lines");

            string nested = Path.Combine(dir, "a", "b", "state.bin");
            bool created = AtomicFile.WriteOnceWithParents(nested, [1, 2, 3]);
            AtomicFile.RenameAtomic(nested, Path.Combine(dir, "state.bin"));
            output.WriteLine($"  WriteOnceWithParents a/b/state.bin -> {created}; RenameAtomic to state.bin -> {File.Exists(Path.Combine(dir, "state.bin"))}");

            int leftovers = AtomicFile.FindTempFiles(dir).Count;
            output.WriteLine($"  temp files left behind: {leftovers}");
            return 0;
        }
        finally
        {
            if (temporary)
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }
}
