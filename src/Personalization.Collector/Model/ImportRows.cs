using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using CsvHelper;
using Personalization.Contracts;

namespace Personalization.Collector.Model;

/// <summary>The body formats <c>POST /v1/imports</c> takes.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ImportFormat>))]
public enum ImportFormat
{
    [JsonStringEnumMemberName("csv")]
    Csv,
    [JsonStringEnumMemberName("ndjson")]
    Ndjson,
}

/// <summary>One row of an import: the line it starts on, and either the Segment message it says (UTF-8 JSON) or why it was rejected.</summary>
public readonly record struct ImportRow(long Line, byte[]? Message, FieldError? Problem);

/// <summary>
/// Reads an import file row by row, never more than a row in memory: NDJSON (one Segment message per line) or CSV with a
/// header naming what each column is (<see cref="CsvColumns"/>). A row that cannot be read is rejected alone, with its line.
/// </summary>
public static partial class ImportRows
{
    public static readonly string[] CsvMediaTypes = ["text/csv", "application/csv"];
    public static readonly string[] NdjsonMediaTypes = ["application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"];

    /// <summary>The format a request's <c>Content-Type</c> names, or null for any other (answered 415).</summary>
    public static ImportFormat? FormatOf(string? contentType)
    {
        var mediaType = contentType?.Split(';', 2)[0].Trim().ToLowerInvariant();
        if (mediaType is null) return null;
        if (CsvMediaTypes.Contains(mediaType)) return ImportFormat.Csv;
        if (NdjsonMediaTypes.Contains(mediaType)) return ImportFormat.Ndjson;
        return null;
    }

    /// <summary>
    /// The message id of a row that names none: the same row content from the same source always gets the same id, so
    /// importing a file again (or a file that repeats rows of an earlier one) counts each row once.
    /// </summary>
    public static string DeterministicId(string? source, ReadOnlySpan<byte> message)
    {
        var sourceBytes = Encoding.UTF8.GetBytes(source ?? "");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(sourceBytes);
        hash.AppendData("\n"u8);
        hash.AppendData(message);
        Span<byte> digest = stackalloc byte[32];
        hash.GetHashAndReset(digest);
        return "imp-" + Convert.ToHexStringLower(digest[..16]);
    }

