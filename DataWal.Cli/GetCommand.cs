using System.CommandLine;
using System.Text;
using DataWal.Core;

namespace DataWal.Cli;

/// <summary>
/// <c>get STORE --key K</c>: one value by key (exactly one of <c>--key</c>, <c>--key-base64</c>,
/// <c>--key-hex</c>). Exit 0 on a hit, 2 on a miss.
/// </summary>
internal static class GetCommand
{
    public static Command Create(App app)
    {
        var store = CommonOptions.Store();
        var key = new Option<string>("--key") { Description = "The key as text (its UTF-8 bytes).", HelpName = "KEY" };
        var keyBase64 = new Option<string>("--key-base64") { Description = "The key as standard, padded base64.", HelpName = "KEY_BASE64" };
        var keyHex = new Option<string>("--key-hex") { Description = "The key as hex (even length, any case, no 0x).", HelpName = "KEY_HEX" };
        var bytes = CommonOptions.Bytes();
        var noTruncate = CommonOptions.NoTruncate();
        var salvage = Salvage.Option();
        var command = new Command("get", "Print the value of one key (read-only). Exit 2 when the key is not live.")
        {
            store, key, keyBase64, keyHex, bytes, noTruncate, salvage,
        };
        Option<string>[] keyOptions = [key, keyBase64, keyHex];
        command.Validators.Add(result =>
        {
            var given = keyOptions.Where(o => result.GetResult(o) is not null).ToList();
            if (given.Count > 1)
            {
                result.AddError($"the argument '{given[0].Name} <{given[0].HelpName}>' cannot be used with '{given[1].Name} <{given[1].HelpName}>'");
            }
        });
        app.Bind(
            command,
            (parse, context) =>
            {
                byte[] k = DecodeKey(parse.GetValue(key), parse.GetValue(keyBase64), parse.GetValue(keyHex));
                return Run(
                    context,
                    parse.GetValue(store)!,
                    k,
                    CommonOptions.Mode(parse.GetValue(bytes)),
                    CommonOptions.Truncation(parse.GetValue(noTruncate)),
                    Salvage.Mode(parse.GetValue(salvage)));
            },
            "datawal get ./store --key user:1",
            "datawal get ./store --key user:1 --salvage",
            "datawal get ./store --key-hex deadbeef --bytes hex",
            "datawal --json get ./store --key-base64 dXNlcjox");
        return command;
    }

    public static int Run(CliContext context, string store, byte[] key, BytesMode mode, int? truncate, ReadMode readMode = ReadMode.Strict)
    {
        var reader = Open(store, () => Store.OpenReader(context, store, readMode));
        var latest = new LatestValue(key);
        var report = Open(store, () => reader.Replay(latest));
        int code = Print(context, key, latest.Value, mode, truncate);
        return Salvage.Finish(context, "get", report.SkippedRanges, code);
    }

    /// <summary>Runs <paramref name="open"/>; corruption becomes exit 3 with the salvage hint.</summary>
    private static T Open<T>(string store, Func<T> open)
    {
        try
        {
            return open();
        }
        catch (CorruptRecordException e)
        {
            throw new CliException(e.Message, ExitCodes.Corrupt, e, Salvage.ReadHint(store, e));
        }
    }

    private static int Print(CliContext context, byte[] key, byte[]? value, BytesMode mode, int? truncate)
    {
        if (value is null)
        {
            if (context.Json)
            {
                context.Line(JsonLines.Miss(key));
            }
            else
            {
                context.ErrorLine("datawal: get: key not found");
            }

            return ExitCodes.Recoverable;
        }

        if (context.Json)
        {
            context.Line(JsonLines.Value(key, value));
            return ExitCodes.Ok;
        }

        var rendering = BytesRender.RenderGetValue(value, mode, truncate);
        if (rendering.Hint is { } hint)
        {
            context.ErrorLine(hint);
        }
        else
        {
            context.Line(rendering.Text!);
        }

        return ExitCodes.Ok;
    }

    /// <summary>
    /// One streaming pass's memory of one key (<c>get</c> builds no key directory: constant memory at any size): every
    /// frame the pass hands over is already CRC-checked, so a Put of the key copies its payload (memory: one value)
    /// and a Delete forgets it; Raw frames and other keys are skipped. Last write wins, as in the key directory.
    /// </summary>
    private sealed class LatestValue(byte[] key) : IFrameVisitor
    {
        /// <summary>The key's latest value, or null when it is not live.</summary>
        public byte[]? Value { get; private set; }

        public void Visit(LogFrame frame)
        {
            if (frame.Type == RecordType.Raw || !frame.Key.SequenceEqual(key))
            {
                return;
            }

            Value = frame.Type == RecordType.Put ? frame.Payload.ToArray() : null;
        }
    }

    /// <summary>Decodes the one key option given (before the store is opened, as upstream).</summary>
    public static byte[] DecodeKey(string? text, string? base64, string? hex)
    {
        int given = (text is null ? 0 : 1) + (base64 is null ? 0 : 1) + (hex is null ? 0 : 1);
        if (given != 1)
        {
            throw new CliException("pass exactly one of --key, --key-base64, or --key-hex");
        }

        if (text is not null)
        {
            return Encoding.UTF8.GetBytes(text);
        }

        if (base64 is not null)
        {
            return DecodeBase64(base64);
        }

        return DecodeHex(hex!);
    }

    /// <summary>Strict standard base64 with canonical padding; errors worded like Rust's <c>base64</c> crate.</summary>
    public static byte[] DecodeBase64(string text)
    {
        const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        int padding = 0;
        int firstPad = -1;
        for (int i = 0; i < utf8.Length; i++)
        {
            byte b = utf8[i];
            if (b == (byte)'=')
            {
                firstPad = padding++ == 0 ? i : firstPad;
                continue;
            }

            if (padding > 0)
            {
                throw new CliException($"invalid --key-base64: Invalid symbol {(int)'='}, offset {firstPad}.");
            }

            if (b >= 128 || Alphabet.IndexOf((char)b, StringComparison.Ordinal) < 0)
            {
                throw new CliException($"invalid --key-base64: Invalid symbol {b}, offset {i}.");
            }
        }

        if (text.Length % 4 != 0)
        {
            throw new CliException("invalid --key-base64: Invalid input length.");
        }

        if (padding > 2)
        {
            throw new CliException("invalid --key-base64: Invalid padding");
        }

        byte[] decoded = Convert.FromBase64String(text);
        if (!string.Equals(Convert.ToBase64String(decoded), text, StringComparison.Ordinal))
        {
            int last = text.Length - padding - 1;
            throw new CliException($"invalid --key-base64: Invalid last symbol {(int)text[last]}, offset {last}.");
        }

        return decoded;
    }

    /// <summary>Even-length hex, either case, no prefix; errors as upstream.</summary>
    public static byte[] DecodeHex(string text)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        if (utf8.Length % 2 != 0)
        {
            throw new CliException("invalid --key-hex: odd length");
        }

        var bytes = new byte[utf8.Length / 2];
        for (int i = 0; i < utf8.Length; i++)
        {
            int nibble = HexValue(utf8[i]);
            if (nibble < 0)
            {
                throw new CliException($"invalid --key-hex: non-hex byte '{(char)utf8[i]}'");
            }

            bytes[i / 2] = (byte)(i % 2 == 0 ? nibble << 4 : bytes[i / 2] | nibble);
        }

        return bytes;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
