using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Personalization.Collector.Model;

/// <summary>
/// One message as a Segment SDK sends it (the HTTP Tracking API's field names). Loosely typed where
/// the collector must check the type itself (timestamps, objects) so it can name the field in its answer.
/// Unknown fields are ignored, as Segment ignores them.
/// </summary>
public sealed class SegmentMessage
{
    public string? Type { get; set; }

    [JsonConverter(typeof(SegmentIdConverter))]
    public string? MessageId { get; set; }

    [JsonConverter(typeof(SegmentIdConverter))]
    public string? AnonymousId { get; set; }

    [JsonConverter(typeof(SegmentIdConverter))]
    public string? UserId { get; set; }

    [JsonConverter(typeof(SegmentIdConverter))]
    public string? GroupId { get; set; }

    [JsonConverter(typeof(SegmentIdConverter))]
    public string? PreviousId { get; set; }

    public string? Event { get; set; }
    public string? Name { get; set; }
    public string? Category { get; set; }
    public JsonElement? Properties { get; set; }
    public JsonElement? Traits { get; set; }
    public JsonElement? Context { get; set; }
    public JsonElement? Integrations { get; set; }
    public JsonElement? Timestamp { get; set; }
    public JsonElement? SentAt { get; set; }
}

/// <summary>The envelope of <c>/v1/batch</c>: the messages plus what applies to all of them.</summary>
public sealed class SegmentBatch
{
    public JsonElement? Batch { get; set; }
    public JsonElement? Context { get; set; }
    public JsonElement? Integrations { get; set; }
    public JsonElement? SentAt { get; set; }
}

/// <summary>The Tracking API's answer to an accepted request.</summary>
public sealed record SegmentSuccess(bool Success)
{
    public static readonly SegmentSuccess Instance = new(true);
}

/// <summary>
/// Ids are strings, but SDKs in loosely typed languages send numeric user ids too; Segment takes
/// both, so does the collector (a number becomes its JSON text). Anything else is a type error.
/// </summary>
public sealed class SegmentIdConverter : JsonConverter<string?>
{
    public override bool HandleNull => true;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString(),
            JsonTokenType.Number => System.Text.Encoding.UTF8.GetString(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan),
            JsonTokenType.Null => null,
            _ => throw new JsonException("must be a string or a number"),
        };

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SegmentMessage))]
[JsonSerializable(typeof(SegmentBatch))]
[JsonSerializable(typeof(SegmentSuccess))]
[JsonSerializable(typeof(Apis.StreamAck))]
[JsonSerializable(typeof(Apis.StreamError))]
[JsonSerializable(typeof(Contracts.CollectedEvent))]
[JsonSerializable(typeof(List<Contracts.CollectedEvent>))]
[JsonSerializable(typeof(Contracts.CollectedEventBatch))]
[JsonSerializable(typeof(DateTimeOffset))]
[JsonSerializable(typeof(Contracts.QuarantinedEventBatch))]
[JsonSerializable(typeof(TrackingPlan))]
[JsonSerializable(typeof(TrackingPlanCatalog))]
[JsonSerializable(typeof(Apis.TrackingPlanList))]
[JsonSerializable(typeof(System.Text.Json.Nodes.JsonObject))]
public sealed partial class CollectorJsonContext : JsonSerializerContext;
