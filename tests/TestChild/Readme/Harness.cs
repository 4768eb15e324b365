using System.Globalization;
using DataWal.Core;

namespace TestChild.Readme;

/// <summary>
/// What README.md's snippets take from the reader's own program (rows to write, a checkpoint store, a
/// stopping token), so that each snippet compiles as printed and does real work when run.
/// </summary>
internal static class Harness
{
    private const string CheckpointFile = "follow.checkpoint";

    // The follow snippet runs until its token is cancelled, as a hosted service would: the token fires once the
    // follower has been idle for a while, i.e. it has caught up with everything the earlier snippets wrote.
    private static readonly CancellationTokenSource Stopping = new(TimeSpan.FromSeconds(10));

    /// <summary>Records the follow snippet handled in this run.</summary>
    public static int Handled { get; private set; }

    public static IEnumerable<byte[]> rows => [[.. "id,name\n"u8], [.. "1,alice\n"u8]];

    public static CancellationToken stoppingToken => Stopping.Token;

    public static RecordRef? LoadCheckpoint()
    {
        if (!File.Exists(CheckpointFile))
        {
            return null;
        }

        string[] parts = File.ReadAllText(CheckpointFile).Split(' ');
        return new RecordRef(
            uint.Parse(parts[0], CultureInfo.InvariantCulture),
            ulong.Parse(parts[1], CultureInfo.InvariantCulture),
            uint.Parse(parts[2], CultureInfo.InvariantCulture));
    }

    public static void Handle(ReadOnlyMemory<byte> payload)
    {
        _ = payload;
        Handled++;
        Stopping.CancelAfter(TimeSpan.FromMilliseconds(500));
    }

    public static void SaveCheckpoint(RecordRef at) =>
        File.WriteAllText(CheckpointFile, string.Create(CultureInfo.InvariantCulture, $"{at.Segment} {at.Offset} {at.Length}"));
}
