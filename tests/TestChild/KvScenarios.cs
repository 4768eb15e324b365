using System.Text;
using DataWal.Kv;

namespace TestChild;

/// <summary>Child-process scenarios for the DataWal.Kv tests.</summary>
internal static class KvScenarios
{
    /// <summary>Runs the scenario named by <c>args[0]</c>, or returns null when it is not one of these.</summary>
    public static int? Run(string[] args) => args[0] switch
    {
        "kv-writer" => Writer(args[1], args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 0),
        _ => null,
    };

    /// <summary>
    /// Opens a KvStore as writer and puts <c>k000000</c>, <c>k000001</c>, … in order, each with the value
    /// <c>reverse(key) + "=" + key</c> (self-checking). After every 100 puts it fsyncs and prints
    /// <c>acked N</c> (keys k0..k(N-1) are durable). With <c>rotateEvery</c> &gt; 0 the log is rotated after
    /// every that many keys. Runs until killed (idles after a million keys so the disk cannot fill up).
    /// </summary>
    private static int Writer(string directory, int rotateEvery)
    {
        using var kv = KvStore.Open(directory);
        for (int i = 0; i < 1_000_000; i++)
        {
            byte[] key = Encoding.ASCII.GetBytes($"k{i:D6}");
            kv.Put(key, Value(key));
            if (rotateEvery > 0 && (i + 1) % rotateEvery == 0)
            {
                kv.Rotate();
            }

            if ((i + 1) % 100 == 0)
            {
                kv.Fsync();
                Console.WriteLine($"acked {i + 1}");
            }
        }

        Console.WriteLine("done");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    private static byte[] Value(byte[] key)
    {
        var value = new byte[(key.Length * 2) + 1];
        for (int i = 0; i < key.Length; i++)
        {
            value[i] = key[key.Length - 1 - i];
        }

        value[key.Length] = (byte)'=';
        key.CopyTo(value, key.Length + 1);
        return value;
    }
}