    /// <summary>Lines of UTF-8 JSON; an empty line is skipped, a line over <paramref name="maxRowBytes"/> rejected without being held.</summary>
    public static async IAsyncEnumerable<ImportRow> ReadNdjsonAsync(Stream stream, int maxRowBytes, [EnumeratorCancellation] CancellationToken ct)
    {
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024));
        long line = 0;
        var skipping = false; // inside a line already rejected as too long
        long skippedBytes = 0;
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            var buffer = result.Buffer;
            var rows = new List<ImportRow>();
            while (true)
            {
                var newline = buffer.PositionOf((byte)'\n');
                if (newline is null)
                {
                    if (!skipping && buffer.Length > maxRowBytes)
                    {
                        (skipping, skippedBytes) = (true, 0);
                    }
                    if (skipping)
                    {
                        skippedBytes += buffer.Length;
                        buffer = buffer.Slice(buffer.End);
                    }
                    break;
                }
                var content = buffer.Slice(0, newline.Value);
                buffer = buffer.Slice(buffer.GetPosition(1, newline.Value));
                line++;
                if (skipping)
                {
                    rows.Add(TooLong(line, skippedBytes + content.Length, maxRowBytes));
                    skipping = false;
                    continue;
                }
                if (Row(line, content, maxRowBytes) is { } row) rows.Add(row);
            }
            if (result.IsCompleted && !buffer.IsEmpty && !skipping)
            {
                line++;
                if (Row(line, buffer, maxRowBytes) is { } last) rows.Add(last);
                buffer = buffer.Slice(buffer.End);
            }
            else if (result.IsCompleted && skipping)
            {
                rows.Add(TooLong(++line, skippedBytes, maxRowBytes));
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            foreach (var row in rows) yield return row;
            if (result.IsCompleted) break;
        }
        await reader.CompleteAsync();
    }

    private static ImportRow? Row(long line, ReadOnlySequence<byte> content, int maxRowBytes)
    {
        if (content.Length > 0 && content.Slice(content.Length - 1).FirstSpan[0] == (byte)'\r') content = content.Slice(0, content.Length - 1);
        if (content.Length > maxRowBytes) return TooLong(line, content.Length, maxRowBytes);
        var bytes = content.ToArray();
        if (bytes.AsSpan().Trim(" \t"u8).IsEmpty) return null;
        return new ImportRow(line, bytes, null);
    }

    private static ImportRow TooLong(long line, long length, int maxRowBytes) =>
        new(line, null, new FieldError("line", $"is {length} bytes; a row may be at most {maxRowBytes}"));

    /// <summary>A CSV file with a header row (RFC 4180); each further record becomes one message (see <see cref="CsvColumns"/>).</summary>
    public static async IAsyncEnumerable<ImportRow> ReadCsvAsync(
        Stream stream, CsvColumns columns, string? defaultType, int maxRowBytes, [EnumeratorCancellation] CancellationToken ct)
    {
        var malformed = new Queue<CsvMalformedRecord>();
        await using var reader = CsvReader.Create(stream, Options(maxRowBytes, malformed.Enqueue), false);
        await reader.ReadHeaderAsync(ct);
        while (true)
        {
            var more = await reader.ReadAsync(ct);
            while (malformed.TryDequeue(out var bad))
            {
                yield return new ImportRow(bad.LineNumber, null, new FieldError("row", $"is not valid CSV: {Describe(bad.Reason)}"));
            }
            if (!more) break;
            if (reader.RawRecord.Length > maxRowBytes)
            {
                yield return TooLong(reader.LineNumber, reader.RawRecord.Length, maxRowBytes);
                continue;
            }
            var record = new string[reader.FieldCount];
            for (var i = 0; i < record.Length; i++) record[i] = reader.GetString(i);
            yield return columns.ToMessage(reader.LineNumber, record, defaultType);
        }
    }

    /// <summary>The header of a CSV file, or why it cannot be imported (the whole file is then refused).</summary>
    public static async Task<(CsvColumns? Columns, FieldError? Problem)> ReadHeaderAsync(Stream stream, int maxRowBytes, CancellationToken ct)
    {
        await using var reader = CsvReader.Create(stream, Options(maxRowBytes, _ => { }), true);
        try
        {
            await reader.ReadHeaderAsync(ct);
        }
        catch (CsvFormatException e)
        {
            return (null, new FieldError("header", $"is not valid CSV: {e.Message}"));
        }
        string[] header = [.. reader.Headers];
        if (header.Length == 0 || header is [""])
        {
            return (null, new FieldError("header", "is missing: the first line must name the columns, e.g. userId,email,plan"));
        }
        return CsvColumns.Parse(header);
    }

    /// <summary>Malformed records are skipped and reported; a record may grow to 4 rows' worth before the file is given up on.</summary>
    private static CsvReaderOptions Options(int maxRowBytes, Action<CsvMalformedRecord> onMalformed) => new()
    {
        HasHeader = true,
        TrackLineNumbers = true,
        MalformedData = CsvMalformedDataHandling.Skip,
        OnMalformedRecord = onMalformed,
        MaxRecordSize = Math.Max(4 * maxRowBytes, 1024 * 1024),
    };

    private static string Describe(CsvMalformedReason reason) => reason switch
    {
        CsvMalformedReason.StrayQuote => "a quote inside an unquoted field",
        CsvMalformedReason.TextAfterClosingQuote => "text after a closing quote",
        CsvMalformedReason.UnterminatedQuote => "a quote that is never closed",
        CsvMalformedReason.LineBreakInQuotes => "a line break inside quotes",
        CsvMalformedReason.FieldCountMismatch => "a different number of fields than the header",
        _ => reason.ToString(),
    };

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";

    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")]
    internal static partial Regex JsonNumber();
}

/// <summary>
/// What the columns of a CSV import mean, from its header. Columns named like a Segment field (<c>type</c>, <c>userId</c>,
/// <c>anonymousId</c>, <c>messageId</c>, <c>event</c>, <c>name</c>, <c>category</c>, <c>groupId</c>, <c>previousId</c>,
/// <c>timestamp</c>; any case) fill that field; <c>traits.a.b</c>, <c>properties.x</c> and <c>context.y</c> fill nested
/// objects; any other column is a trait of an identify or group row and a property of every other row. A value is a number,
/// <c>true</c> or <c>false</c> when it reads as one (at most 15 digits, no leading zero), else a string; a suffix forces the
/// kind: <c>zip:string</c>, <c>revenue:number</c>, <c>vip:boolean</c>, <c>tags:json</c>. An empty cell leaves its field out.
/// A row's type is its <c>type</c> cell, else the import's <c>?type=</c>, else track when it names an event, else identify.
/// </summary>
public sealed class CsvColumns
{
    private static readonly string[] Reserved = ["type", "userId", "anonymousId", "messageId", "event", "name", "category", "groupId", "previousId", "timestamp"];
    private static readonly string[] Objects = ["traits", "properties", "context"];

    private enum Kind { Auto, String, Number, Boolean, Json }

    /// <summary>A column: the Segment field it fills (<see cref="Field"/>) or the path under an object (<see cref="Object"/>, null when bare).</summary>
    private sealed record Column(string Header, string? Field, string? Object, string[] Path, Kind Kind);

    private readonly Column[] _columns;
    private readonly int _type = -1, _event = -1;

    private CsvColumns(Column[] columns)
    {
        _columns = columns;
        _type = Array.FindIndex(columns, c => c.Field == "type");
        _event = Array.FindIndex(columns, c => c.Field == "event");
    }

    public int Count => _columns.Length;

