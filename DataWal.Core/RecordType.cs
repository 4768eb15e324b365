namespace DataWal.Core;

/// <summary>The kind of a frame (wire byte 6).</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1028:Enum Storage should be Int32",
    Justification = "The wire format stores the type in one byte (docs/design.md D4); the public API names it that way.")]
public enum RecordType : byte
{
    /// <summary>An opaque payload, written by <see cref="RecordLog.Append"/> with an empty key; invisible to the KV view.</summary>
    Raw = 0,

    /// <summary>A key and its new value (last write wins).</summary>
    Put = 1,

    /// <summary>A tombstone: the key with an empty payload.</summary>
    Delete = 2,
}
