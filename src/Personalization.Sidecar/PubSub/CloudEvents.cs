using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Personalization.Sidecar.PubSub;

/// <summary>Where a published event comes from: the publishing app, the component and topic, the trace it belongs to.</summary>
public sealed record PublishContext(string AppId, string PubsubName, string Topic, string? TraceParent, string? TraceState);

/// <summary>
/// CloudEvents 1.0 envelopes as daprd builds them (components-contrib pubsub envelope): id (uuid), source (app-id),
/// type com.dapr.event.sent, specversion 1.0, datacontenttype (default text/plain), topic, pubsubname,
/// traceid = traceparent, tracestate, time (RFC 3339), and the payload as <c>data</c> (embedded JSON for JSON content
/// types, else a string) or <c>data_base64</c> (application/octet-stream). Publish metadata
/// <c>cloudevent.id|source|type|subject|traceparent|tracestate</c> overrides the matching fields.
/// </summary>
public static class CloudEvents
{
    public const string ContentType = "application/cloudevents+json";
    public const string BatchContentType = "application/cloudevents-batch+json";
    public const string DefaultType = "com.dapr.event.sent";
    public const string DefaultDataContentType = "text/plain";

    public static Func<DateTimeOffset> Clock { get; set; } = () => DateTimeOffset.UtcNow;

    // Compared in place: these run several times per published message.
    private static ReadOnlySpan<char> Media(string? contentType)
    {
        var media = contentType.AsSpan();
        var semicolon = media.IndexOf(';');
        return (semicolon >= 0 ? media[..semicolon] : media).Trim();
    }

    public static bool IsCloudEvent(string? contentType) => Media(contentType).Equals(ContentType, StringComparison.OrdinalIgnoreCase);

    public static bool IsJson(string? contentType)
    {
        var media = Media(contentType);
        return media.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (media.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && media.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }

    public static bool IsBinary(string? contentType) => Media(contentType).Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase);

    /// <summary>Wraps a payload in a new envelope.</summary>
    public static byte[] Build(ReadOnlySpan<byte> data, string? dataContentType, IReadOnlyDictionary<string, string> metadata, PublishContext context)
    {
        var contentType = string.IsNullOrEmpty(dataContentType) ? DefaultDataContentType : dataContentType;
        var overrides = metadata.Count > 0; // most publishes carry no metadata: skip the six look-ups
        var traceParent = (overrides ? Override(metadata, OverrideTraceParent) : null) ?? context.TraceParent ?? "";
        var json = Writer.Rent(data.Length + 512);
        try
        {
            json.WriteStartObject();
            if ((overrides ? Override(metadata, OverrideId) : null) is { } id) json.WriteString(Names.Id, id);
            else
            {
                Span<char> guid = stackalloc char[36];
                Guid.NewGuid().TryFormat(guid, out _);
                json.WriteString(Names.Id, guid);
            }
            json.WriteString(Names.Source, (overrides ? Override(metadata, OverrideSource) : null) ?? context.AppId);
            json.WriteString(Names.Type, (overrides ? Override(metadata, OverrideType) : null) ?? DefaultType);
            json.WriteString(Names.SpecVersion, Names.SpecVersion10);
            json.WriteString(Names.DataContentType, contentType);
            json.WriteString(Names.Topic, context.Topic);
            json.WriteString(Names.PubsubName, context.PubsubName);
            json.WriteString(Names.TraceId, traceParent);
            json.WriteString(Names.TraceParent, traceParent);
            json.WriteString(Names.TraceState, (overrides ? Override(metadata, OverrideTraceState) : null) ?? context.TraceState ?? "");
            Span<char> time = stackalloc char[20];
            Clock().UtcDateTime.TryFormat(time, out var written, Rfc3339Format, System.Globalization.CultureInfo.InvariantCulture);
            json.WriteString(Names.Time, time[..written]);
            if (overrides && Override(metadata, OverrideSubject) is { } subject) json.WriteString(Names.Subject, subject);
            if (IsBinary(contentType)) json.WriteBase64String(Names.DataBase64, data);
            else if (IsJson(contentType) && IsValidJson(data))
            {
                json.WritePropertyName(Names.Data);
                json.WriteRawValue(data, skipInputValidation: true);
            }
            else json.WriteString(Names.Data, Encoding.UTF8.GetString(data));
            json.WriteEndObject();
            return Writer.ToArray();
        }
        finally
        {
            Writer.Return();
        }
    }

