namespace DataWal.Core;

/// <summary>
/// The resume rule shared by scans, replay and follow, for segments that retention deletes or an online
/// compaction replaces (docs/design.md D15) while a reader reads: when a segment the reader expected is
/// gone, or the path of its segment names another file, it re-lists and continues from the lowest segment
/// that exists, skipping every frame whose txid is not above the last one it returned.
/// </summary>
/// <remarks>
/// Why the lowest and not the next: deletions run in ascending id order after the image was renamed over
/// the lowest segment L of the compacted range, so once any segment of the range is gone, L already holds
/// the image, with the live records of the whole range under their original txids. Retention leaves the
/// lowest above the reader, so it simply continues there. Along (id, offset) txids strictly increase, so the
/// filter yields nothing twice. It only starts at the first resume: txids are not validated on read, and a
/// log that never lost a segment is read exactly as written.
/// </remarks>
internal sealed class SegmentResume(string directory)
{
    /// <summary>How many times one pass may re-list before giving up on a directory whose segments keep vanishing.</summary>
    internal const int MaxResumes = 64;

    private int _resumes;
    private ulong _lastTxId;
    private bool _returnedAny;
    private bool _filtering;

    /// <summary>True once a resume happened: from then on frames at or below the last returned txid are skipped.</summary>
    public bool Filtering => _filtering;

    /// <summary>Whether a frame with <paramref name="txId"/> was already returned (or superseded) before a resume.</summary>
    public bool Skips(ulong txId) => _filtering && _returnedAny && txId <= _lastTxId;

    /// <summary>A frame was handed to the caller.</summary>
    public void Returned(ulong txId)
    {
        _lastTxId = txId;
        _returnedAny = true;
    }

    /// <summary>For a follower: the pass made progress, so the bound on resumes starts again.</summary>
    public void Progressed() => _resumes = 0;

    /// <summary>
    /// Applies the rule: re-lists and returns the existing segment ids up to <paramref name="upTo"/>, from the
    /// lowest; from now on frames at or below the last returned txid are skipped.
    /// </summary>
    /// <exception cref="DataWalException">Segments vanished <see cref="MaxResumes"/> times in one pass.</exception>
    public List<uint> Resume(uint upTo)
    {
        if (++_resumes > MaxResumes)
        {
            ThrowHelper.ThrowSegmentsKeepVanishing(directory, MaxResumes);
        }

        _filtering = true;
        var ids = new List<uint>();
        foreach (uint id in SegmentFiles.List(directory))
        {
            if (id <= upTo)
            {
                ids.Add(id);
            }
        }

        return ids;
    }
}
