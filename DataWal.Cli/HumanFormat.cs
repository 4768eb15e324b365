using System.Globalization;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary>Upstream's human line formats for records and frames.</summary>
internal static class HumanFormat
{
    /// <summary><c>RAW</c>, <c>PUT</c>, <c>DEL</c>.</summary>
    public static string ShortType(RecordType type) => type switch
    {
        RecordType.Raw => "RAW",
        RecordType.Put => "PUT",
        RecordType.Delete => "DEL",
        _ => type.ToString().ToUpperInvariant(),
    };

    /// <summary><c>seg=%08d off=%10d len=%8d type=%-3s txid=%10d</c>.</summary>
    public static string Prefix(Record r) => string.Create(
        CultureInfo.InvariantCulture,
        $"seg={r.Segment:D8} off={r.Offset,10} len={r.Length,8} type={ShortType(r.Type),-3} txid={r.TxId,10}");

    /// <summary>A <c>scan</c> line.</summary>
    public static string ScanLine(Record r, BytesMode mode, int? truncate) =>
        $"{Prefix(r)} key={BytesRender.Render(r.Key.Span, mode, truncate)} payload={BytesRender.Render(r.Payload.Span, mode, truncate)}";

    /// <summary>A <c>dump</c> line: header fields only, never payload bytes.</summary>
    public static string DumpLine(Record r, BytesMode mode, int? truncate) => string.Create(
        CultureInfo.InvariantCulture,
        $"{Prefix(r)} key={BytesRender.Render(r.Key.Span, mode, truncate)} key_len={r.Key.Length} payload_len={r.Payload.Length}");
}