    /// <summary>
    /// A payload that is already a CloudEvent keeps its fields; missing id/source/type/specversion/time are filled, and
    /// topic, pubsubname and the trace fields are set as daprd does. Throws <see cref="FormatException"/> when it is not a JSON object.
    /// </summary>
    public static byte[] FromExisting(ReadOnlySpan<byte> cloudEvent, IReadOnlyDictionary<string, string> metadata, PublishContext context)
    {
        JsonObject ce;
        try
        {
            ce = JsonNode.Parse(cloudEvent) as JsonObject ?? throw new FormatException("the CloudEvent is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new FormatException($"the CloudEvent is not valid JSON: {e.Message}", e);
        }
        ce["id"] = Override(metadata, OverrideId) ?? NonEmpty(ce, "id") ?? Guid.NewGuid().ToString();
        ce["source"] = Override(metadata, OverrideSource) ?? NonEmpty(ce, "source") ?? context.AppId;
        ce["type"] = Override(metadata, OverrideType) ?? NonEmpty(ce, "type") ?? DefaultType;
        ce["specversion"] = NonEmpty(ce, "specversion") ?? "1.0";
        ce["time"] = NonEmpty(ce, "time") ?? Rfc3339(Clock());
        if (Override(metadata, OverrideSubject) is { } subject) ce["subject"] = subject;
        ce["topic"] = context.Topic;
        ce["pubsubname"] = context.PubsubName;
        var traceParent = Override(metadata, OverrideTraceParent) ?? context.TraceParent ?? NonEmpty(ce, "traceparent") ?? "";
        ce["traceid"] = traceParent;
        ce["traceparent"] = traceParent;
        ce["tracestate"] = Override(metadata, OverrideTraceState) ?? context.TraceState ?? NonEmpty(ce, "tracestate") ?? "";
        return JsonSerializer.SerializeToUtf8Bytes(ce, JsonContext.Default.JsonObject);
    }

    /// <summary>The envelope a rawPayload subscription receives: the raw message bytes as data_base64.</summary>
    public static byte[] FromRawPayload(ReadOnlySpan<byte> payload, string pubsubName, string topic)
    {
        var buffer = new ArrayBufferWriter<byte>(payload.Length * 4 / 3 + 256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", Guid.NewGuid().ToString());
            json.WriteString("source", "");
            json.WriteString("type", DefaultType);
            json.WriteString("specversion", "1.0");
            json.WriteString("datacontenttype", "application/octet-stream");
            json.WriteString("topic", topic);
            json.WriteString("pubsubname", pubsubName);
            json.WriteBase64String("data_base64", payload);
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private const string Rfc3339Format = "yyyy-MM-dd'T'HH:mm:ss'Z'";

    public static string Rfc3339(DateTimeOffset time) =>
        time.ToUniversalTime().ToString(Rfc3339Format, System.Globalization.CultureInfo.InvariantCulture);

    private const string OverrideId = "cloudevent.id";
    private const string OverrideSource = "cloudevent.source";
    private const string OverrideType = "cloudevent.type";
    private const string OverrideSubject = "cloudevent.subject";
    private const string OverrideTraceParent = "cloudevent.traceparent";
    private const string OverrideTraceState = "cloudevent.tracestate";

    private static string? Override(IReadOnlyDictionary<string, string> metadata, string key) =>
        metadata.TryGetValue(key, out var v) && v.Length > 0 ? v : null;

    /// <summary>The envelope's property names, UTF-8 encoded once.</summary>
    private static class Names
    {
        public static readonly JsonEncodedText Id = JsonEncodedText.Encode("id");
        public static readonly JsonEncodedText Source = JsonEncodedText.Encode("source");
        public static readonly JsonEncodedText Type = JsonEncodedText.Encode("type");
        public static readonly JsonEncodedText SpecVersion = JsonEncodedText.Encode("specversion");
        public static readonly JsonEncodedText SpecVersion10 = JsonEncodedText.Encode("1.0");
        public static readonly JsonEncodedText DataContentType = JsonEncodedText.Encode("datacontenttype");
        public static readonly JsonEncodedText Topic = JsonEncodedText.Encode("topic");
        public static readonly JsonEncodedText PubsubName = JsonEncodedText.Encode("pubsubname");
        public static readonly JsonEncodedText TraceId = JsonEncodedText.Encode("traceid");
        public static readonly JsonEncodedText TraceParent = JsonEncodedText.Encode("traceparent");
        public static readonly JsonEncodedText TraceState = JsonEncodedText.Encode("tracestate");
        public static readonly JsonEncodedText Time = JsonEncodedText.Encode("time");
        public static readonly JsonEncodedText Subject = JsonEncodedText.Encode("subject");
        public static readonly JsonEncodedText Data = JsonEncodedText.Encode("data");
        public static readonly JsonEncodedText DataBase64 = JsonEncodedText.Encode("data_base64");
    }

    /// <summary>
    /// One JSON writer and buffer per thread, reused by every envelope built on it (building never awaits), so an
    /// envelope costs one allocation: the finished byte array. A buffer grown past 64 KiB by a large message is let go.
    /// </summary>
    private static class Writer
    {
        [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
        [ThreadStatic] private static Utf8JsonWriter? t_json;

        public static Utf8JsonWriter Rent(int sizeHint)
        {
            var buffer = t_buffer ??= new ArrayBufferWriter<byte>(Math.Max(sizeHint, 4096));
            if (t_json is { } json) json.Reset(buffer);
            else t_json = json = new Utf8JsonWriter(buffer);
            return json;
        }

        public static byte[] ToArray()
        {
            t_json!.Flush();
            return t_buffer!.WrittenSpan.ToArray();
        }

        public static void Return()
        {
            t_json!.Reset();
            if (t_buffer!.Capacity > 64 * 1024) t_buffer = null;
            else t_buffer.ResetWrittenCount();
        }
    }

    private static string? NonEmpty(JsonObject ce, string field) =>
        ce[field] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;

    private static bool IsValidJson(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return false;
        try
        {
            var reader = new Utf8JsonReader(data);
            reader.Read();
            reader.Skip();
            return !reader.Read(); // exactly one JSON value
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(JsonObject))]
internal sealed partial class JsonContext : System.Text.Json.Serialization.JsonSerializerContext;
