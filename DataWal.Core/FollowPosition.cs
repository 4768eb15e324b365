namespace DataWal.Core;

/// <summary>Where a live follow (<see cref="RecordLogReader.FollowAsync"/>) starts.</summary>
public enum FollowPositionKind
{
    /// <summary>The first record of the lowest segment present when the follow starts.</summary>
    Start,

    /// <summary>Only records appended after the follow starts (the end of the last valid frame at that moment).</summary>
    Now,

    /// <summary>The record right after a given record (resuming from a checkpoint of the last record processed).</summary>
    After,

    /// <summary>A given record itself, then everything after it.</summary>
    At,
}

/// <summary>
/// A starting point for following a log: <see cref="Start"/>, <see cref="Now"/>, or relative to a record
/// seen before (<see cref="After"/>, <see cref="At"/>), e.g. a checkpoint a consumer stored.
/// </summary>
public readonly record struct FollowPosition
{
    private FollowPosition(FollowPositionKind kind, RecordRef record)
    {
        Kind = kind;
        Record = record;
    }

    /// <summary>Which kind of position this is.</summary>
    public FollowPositionKind Kind { get; }

    /// <summary>The record the position refers to (meaningful for <see cref="FollowPositionKind.After"/> and <see cref="FollowPositionKind.At"/>).</summary>
    public RecordRef Record { get; }

    /// <summary>Every record in the log, from the first one.</summary>
    public static FollowPosition Start => new(FollowPositionKind.Start, default);

    /// <summary>Only records appended from now on.</summary>
    public static FollowPosition Now => new(FollowPositionKind.Now, default);

    /// <summary>Every record after <paramref name="record"/>, which must name a whole valid frame in the log.</summary>
    /// <param name="record">The last record already processed.</param>
    /// <returns>The position.</returns>
    public static FollowPosition After(RecordRef record) => new(FollowPositionKind.After, record);

    /// <summary><paramref name="record"/> itself (which must name a whole valid frame in the log), then every record after it.</summary>
    /// <param name="record">The first record to yield.</param>
    /// <returns>The position.</returns>
    public static FollowPosition At(RecordRef record) => new(FollowPositionKind.At, record);

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        FollowPositionKind.After or FollowPositionKind.At => $"{Kind} segment {Record.Segment} offset {Record.Offset} length {Record.Length}",
        _ => Kind.ToString(),
    };
}
