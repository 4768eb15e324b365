using System.Text;

namespace DataWal.Cli;

/// <summary>
/// Which file system a path lives on, from the Linux mount table (<c>/proc/mounts</c>), and what that means for
/// rename atomicity and durability: the part of <c>datawal doctor</c> that knows about mounts.
/// </summary>
internal static class MountTable
{
    /// <summary>
    /// The mount point and file-system type of the /proc/mounts line (<paramref name="mountLines"/>) whose
    /// mount point is the longest prefix of <paramref name="realPath"/>; nulls when none covers it.
    /// </summary>
    internal static (string? MountPoint, string? FileSystemType) FindMount(IEnumerable<string> mountLines, string realPath)
    {
        int best = -1;
        (string? MountPoint, string? FileSystemType) found = (null, null);
        foreach (var line in mountLines)
        {
            var parts = line.Split(' ');
            if (parts.Length < 3)
            {
                continue;
            }

            string mountPoint = Unescape(parts[1]);
            bool covers = mountPoint == "/" || realPath == mountPoint || realPath.StartsWith(mountPoint.TrimEnd('/') + "/", StringComparison.Ordinal);
            if (covers && mountPoint.Length >= best)
            {
                // Later entries mount over earlier ones at the same point: >= keeps the last.
                best = mountPoint.Length;
                found = (mountPoint, parts[2]);
            }
        }

        return found;
    }

    /// <summary>
    /// memory, network, possibly-network (FUSE and host shares, whose semantics are their daemon's), local,
    /// or unknown, from a /proc/mounts file-system type.
    /// </summary>
    internal static string ClassifyFileSystem(string fileSystemType) => fileSystemType switch
    {
        "unknown" or "" => "unknown",
        "tmpfs" or "ramfs" => "memory",
        "nfs" or "nfs4" or "cifs" or "smb3" or "smbfs" or "smb2" or "9p" or "ceph" or "afs" or "glusterfs" or "lustre"
            or "gpfs" or "beegfs" or "orangefs" or "pvfs2" or "ncpfs" or "coda" or "davfs" => "network",
        "fuse.sshfs" or "fuse.glusterfs" or "fuse.ceph-fuse" or "fuse.s3fs" or "fuse.rclone" or "fuse.gcsfuse"
            or "fuse.davfs" or "fuse.juicefs" or "fuse.moosefs" or "fuse.lizardfs" or "fuse.goofys" => "network",
        "fuseblk" or "fuse.fuse-overlayfs" or "fuse.lxcfs" => "local",
        "fuse" or "virtiofs" or "vboxsf" or "fuse.vmhgfs-fuse" => "possibly-network",
        _ when fileSystemType.StartsWith("fuse.", StringComparison.Ordinal) => "possibly-network",
        _ => "local",
    };

    /// <summary>Resolves symbolic links component by component (like realpath(3)), best effort.</summary>
    internal static string RealPath(string path)
    {
        string current = Path.GetPathRoot(path) ?? "/";
        foreach (var part in path[current.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string next = Path.Combine(current, part);
            try
            {
                var info = new DirectoryInfo(next);
                if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                {
                    next = Path.GetFullPath(target.FullName);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }

            current = next;
        }

        return current;
    }

    /// <summary>/proc/mounts escapes space, tab, newline and backslash as \ooo octal.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var text = new StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                text.Append((char)(((field[i + 1] - '0') * 64) + ((field[i + 2] - '0') * 8) + (field[i + 3] - '0')));
                i += 3;
            }
            else
            {
                text.Append(field[i]);
            }
        }

        return text.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
