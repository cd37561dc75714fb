using System.Text.Json.Nodes;
using Personalization.Contracts;

namespace Personalization.Enrichment.Model;

/// <summary>
/// Reads a field of an event by its dotted path in the event's JSON (as a client sent it, camelCase): a top-level text
/// field, or a path into <c>context</c>, <c>properties</c> or <c>traits</c>. What the third-party provider is sent.
/// </summary>
public static class EventFields
{
    private static readonly string[] TopLevel = ["type", "userId", "anonymousId", "event", "name", "category", "groupId", "source", "timestamp"];
    private static readonly string[] Objects = ["context", "properties", "traits"];

    public static readonly string Described = $"one of {string.Join(", ", TopLevel)}, or a dotted path into {string.Join(", ", Objects)}";

    public static bool IsValidPath(string? path)
    {
        if (string.IsNullOrWhiteSpace(path)) return false;
        var dot = path.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0) return TopLevel.Contains(path, StringComparer.Ordinal);
        var head = path[..dot];
        return Objects.Contains(head, StringComparer.Ordinal) && path[(dot + 1)..].Split('.').All(part => part.Length > 0);
    }

    /// <summary>The field's value (a copy, free to put in another document); null when the event lacks it.</summary>
    public static JsonNode? Read(CollectedEvent e, string path)
    {
        var dot = path.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0)
        {
            if (path == "timestamp") return JsonValue.Create(e.Timestamp);
            var text = path switch
            {
                "type" => e.Type,
                "userId" => e.UserId,
                "anonymousId" => e.AnonymousId,
                "event" => e.Event,
                "name" => e.Name,
                "category" => e.Category,
                "groupId" => e.GroupId,
                "source" => e.Source,
                _ => null,
            };
            return text is null ? null : JsonValue.Create(text);
        }
        JsonNode? node = path[..dot] switch
        {
            "context" => e.Context,
            "properties" => e.Properties,
            "traits" => e.Traits,
            _ => null,
        };
        var rest = path.AsSpan(dot + 1);
        while (node is JsonObject obj)
        {
            var next = rest.IndexOf('.');
            var name = next < 0 ? rest : rest[..next];
            node = obj.TryGetPropertyValue(name.ToString(), out var child) ? child : null;
            if (next < 0) return node?.DeepClone();
            rest = rest[(next + 1)..];
        }
        return null;
    }
}
