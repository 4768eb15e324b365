using System.Diagnostics;
using Microsoft.Win32.SafeHandles;
using SafeAtomic;

namespace DataWal.Core;

/// <summary>
/// Sealing the active segment and starting the next one, under the writer's gate: fsync the old segment, find
/// the next free id, create the new segment, fsync the directory, then move the tail. Every failed step poisons
/// the writer with its own reason (upstream's texts) and leaves the tail where it was.
/// </summary>
internal static class SegmentRotation
{
    /// <summary>Rotates; the caller holds the gate and has checked the writer is open and not poisoned.</summary>
    /// <returns>The new active segment's id.</returns>
    /// <exception cref="DataWalException">A step failed; the writer is poisoned.</exception>
    public static uint Run(PriorityGate gate, LogTail tail, GroupCommit commit, WriterPoison poison)
    {
        Debug.Assert(gate.IsHeldByCurrentThread);
        string directory = tail.Directory;
        try
        {
            commit.SyncSealedSegment();
        }
        catch (SafeAtomicException e)
        {
            poison.Set(PoisonReason.RotateSync);
            throw ThrowHelper.FsyncSegmentFailed(tail.Path, e);
        }

        IReadOnlyList<uint> names;
        try
        {
            names = SegmentFiles.ListNames(directory);
        }
        catch (DataWalException)
        {
            // A rotation that cannot see the directory cannot know which id is free: stop, as for any failed step.
            poison.Set(PoisonReason.RotateList);
            throw;
        }

        uint nextId = SegmentFiles.NextId(names);
        if (nextId <= tail.Segment)
        {
            poison.SetAndThrow(PoisonReason.RotateNonIncreasing);
        }

        string nextPath = SegmentFiles.PathFor(directory, nextId);
        SafeFileHandle next;
        try
        {
            next = SegmentFiles.Create(directory, nextId);
        }
        catch (SafeAtomicException e)
        {
            poison.Set(PoisonReason.RotateCreate);
            throw ThrowHelper.CreateSegmentFailed(nextPath, e);
        }

        try
        {
            commit.SyncDirectoryForNewSegment();
        }
        catch (SafeAtomicException e)
        {
            next.Dispose();
            poison.Set(PoisonReason.RotateFsyncDirectory);
            throw ThrowHelper.FsyncLogDirectoryFailed(directory, e);
        }

        tail.Replace(next, nextId, nextPath);
        commit.Rotated(nextId);
        LogTelemetry.Rotated(directory, nextId);
        return nextId;
    }
}
