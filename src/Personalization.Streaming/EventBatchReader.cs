using System.Diagnostics;
using System.Text.Json;

namespace Personalization.Streaming;

/// <summary>
/// Reads one entry of a bulk delivery: its CloudEvent (<c>data</c>, or <c>data_base64</c>), and in it either a batch
/// <c>{"events":[…]}</c> (<see cref="EventTopic{T}.Many"/>) or a single event. Field names match case-insensitively, as Dapr's own JSON decoding does.
/// Throws <see cref="JsonException"/> when the entry is no readable message of the topic.
/// </summary>
public static class EventBatchReader
{
    public static Delivery<T> Read<T>(string entryId, JsonElement entry, EventTopic<T> topic)
    {
        if (entryId.Length == 0) throw new JsonException("the entry has no entryId");
        if (Json.Property(entry, "event") is not { ValueKind: JsonValueKind.Object } cloudEvent) throw new JsonException("the entry has no event object");

        var trace = default(ActivityContext);
        if (Json.String(cloudEvent, "traceparent") is { } traceParent)
        {
            ActivityContext.TryParse(traceParent, Json.String(cloudEvent, "tracestate"), out trace);
        }
        return new Delivery<T>(entryId, Events(Data(cloudEvent), topic), trace);
    }

    private static JsonElement Data(JsonElement cloudEvent)
    {
        if (Json.Property(cloudEvent, "data") is { } data) return data;
        if (Json.String(cloudEvent, "data_base64") is { } base64)
        {
            using var document = JsonDocument.Parse(Convert.FromBase64String(base64));
            return document.RootElement.Clone();
        }
        throw new JsonException("the CloudEvent has no data");
    }

    private static List<T> Events<T>(JsonElement data, EventTopic<T> topic)
    {
        if (data.ValueKind != JsonValueKind.Object) throw new JsonException($"the data is a JSON {data.ValueKind}, not an object");
        if (Json.Property(data, topic.Many) is not { } many)
        {
            return [Checked(data, topic)];
        }
        if (many.ValueKind != JsonValueKind.Array || many.GetArrayLength() == 0) throw new JsonException($"'{topic.Many}' is not a non-empty array");
        var events = new List<T>(many.GetArrayLength());
        foreach (var item in many.EnumerateArray()) events.Add(Checked(item, topic));
        return events;
    }

    private static T Checked<T>(JsonElement element, EventTopic<T> topic)
    {
        var e = element.Deserialize(topic.EventType) ?? throw new JsonException("an event is JSON null");
        return topic.Problem(e) is { } problem ? throw new JsonException(problem) : e;
    }
}

/// <summary>Field lookups as Go's encoding/json does them: an exact match first, else the first case-insensitive one.</summary>
internal static class Json
{
    public static JsonElement? Property(JsonElement element, string name)
    {
        if (element.TryGetProperty(name, out var exact)) return exact;
        foreach (var property in element.EnumerateObject())
        {
            if (property.Name.Equals(name, StringComparison.OrdinalIgnoreCase)) return property.Value;
        }
        return null;
    }

    public static string? String(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;
}
