using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Collector.Model;

/// <summary>
/// A tracking plan: the JSON Schema that events of one type and name must meet, and what happens to one that does not
/// (<see cref="TrackingPlanModes"/>). <see cref="Event"/> null covers every event of <see cref="Type"/> that no plan
/// names. Version +1 on every change.
/// </summary>
public sealed record TrackingPlan(
    string Id, string Type, string? Event, string Mode, JsonObject Schema, int Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>The part of an event a plan's schema is applied to: <c>traits</c> for identify and group, else <c>properties</c>.</summary>
    public static string PartOf(string type) => type is EventTypes.Identify or EventTypes.Group ? "traits" : "properties";
}

/// <summary>Every tracking plan, as the record store holds it under <see cref="Key"/> (one key: read whole, written etag-guarded).</summary>
public sealed record TrackingPlanCatalog(IReadOnlyList<TrackingPlan> Plans)
{
    public const string Key = "tracking-plans";
    public const int MaxPlans = 200;
    public static readonly TrackingPlanCatalog Empty = new([]);
}

/// <summary>
/// The body of <c>PUT /v1/admin/tracking-plans/{id}</c>:
/// <c>{"type": "track", "event": "Order Completed", "mode": "block", "schema": {…}}</c>. <c>type</c> is track, page,
/// screen, identify or group; <c>event</c> (1 to 200 characters) names the track event or the page or screen, and is left
/// out for identify and group (and, for the others, to cover every event of the type that no plan names); <c>mode</c> is
/// allow, warn or block; <c>schema</c> is a JSON Schema object (draft 2020-12 unless its <c>$schema</c> says otherwise)
/// applied to the event's properties (track, page, screen) or traits (identify, group). Any other field is refused.
/// </summary>
public sealed partial record TrackingPlanRequest(string Type, string? Event, string Mode, JsonObject Schema)
{
    public const int MaxBodyBytes = 64 * 1024;
    public const int MaxEventLength = 200;

    private static readonly string[] Types = [EventTypes.Track, EventTypes.Page, EventTypes.Screen, EventTypes.Identify, EventTypes.Group];
    private static readonly string[] Modes = [TrackingPlanModes.Allow, TrackingPlanModes.Warn, TrackingPlanModes.Block];

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,63}$")]
    private static partial Regex IdPattern();

    public static Streaming.FieldError? ValidateId(string? id) =>
        id is not null && IdPattern().IsMatch(id) ? null : new Streaming.FieldError("id", "must be 1 to 64 lower-case letters, digits or '-', starting with a letter or digit");

    /// <summary>The request, or null with the field that is wrong (a schema that is no valid JSON Schema names its error).</summary>
    public static TrackingPlanRequest? Parse(ReadOnlySpan<byte> body, out Streaming.FieldError? error)
    {
        if (Problems.ParseObject(body, "with type, event, mode and schema", out error) is not { } obj) return null;
        foreach (var (key, _) in obj)
        {
            if (key is not ("type" or "event" or "mode" or "schema"))
            {
                error = new Streaming.FieldError(key, "is not a tracking plan field (type, event, mode, schema)");
                return null;
            }
        }
        var type = Text(obj["type"]);
        if (type is null || !Types.Contains(type))
        {
            error = new Streaming.FieldError("type", $"is required: one of {string.Join(", ", Types)}");
            return null;
        }
        string? name = null;
        if (obj["event"] is { } e)
        {
            if (type is EventTypes.Identify or EventTypes.Group)
            {
                error = new Streaming.FieldError("event", $"{type} events have no name; leave 'event' out");
                return null;
            }
            name = Text(e);
            if (name is null || name.Length is 0 or > MaxEventLength)
            {
                error = new Streaming.FieldError("event", $"must be a string of 1 to {MaxEventLength} characters");
                return null;
            }
        }
        var mode = Text(obj["mode"]);
        if (mode is null || !Modes.Contains(mode))
        {
            error = new Streaming.FieldError("mode", $"is required: one of {string.Join(", ", Modes)}");
            return null;
        }
        if (obj["schema"] is not JsonObject schema)
        {
            error = new Streaming.FieldError("schema", "is required: a JSON Schema object");
            return null;
        }
        if (PlanSchema.Compile(schema, out var schemaError) is null)
        {
            error = schemaError;
            return null;
        }
        return new TrackingPlanRequest(type, name, mode, (JsonObject)schema.DeepClone());
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
