namespace SafeAtomic;

/// <summary>One entry of a directory listing: its name (no directory part) and what it is, links not followed.</summary>
/// <param name="Name">The entry's name.</param>
/// <param name="Kind">What the entry is.</param>
public readonly record struct DirectoryEntry(string Name, FileKind Kind);
