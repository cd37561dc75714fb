using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Personalization.Collector.Model;

/// <summary>Finds where in a JSON document the first invalid UTF-8 byte sits, as a field path a client can read.</summary>
public static class Utf8Locator
{
    /// <summary>Byte offset of the first invalid UTF-8 sequence, or -1 when the text is valid.</summary>
    public static int FirstInvalidByte(ReadOnlySpan<byte> utf8)
    {
        var offset = 0;
        while (offset < utf8.Length)
        {
            var status = Rune.DecodeFromUtf8(utf8[offset..], out _, out var consumed);
            if (status != OperationStatus.Done)
            {
                return offset;
            }
            offset += consumed;
        }
        return -1;
    }

    /// <summary>
    /// The path of the value (or property name) holding <paramref name="offset"/>, e.g.
    /// <c>batch[2].properties.title</c>; <c>body</c> when it lies outside any value.
    /// </summary>
    public static string FieldAt(ReadOnlySpan<byte> json, int offset)
    {
        var path = new List<(bool IsArray, string? Name, int Index)>();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is not (JsonTokenType.EndObject or JsonTokenType.EndArray or JsonTokenType.PropertyName)
                    && path.Count > 0 && path[^1].IsArray)
                {
                    var top = path[^1];
                    path[^1] = top with { Index = top.Index + 1 };
                }

                var containsOffset = reader.TokenStartIndex <= offset && offset < reader.BytesConsumed;
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        path[^1] = path[^1] with { Name = Encoding.UTF8.GetString(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan) };
                        break;
                    case JsonTokenType.StartObject:
                        path.Add((false, null, -1));
                        break;
                    case JsonTokenType.StartArray:
                        path.Add((true, null, -1));
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        path.RemoveAt(path.Count - 1);
                        break;
                }
                if (containsOffset)
                {
                    return Format(path);
                }
            }
        }
        catch (JsonException)
        {
            // The reader stopped on the bad bytes themselves: the path so far names the field.
        }
        return Format(path);
    }

    private static string Format(List<(bool IsArray, string? Name, int Index)> path)
    {
        var text = new StringBuilder();
        foreach (var (isArray, name, index) in path)
        {
            if (isArray && index >= 0)
            {
                text.Append('[').Append(index).Append(']');
            }
            else if (!isArray && name is not null)
            {
                if (text.Length > 0)
                {
                    text.Append('.');
                }
                text.Append(name);
            }
        }
        return text.Length == 0 ? "body" : text.ToString();
    }
}
