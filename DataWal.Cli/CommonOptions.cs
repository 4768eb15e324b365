using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace DataWal.Cli;

/// <summary>Options and arguments shared by several commands (a fresh instance per command).</summary>
internal static class CommonOptions
{
    public static Argument<string> Store() => new("store")
    {
        Description = "The store directory. It must exist; inspection never creates, locks or changes anything in it.",
    };

    public static Option<string> Bytes()
    {
        var option = new Option<string>("--bytes")
        {
            Description = "How keys and payloads are shown in human output: auto (text when printable, else b64:), raw (the same: control bytes are never printed), base64 (or b64), hex. No effect with --json.",
            HelpName = "auto|raw|base64|hex",
            DefaultValueFactory = _ => "auto",
        };
        option.Validators.Add(result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "auto";
            if (!BytesRender.TryParseMode(text, out _))
            {
                result.AddError($"invalid value '{text}' for '--bytes <BYTES>': expected one of auto, raw, base64 (or b64), hex");
            }
        });
        return option;
    }

    /// <summary>The parsed <c>--bytes</c> value (validated at parse time).</summary>
    public static BytesMode Mode(string? text) => BytesRender.TryParseMode(text ?? "auto", out var mode) ? mode : BytesMode.Auto;

    public static Option<bool> NoTruncate() => new("--no-truncate")
    {
        Description = $"Show keys and payloads in full (default: the first {BytesRender.DefaultTruncateBytes} bytes, then ...).",
        Arity = ArgumentArity.Zero,
    };

    public static Option<ulong?> Limit(string what) => new("--limit")
    {
        Description = $"Stop after this many {what} (the whole store is still checked for the exit code).",
        HelpName = "N",
        CustomParser = result => Number<ulong>(result, "--limit <N>"),
    };

    /// <summary>Parses a non-negative integer option value with a readable error.</summary>
    /// <remarks>
    /// The bound in the message comes from <see cref="IMinMaxValue{T}.MaxValue"/>, not from reflecting over
    /// <typeparamref name="T"/>'s <c>MaxValue</c> field, which trimming or NativeAOT may strip.
    /// </remarks>
    public static T? Number<T>(ArgumentResult result, string label)
        where T : struct, IParsable<T>, IMinMaxValue<T>
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (T.TryParse(text, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        result.AddError(string.Create(CultureInfo.InvariantCulture, $"invalid value '{text}' for '{label}': expected a non-negative integer no larger than {T.MaxValue}"));
        return null;
    }

    public static int? Truncation(bool noTruncate) => noTruncate ? null : BytesRender.DefaultTruncateBytes;
}
