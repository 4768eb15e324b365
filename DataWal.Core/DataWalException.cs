namespace DataWal.Core;

/// <summary>Root of every error DataWal raises.</summary>
public class DataWalException : IOException
{
    /// <summary>Creates the exception.</summary>
    public DataWalException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>What kind of damage a <see cref="CorruptRecordException"/> reports.</summary>
public enum CorruptionKind
{
    /// <summary>A frame ends before its declared length (a torn write).</summary>
    Truncated,

    /// <summary>A structurally valid frame whose CRC-32C does not match.</summary>
    CrcMismatch,

    /// <summary>Bad magic, unknown version or record type, reserved flags set, or an oversize length.</summary>
    Structural,
}

/// <summary>
/// Damage the log cannot tolerate: a torn or CRC-bad frame in a sealed (non-last) segment, or structural
/// damage anywhere. Names the segment and offset of the first bad frame.
/// </summary>
public sealed class CorruptRecordException : DataWalException
{
    /// <summary>Creates the exception.</summary>
    public CorruptRecordException(string message, uint segment, ulong offset, CorruptionKind kind, Exception? inner = null)
        : base(message, inner)
    {
        Segment = segment;
        Offset = offset;
        Kind = kind;
    }

    /// <summary>The segment id holding the damage.</summary>
    public uint Segment { get; }

    /// <summary>The byte offset of the damaged frame within the segment.</summary>
    public ulong Offset { get; }

    /// <summary>The kind of damage.</summary>
    public CorruptionKind Kind { get; }

    /// <summary>
    /// The way out, for people: <c>open it read-only with ReadMode.Salvage or run 'datawal salvage' to copy what is
    /// intact</c> (docs/design.md D16). Kept out of <see cref="Exception.Message"/>, whose text upstream pins.
    /// </summary>
    public string Hint { get; } = SalvageHint;

    internal const string SalvageHint = "open it read-only with ReadMode.Salvage or run 'datawal salvage' to copy what is intact";
}

/// <summary>
/// A store directory that has to exist does not: a reader, a read-only KV open or a follower never creates one.
/// </summary>
public sealed class StoreNotFoundException : DataWalException
{
    /// <summary>Creates the exception.</summary>
    public StoreNotFoundException(string message, string directory, Exception? inner = null)
        : base(message, inner)
    {
        Directory = directory;
    }

    /// <summary>The full path of the missing directory.</summary>
    public string Directory { get; }
}

/// <summary>Another handle (in this or another process) holds the store's writer lock.</summary>
public sealed class StoreLockedException : DataWalException
{
    /// <summary>Creates the exception.</summary>
    public StoreLockedException(string message, string lockPath, Exception? inner = null)
        : base(message, inner)
    {
        LockPath = lockPath;
    }

    /// <summary>The <c>.lock</c> file that is held.</summary>
    public string LockPath { get; }

    /// <summary>
    /// The holder's process id: this process's when <see cref="HeldByThisProcess"/>, otherwise the pid recorded
    /// in <c>.lock</c> (diagnostic; null when none is recorded).
    /// </summary>
    public int? HolderProcessId { get; init; }

    /// <summary>True when another handle in this process holds the lock (dispose it before opening again).</summary>
    public bool HeldByThisProcess { get; init; }
}

/// <summary>
/// A write, fsync or rotate step failed earlier on this handle, so it refuses further writes: what is on
/// disk past the last acknowledged frame is unknown. Reads keep working; dispose and reopen to recover.
/// </summary>
public sealed class WriterPoisonedException : DataWalException
{
    /// <summary>Creates the exception.</summary>
    public WriterPoisonedException(string reason)
        : base($"datawal: writer poisoned: {reason}; drop handle and reopen")
    {
        Reason = reason;
    }

    /// <summary>Which step failed (diagnostic).</summary>
    public string Reason { get; }
}

/// <summary>A key or payload exceeds the wire format's limits; nothing was written and no txid consumed.</summary>
public sealed class RecordTooLargeException : DataWalException
{
    /// <summary>Creates the exception.</summary>
    public RecordTooLargeException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// A frame header that no valid writer produces: bad magic, unknown version or record type, reserved flags
/// set, or a length over the limits. The message is upstream's decode error text.
/// </summary>
public sealed class InvalidFrameException : DataWalException
{
    /// <summary>Creates the exception.</summary>
    public InvalidFrameException(string message)
        : base(message)
    {
    }
}
