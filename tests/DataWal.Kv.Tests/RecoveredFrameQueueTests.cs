using NUnit.Framework;

namespace DataWal.Kv.Tests;

/// <summary>
/// An open applies recovered frames in small queued groups (hash and slot prefetch first). The result must be exactly
/// the log applied one frame at a time: puts, deletes and re-puts of one key inside one group, keys longer than the
/// queue's per-key room (applied at once, after the queue), and a queue left part-full at the end of the log.
/// </summary>
public class RecoveredFrameQueueTests
{
    [TestCase(1)]
    [TestCase(15)]
    [TestCase(16)]
    [TestCase(17)]
    [TestCase(5000)]
    public void Reopening_gives_the_state_of_every_frame_applied_in_log_order(int operations)
    {
        using var dir = new TestSupport.TempDir();
        var rng = new Random(operations);
        var model = new Dictionary<string, byte[]>();
        using (var kv = KvStore.Open(dir.Path))
        {
            for (int i = 0; i < operations; i++)
            {
                // Few distinct keys, so the same key recurs within a group; some longer than 256 bytes.
                int id = rng.Next(24);
                string key = id % 7 == 0 ? $"long-{id}-" + new string('k', 300 + id) : $"k{id}";
                if (rng.Next(4) == 0)
                {
                    kv.Delete(System.Text.Encoding.UTF8.GetBytes(key));
                    model.Remove(key);
                }
                else
                {
                    var value = BitConverter.GetBytes(i);
                    kv.Put(System.Text.Encoding.UTF8.GetBytes(key), value);
                    model[key] = value;
                }
            }
        }

        using (var reopened = KvStore.Open(dir.Path))
        {
            Assert.That(reopened.Count, Is.EqualTo(model.Count));
            foreach (var (key, value) in model)
            {
                Assert.That(reopened.Get(System.Text.Encoding.UTF8.GetBytes(key)), Is.EqualTo(value), key);
            }

            // The first append after the open sees the whole recovered state too.
            reopened.Put("after"u8.ToArray(), [1]);
            Assert.That(reopened.Count, Is.EqualTo(model.Count + (model.ContainsKey("after") ? 0 : 1)));
        }

        using var readOnly = KvStore.OpenReadOnly(dir.Path);
        foreach (var (key, value) in model)
        {
            Assert.That(readOnly.Get(System.Text.Encoding.UTF8.GetBytes(key)), Is.EqualTo(value), key + " (read-only open)");
        }
    }
}
