namespace DataWal.Core;

/// <summary>Where one frame lives: segment id, byte offset of its header in the segment file, and total frame length.</summary>
/// <param name="Segment">The segment id (the number in <c>NNNNNNNN.dwal</c>).</param>
/// <param name="Offset">Offset of the frame's first header byte within the segment file.</param>
/// <param name="Length">Total frame length in bytes: 24 + key + payload + 4.</param>
public readonly record struct RecordRef(uint Segment, ulong Offset, uint Length);
