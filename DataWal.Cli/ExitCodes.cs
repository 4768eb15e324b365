namespace DataWal.Cli;

/// <summary>
/// The process exit codes of <c>datawal</c> (upstream's documented contract, docs/design.md D12).
/// </summary>
internal static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>
    /// Usage or environment error: bad arguments, missing store, I/O error, refused overwrite.
    /// </summary>
    public const int Error = 1;

    /// <summary>
    /// Recoverable state: a damaged tail on the last segment (<c>scan</c>, <c>report</c>, <c>verify</c>,
    /// <c>check</c>), or a <c>get</c> miss.
    /// </summary>
    public const int Recoverable = 2;

    /// <summary>
    /// Corruption: damage in a sealed segment or structural damage anywhere (a frame no valid writer makes).
    /// </summary>
    public const int Corrupt = 3;
}
