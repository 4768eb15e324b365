namespace DataWal.Core;

/// <summary>
/// Sees every valid frame during a writer open's recovery pass, so a projection (the KV keydir) is built in
/// the same single pass instead of reading the log twice.
/// </summary>
internal interface IFrameVisitor
{
    void Visit(LogScanner frame);
}
