namespace SafeAtomic;

/// <summary>
/// Which file a handle or path names: the device and inode number (on Windows, the volume serial number
/// and file index). Two identities that are both <see cref="IsKnown"/> and differ name different files, so
/// a path whose identity changed was replaced (renamed over) since it was last opened.
/// </summary>
/// <remarks>
/// Where the platform cannot tell (the Windows seam), the identity is <see cref="Unknown"/>: it equals
/// every other unknown identity, so a caller that compares must check <see cref="IsKnown"/> first, and an
/// unknown identity disables a "replaced" check rather than reporting one.
/// </remarks>
/// <param name="Device">The device (st_dev) or volume serial number.</param>
/// <param name="Inode">The inode number (st_ino) or file index.</param>
public readonly record struct FileIdentity(ulong Device, ulong Inode)
{
    /// <summary>The identity of a file the platform cannot identify (no inode numbers).</summary>
    public static FileIdentity Unknown => default;

    /// <summary>True when the platform identified the file (no real file has inode 0 and device 0).</summary>
    public bool IsKnown => Device != 0 || Inode != 0;

    /// <summary>True when both identities are known and name different files.</summary>
    /// <param name="other">The identity to compare with.</param>
    /// <returns>Whether the two name different files for certain.</returns>
    public bool DiffersFrom(FileIdentity other) => IsKnown && other.IsKnown && this != other;
}
