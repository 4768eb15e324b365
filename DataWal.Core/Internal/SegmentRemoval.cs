using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// Deletes sealed segments for retention and compaction, in ascending id order, then fsyncs the directory once.
/// Ascending order is what makes every crash state safe (docs/design.md D15): whatever prefix of the deletions
/// reached the disk, the segments left are an upper range of the original ones (retention), or the compaction
/// image followed by an upper range of the segments it replaced, which last-write-wins reads the same.
/// </summary>
internal static class SegmentRemoval
{
    /// <summary>Deletes <paramref name="ids"/> (ascending) and fsyncs the directory.</summary>
    /// <returns>The ids that were deleted (one already gone is skipped).</returns>
    /// <exception cref="DataWalException">A deletion or the directory fsync failed; what was deleted before it stays deleted.</exception>
    public static IReadOnlyList<uint> DeleteAscending(string directory, IReadOnlyList<uint> ids)
    {
        var deleted = new List<uint>(ids.Count);
        foreach (uint id in ids)
        {
            string path = SegmentFiles.PathFor(directory, id);
            try
            {
                if (FileSync.Delete(path))
                {
                    deleted.Add(id);
                }
            }
            catch (SafeAtomicException e)
            {
                throw ThrowHelper.DeleteSegmentFailed(path, deleted.Count, e);
            }
        }

        if (deleted.Count > 0)
        {
            try
            {
                FileSync.FsyncDirectory(directory);
            }
            catch (SafeAtomicException e)
            {
                throw ThrowHelper.FsyncLogDirectoryFailed(directory, e);
            }
        }

        return deleted;
    }
}
