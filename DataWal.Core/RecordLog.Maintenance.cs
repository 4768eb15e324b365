using SafeAtomic;

namespace DataWal.Core;

// Retention and the start of a compaction: the two operations that remove sealed segments. They run beside
// appends (the gate is taken only to read or move the tail) and one at a time (_maintenance); see
// docs/design.md D15.
public sealed partial class RecordLog
{
    private readonly SemaphoreSlim _maintenance = new(1, 1);

    /// <summary>
    /// Retention: deletes every whole sealed segment whose id is below <paramref name="segment"/>, in ascending id
    /// order, then fsyncs the directory. The active segment is never deleted, nor — while the active segment is
    /// still empty — the sealed segment holding the newest record, so that txids always continue above the
    /// highest one ever written (docs/design.md D18), also after a reopen. When it does delete the newest sealed
    /// record (the active segment holds records), it fsyncs the log first, so that a power loss cannot take the
    /// active segment's records and leave no record at all.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Pass a record's <see cref="RecordRef.Segment"/> to keep that record and everything after it
    /// (FasterLog's <c>TruncateUntil</c>). A crash part-way leaves a lower prefix of those segments deleted: the
    /// log opens as if retention had stopped there. Readers and followers inside a deleted segment finish it
    /// from their open handle; a follower asked to start in deleted history gets a
    /// <see cref="DataWalException"/> saying so. Appends continue meanwhile; retention and
    /// <see cref="BeginCompaction"/> run one at a time.
    /// </para>
    /// <para>
    /// Do not use it on a key/value store's log: deleting a segment forgets the keys whose latest write is in
    /// it. The KV store reclaims space with its own compaction instead.
    /// </para>
    /// </remarks>
    /// <param name="segment">Segments with a lower id are deleted.</param>
    /// <returns>The ids deleted, ascending (empty when there was nothing to delete).</returns>
    /// <exception cref="WriterPoisonedException">An earlier write step failed on this handle.</exception>
    /// <exception cref="DataWalException">A deletion or the directory fsync failed; the segments deleted before it stay deleted.</exception>
    public IReadOnlyList<uint> DeleteSegmentsBefore(uint segment)
    {
        _maintenance.Wait();
        try
        {
            uint active;
            bool activeEmpty;
            using (_gate.EnterPriority())
            {
                ThrowIfUnwritable();
                active = _tail.Segment;
                activeEmpty = _tail.Size == 0;
            }

            var doomed = new List<uint>();
            var sealedIds = new List<uint>();
            foreach (uint id in SegmentFiles.List(Directory))
            {
                if (id < active)
                {
                    sealedIds.Add(id);
                    if (id < segment)
                    {
                        doomed.Add(id);
                    }
                }
            }

            if (NewestNonEmpty(sealedIds) is uint newest && doomed.Contains(newest))
            {
                if (activeEmpty)
                {
                    doomed.Remove(newest);
                }
                else
                {
                    // The newest sealed record goes: the active segment's records must be on disk first, or a power
                    // loss that drops them (unsynced) would leave no record at all and txids would restart at 1.
                    Fsync();
                }
            }

            var deleted = SegmentRemoval.DeleteAscending(Directory, doomed);
            if (deleted.Count > 0)
            {
                _signal.Notify();
            }

            return deleted;
        }
        finally
        {
            _maintenance.Release();
        }
    }

    /// <summary>
    /// Starts replacing the sealed segments with an image of the frames the caller keeps (docs/design.md D15):
    /// seals the active segment first when it holds any record (a rotation), so everything written before the
    /// call is in the range <see cref="SegmentCompaction.FirstSegment"/>..<see cref="SegmentCompaction.LastSegment"/>.
    /// Appends go on meanwhile, into newer segments. Until the returned compaction is committed or disposed,
    /// <see cref="DeleteSegmentsBefore"/> and other compactions wait.
    /// </summary>
    /// <remarks>
    /// This is the mechanism; which frames to keep is the caller's policy. <c>KvStore.Compact</c> keeps each key's
    /// latest Put, which leaves every crash state with the same last-write-wins view. A log that is not read
    /// that way should use <see cref="DeleteSegmentsBefore"/> instead.
    /// </remarks>
    /// <returns>The compaction, or null when there is no sealed segment to compact.</returns>
    /// <exception cref="WriterPoisonedException">An earlier write step failed on this handle.</exception>
    /// <exception cref="DataWalException">The rotation failed (the handle is poisoned) or the directory could not be listed.</exception>
    public SegmentCompaction? BeginCompaction()
    {
        _maintenance.Wait();
        try
        {
            uint active;
            ulong lastTxId;
            using (_gate.EnterPriority())
            {
                ThrowIfUnwritable();
                if (_tail.Size > 0)
                {
                    SegmentRotation.Run(_gate, _tail, _commit, _poison);
                }

                active = _tail.Segment;
                lastTxId = _tail.NextTxId == 0 ? ulong.MaxValue : _tail.NextTxId - 1;
            }

            _signal.Notify();
            var sealedIds = new List<uint>();
            foreach (uint id in SegmentFiles.List(Directory))
            {
                if (id < active)
                {
                    sealedIds.Add(id);
                }
            }

            if (sealedIds.Count == 0)
            {
                _maintenance.Release();
                return null;
            }

            return new SegmentCompaction(Directory, sealedIds, lastTxId, _signal, _maintenance);
        }
        catch
        {
            _maintenance.Release();
            throw;
        }
    }

    /// <summary>The highest of <paramref name="ids"/> whose segment holds anything: while the active segment is empty, the newest record is there.</summary>
    private uint? NewestNonEmpty(List<uint> ids)
    {
        for (int i = ids.Count - 1; i >= 0; i--)
        {
            if (SegmentFiles.Length(Directory, ids[i]) > 0)
            {
                return ids[i];
            }
        }

        return null;
    }
}
