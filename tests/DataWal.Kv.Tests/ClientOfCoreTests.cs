using System.Diagnostics.Tracing;
using System.Reflection;
using System.Runtime.CompilerServices;
using DataWal.Core;
using NUnit.Framework;
using TestSupport;
using static DataWal.Kv.Tests.TestUtil;

namespace DataWal.Kv.Tests;

/// <summary>
/// The KV store is a client of Core's public surface (the observer), not of its internals, and it hands out no
/// writable log (a write behind its back would be invisible to its key directory).
/// </summary>
public class ClientOfCoreTests
{
    [Test]
    public void Core_grants_the_kv_library_no_internals()
    {
        var friends = typeof(RecordLog).Assembly.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName).ToList();
        Assert.That(friends, Does.Not.Contain("DataWal.Kv"));
        Assert.That(friends.Where(f => !f.EndsWith(".Tests", StringComparison.Ordinal) && f != "TestSupport"), Is.Empty, "only test assemblies see Core's internals");
    }

    [Test]
    public void The_log_a_store_hands_out_is_a_read_view_with_no_way_to_write()
    {
        var view = typeof(KvStore).GetProperty(nameof(KvStore.Log))!.PropertyType;
        Assert.That(view, Is.EqualTo(typeof(KvLogView)));
        var writing = new[] { "Append", "Rotate", "Fsync", "Put", "Delete", "Write", "Truncate", "Apply", "Compact" };
        var members = view.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static).Select(m => m.Name).Distinct().ToList();
        Assert.That(members.Where(m => writing.Any(w => m.StartsWith(w, StringComparison.Ordinal))), Is.Empty);
        Assert.That(
            members.Where(m => m.StartsWith("get_", StringComparison.Ordinal) || m.StartsWith("Scan", StringComparison.Ordinal) || m.StartsWith("Follow", StringComparison.Ordinal) || m is "ToString" or "Equals" or "GetHashCode" or "GetType"),
            Is.EquivalentTo(members),
            "state, scans and follow only");
    }

    [Test]
    public void The_view_reports_the_writer_state_and_reads_what_the_store_wrote()
    {
        using var dir = new TempDir();
        using var kv = KvStore.Open(dir.Path, new KvStoreOptions { Log = new RecordLogOptions { Durability = DurabilityMode.EveryAppend } });
        kv.Put(B("a"), B("1"));
        kv.Rotate();
        kv.Delete(B("a"));
        Assert.That(kv.Log.Directory, Is.EqualTo(kv.Directory));
        Assert.That(kv.Log.NextTxId, Is.EqualTo(3UL));
        Assert.That(kv.Log.ActiveSegment, Is.EqualTo(2u));
        Assert.That(kv.Log.Durability, Is.EqualTo(DurabilityMode.EveryAppend));
        Assert.That(kv.Log.FsyncCount, Is.GreaterThanOrEqualTo(2));
        Assert.That(kv.Log.IsPoisoned, Is.False);
        Assert.That(kv.Log.Scan().Select(r => (r.Type, r.TxId)), Is.EqualTo(new[] { (RecordType.Put, 1UL), (RecordType.Delete, 2UL) }));
        Assert.That(kv.Log.RecoveryReport, Is.EqualTo(kv.RecoveryReport));
    }

    [Test]
    public void The_kv_event_source_has_its_own_name_and_a_valid_manifest()
    {
        Assert.That(EventSource.GetName(typeof(KvEventSource)), Is.EqualTo(KvDiagnostics.EventSourceName));
        string? manifest = EventSource.GenerateManifest(typeof(KvEventSource), "DataWal.Kv.dll", EventManifestOptions.Strict);
        Assert.That(manifest, Is.Not.Null);
        foreach (var (name, id) in new[] { ("CompactionCompleted", 5), ("ExportCompleted", 6) })
        {
            Assert.That(manifest, Does.Contain($"value=\"{id}\"").And.Contain($"symbol=\"{name}\""), name);
        }

        Assert.That(KvEventSource.Log.ConstructionException, Is.Null);
    }
}
