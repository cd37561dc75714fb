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

    public static string MediaType(string? contentType) =>
        (contentType ?? "").Split(';', 2)[0].Trim().ToLowerInvariant();

    public static bool IsCloudEvent(string? contentType) => MediaType(contentType) == ContentType;

    public static bool IsJson(string? contentType)
    {
        var media = MediaType(contentType);
        return media == "application/json" || (media.StartsWith("application/", StringComparison.Ordinal) && media.EndsWith("+json", StringComparison.Ordinal));
    }

    public static bool IsBinary(string? contentType) => MediaType(contentType) == "application/octet-stream";

    /// <summary>Wraps a payload in a new envelope.</summary>
    public static byte[] Build(ReadOnlySpan<byte> data, string? dataContentType, IReadOnlyDictionary<string, string> metadata, PublishContext context)
    {
        var contentType = string.IsNullOrEmpty(dataContentType) ? DefaultDataContentType : dataContentType;
        var traceParent = Override(metadata, "traceparent") ?? context.TraceParent ?? "";
        var buffer = new ArrayBufferWriter<byte>(data.Length + 512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", Override(metadata, "id") ?? Guid.NewGuid().ToString());
            json.WriteString("source", Override(metadata, "source") ?? context.AppId);
            json.WriteString("type", Override(metadata, "type") ?? DefaultType);
            json.WriteString("specversion", "1.0");
            json.WriteString("datacontenttype", contentType);
            json.WriteString("topic", context.Topic);
            json.WriteString("pubsubname", context.PubsubName);
            json.WriteString("traceid", traceParent);
            json.WriteString("traceparent", traceParent);
            json.WriteString("tracestate", Override(metadata, "tracestate") ?? context.TraceState ?? "");
            json.WriteString("time", Rfc3339(Clock()));
            if (Override(metadata, "subject") is { } subject) json.WriteString("subject", subject);
            if (IsBinary(contentType)) json.WriteBase64String("data_base64", data);
            else if (IsJson(contentType) && IsValidJson(data))
            {
                json.WritePropertyName("data");
                json.WriteRawValue(data, skipInputValidation: true);
            }
            else json.WriteString("data", Encoding.UTF8.GetString(data));
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
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
        ce["id"] = Override(metadata, "id") ?? NonEmpty(ce, "id") ?? Guid.NewGuid().ToString();
        ce["source"] = Override(metadata, "source") ?? NonEmpty(ce, "source") ?? context.AppId;
        ce["type"] = Override(metadata, "type") ?? NonEmpty(ce, "type") ?? DefaultType;
        ce["specversion"] = NonEmpty(ce, "specversion") ?? "1.0";
        ce["time"] = NonEmpty(ce, "time") ?? Rfc3339(Clock());
        if (Override(metadata, "subject") is { } subject) ce["subject"] = subject;
        ce["topic"] = context.Topic;
        ce["pubsubname"] = context.PubsubName;
        var traceParent = Override(metadata, "traceparent") ?? context.TraceParent ?? NonEmpty(ce, "traceparent") ?? "";
        ce["traceid"] = traceParent;
        ce["traceparent"] = traceParent;
        ce["tracestate"] = Override(metadata, "tracestate") ?? context.TraceState ?? NonEmpty(ce, "tracestate") ?? "";
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

    public static string Rfc3339(DateTimeOffset time) =>
        time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    private static string? Override(IReadOnlyDictionary<string, string> metadata, string field) =>
        metadata.TryGetValue("cloudevent." + field, out var v) && v.Length > 0 ? v : null;

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
