namespace DataWal.Cli;

/// <summary>
/// One message from a chain of them. The libraries' messages start with their own <c>datawal: </c> (upstream's
/// wording), and a command that adds its context (<c>export jsonl to OUT: </c>) would otherwise print
/// <c>datawal: error: export jsonl to OUT: datawal: export jsonl to /abs/OUT: ...</c>.
/// </summary>
internal static class ErrorText
{
    private const string LibraryPrefix = "datawal: ";

    /// <summary><paramref name="message"/> without the library's leading <c>datawal: </c>.</summary>
    public static string Bare(string message) =>
        message.StartsWith(LibraryPrefix, StringComparison.Ordinal) ? message[LibraryPrefix.Length..] : message;

    // Core's operations whose message names the directory a command was given, right after the operation.
    private static readonly string[] InnerOperations = ["create log directory"];

    /// <summary>
    /// <c>OPERATION PATH: INNER</c>, said once: the inner message loses its <c>datawal: </c>; when it already starts
    /// with the same operation (e.g. <c>export jsonl to</c>) it is used as is, since it names the same path (made
    /// absolute); and when it is one of Core's operations on <paramref name="path"/> (<c>create log directory PATH: </c>)
    /// the repeated path is dropped, the context having named it first.
    /// </summary>
    public static string Join(string operation, string path, string inner)
    {
        string bare = Bare(inner);
        if (bare.StartsWith(operation + " ", StringComparison.Ordinal))
        {
            return bare;
        }

        foreach (string op in InnerOperations)
        {
            foreach (string named in new[] { path, Path.GetFullPath(path) })
            {
                string repeated = $"{op} {named}: ";
                if (bare.StartsWith(repeated, StringComparison.Ordinal))
                {
                    return $"{operation} {path}: {op}: {bare[repeated.Length..]}";
                }
            }
        }

        return $"{operation} {path}: {bare}";
    }
}