    public static (CsvColumns? Columns, FieldError? Problem) Parse(string[] header)
    {
        var columns = new Column[header.Length];
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < header.Length; i++)
        {
            var text = header[i].Trim();
            var where = $"header column {i + 1}";
            var kind = Kind.Auto;
            var colon = text.LastIndexOf(':');
            if (colon > 0)
            {
                var suffix = text[(colon + 1)..].ToLowerInvariant();
                if (!Enum.TryParse(suffix, ignoreCase: true, out kind) || kind == Kind.Auto)
                {
                    return (null, new FieldError(where, $"'{text}' ends in ':{suffix}'; a kind is one of :string, :number, :boolean, :json"));
                }
                text = text[..colon];
            }
            if (text.Length == 0) return (null, new FieldError(where, "has no name"));
            if (!seen.Add(text)) return (null, new FieldError(where, $"'{text}' appears twice"));
            var parts = text.Split('.');
            if (parts.Any(p => p.Length == 0)) return (null, new FieldError(where, $"'{text}' has an empty part between dots"));
            if (parts.Length > 8) return (null, new FieldError(where, $"'{text}' nests {parts.Length} levels; at most 8"));
            var field = Reserved.FirstOrDefault(r => string.Equals(r, text, StringComparison.OrdinalIgnoreCase));
            if (field is not null)
            {
                if (kind is not (Kind.Auto or Kind.String)) return (null, new FieldError(where, $"'{field}' is always a string"));
                columns[i] = new Column(text, field, null, [], Kind.String);
                continue;
            }
            var objectName = Objects.FirstOrDefault(o => string.Equals(o, parts[0], StringComparison.OrdinalIgnoreCase));
            if (objectName is not null && parts.Length == 1) return (null, new FieldError(where, $"'{text}' needs a name after it, e.g. {objectName}.plan"));
            columns[i] = objectName is null
                ? new Column(text, null, null, parts, kind)
                : new Column(text, null, objectName, parts[1..], kind);
        }
        return (new CsvColumns(columns), null);
    }

    /// <summary>The Segment message of one record, or the first cell that cannot be read.</summary>
    public ImportRow ToMessage(long line, string[] record, string? defaultType)
    {
        if (record.Length != _columns.Length)
        {
            return new ImportRow(line, null, new FieldError("row", $"has {record.Length} columns; the header has {_columns.Length}"));
        }
        var type = _type >= 0 && record[_type].Length > 0 ? record[_type].Trim().ToLowerInvariant()
            : defaultType ?? (_event >= 0 && record[_event].Length > 0 ? EventTypes.Track : EventTypes.Identify);
        var bare = type is EventTypes.Identify or EventTypes.Group ? "traits" : "properties";
        var message = new JsonObject { ["type"] = type };
        for (var i = 0; i < _columns.Length; i++)
        {
            var column = _columns[i];
            var cell = record[i];
            if (cell.Length == 0 || column.Field == "type") continue;
            if (column.Field is { } field)
            {
                message[field] = cell;
                continue;
            }
            if (Value(cell, column.Kind) is not { } value)
            {
                return new ImportRow(line, null, new FieldError(column.Header, $"'{Shorten(cell)}' is not {Describe(column.Kind)}"));
            }
            var target = Child(message, column.Object ?? bare);
            for (var p = 0; p < column.Path.Length - 1; p++) target = Child(target, column.Path[p]);
            if (target is null) return new ImportRow(line, null, new FieldError(column.Header, "sits under a column that is not an object"));
            target[column.Path[^1]] = value;
        }
        return new ImportRow(line, JsonSerializer.SerializeToUtf8Bytes(message), null);
    }

    private static JsonObject? Child(JsonObject? parent, string name)
    {
        if (parent is null) return null;
        if (parent[name] is JsonObject existing) return existing;
        if (parent.ContainsKey(name)) return null;
        var child = new JsonObject();
        parent[name] = child;
        return child;
    }

    private static JsonNode? Value(string cell, Kind kind)
    {
        switch (kind)
        {
            case Kind.String:
                return JsonValue.Create(cell);
            case Kind.Boolean:
                return bool.TryParse(cell.Trim(), out var flag) ? JsonValue.Create(flag) : null;
            case Kind.Number:
                return ImportRows.JsonNumber().IsMatch(cell.Trim()) ? JsonNode.Parse(cell.Trim()) : null;
            case Kind.Json:
                try
                {
                    return JsonNode.Parse(cell, documentOptions: new JsonDocumentOptions { MaxDepth = 16 });
                }
                catch (JsonException)
                {
                    return null;
                }
            default:
                if (cell is "true" or "false") return JsonValue.Create(cell == "true");
                if (cell.Length <= 16 && ImportRows.JsonNumber().IsMatch(cell) && cell.Count(char.IsAsciiDigit) <= 15) return JsonNode.Parse(cell);
                return JsonValue.Create(cell);
        }
    }

    private static string Describe(Kind kind) => kind switch
    {
        Kind.Number => "a number",
        Kind.Boolean => "true or false",
        _ => "valid JSON",
    };

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
