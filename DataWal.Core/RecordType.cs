namespace DataWal.Core;

/// <summary>The kind of a frame (wire byte 6).</summary>
public enum RecordType : byte
{
    /// <summary>An opaque payload, written by <see cref="RecordLog.Append"/> with an empty key; invisible to the KV view.</summary>
    Raw = 0,

    /// <summary>A key and its new value (last write wins).</summary>
    Put = 1,

    /// <summary>A tombstone: the key with an empty payload.</summary>
    Delete = 2,
}
