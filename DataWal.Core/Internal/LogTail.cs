using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace DataWal.Core;

/// <summary>
/// Where a writer's log ends: the active segment (handle, id, path, size) and the next txid. Shared by
/// <see cref="RecordLog"/> (which moves it) and <see cref="GroupCommit"/> (which flushes up to it); every member
/// is read and written under the log's <see cref="PriorityGate"/>, which the accessors assert.
/// </summary>
internal sealed class LogTail
{
    private readonly PriorityGate _gate;
    private SafeFileHandle _handle;
    private uint _segment;
    private string _path;
    private long _size;
    private ulong _nextTxId;
    private bool _closed;

    public LogTail(PriorityGate gate, string directory, SafeFileHandle handle, uint segment, long size, ulong lastTxId)
    {
        _gate = gate;
        Directory = directory;
        _handle = handle;
        _segment = segment;
        _path = SegmentFiles.PathFor(directory, segment);
        _size = size;
        // Wraps to 0 after ulong.MaxValue: 0 is never assigned, so it means "no txid left" (appends are refused,
        // docs/design.md "txids never wrap") while NextTxId - 1 still names the last txid for durability targets.
        _nextTxId = unchecked(lastTxId + 1);
    }

    /// <summary>The log directory.</summary>
    public string Directory { get; }

    /// <summary>The active segment's handle (opened read-write).</summary>
    public SafeFileHandle Handle
    {
        get
        {
            AssertGate();
            return _handle;
        }
    }

    /// <summary>The active segment's id.</summary>
    public uint Segment
    {
        get
        {
            AssertGate();
            return _segment;
        }
    }

    /// <summary>The active segment's path.</summary>
    public string Path
    {
        get
        {
            AssertGate();
            return _path;
        }
    }

    /// <summary>Bytes written to the active segment (its logical end).</summary>
    public long Size
    {
        get
        {
            AssertGate();
            return _size;
        }
    }

    /// <summary>The txid the next append gets; 0 when none is left.</summary>
    public ulong NextTxId
    {
        get
        {
            AssertGate();
            return _nextTxId;
        }
    }

    /// <summary>The last txid written (or recovered); <see cref="ulong.MaxValue"/> once none is left.</summary>
    public ulong LastTxId => NextTxId - 1;

    /// <summary>
    /// <see cref="LastTxId"/> read without the gate (an aligned 64-bit read is atomic): only a hint, for the group
    /// commit leader that waits outside the gate for more appends to join its flush.
    /// </summary>
    public ulong LastTxIdHint => Volatile.Read(ref _nextTxId) - 1;

    /// <summary>True once the log is closed: the handle is gone.</summary>
    public bool Closed
    {
        get
        {
            AssertGate();
            return _closed;
        }
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> (for <see cref="RecordLog"/>) once the log is closed.</summary>
    public void ThrowIfClosed() => ObjectDisposedException.ThrowIf(Closed, typeof(RecordLog));

    /// <summary>Records that <paramref name="bytes"/> bytes ending with txid <paramref name="lastTxId"/> were written.</summary>
    public void Advance(long bytes, ulong lastTxId)
    {
        AssertGate();
        _size += bytes;
        _nextTxId = unchecked(lastTxId + 1);
    }

    /// <summary>Makes <paramref name="next"/> (a new, empty segment) the active one and closes the old handle.</summary>
    public void Replace(SafeFileHandle next, uint segment, string path)
    {
        AssertGate();
        _handle.Dispose();
        _handle = next;
        _segment = segment;
        _path = path;
        _size = 0;
    }

    /// <summary>Closes the active segment's handle for good.</summary>
    public void Close()
    {
        AssertGate();
        _closed = true;
        _handle.Dispose();
    }

    [Conditional("DEBUG")]
    private void AssertGate() => Debug.Assert(_gate.IsHeldByCurrentThread, "the log tail is guarded by the log's gate");
}
