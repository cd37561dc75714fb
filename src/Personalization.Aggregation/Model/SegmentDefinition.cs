using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Personalization.Streaming;

namespace Personalization.Aggregation.Model;

/// <summary>A segment: its id, name, rule (<see cref="SegmentRule"/>) and version (+1 on every change).</summary>
public sealed record SegmentDefinition(string Id, string Name, string? Description, JsonObject Rule, long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>Every segment, as the record store holds it under <see cref="Key"/> (one key: read whole, written etag-guarded).</summary>
public sealed record SegmentCatalog(IReadOnlyList<SegmentDefinition> Segments)
{
    public const string Key = "segments";
    public const int MaxSegments = 100;
    public static readonly SegmentCatalog Empty = new([]);
}

/// <summary>A definition with its parsed rule.</summary>
public sealed record CompiledSegment(SegmentDefinition Definition, SegmentRule Rule)
{
    public static IReadOnlyList<CompiledSegment> Compile(SegmentCatalog catalog) =>
        [.. catalog.Segments.Select(d => new CompiledSegment(d, SegmentRule.Parse(d.Rule, "rule", out _)
            ?? throw new InvalidOperationException($"stored segment '{d.Id}' has a rule that does not parse")))];
}

/// <summary>
/// The body of <c>POST /v1/segments</c> and <c>PUT /v1/segments/{id}</c>:
/// <c>{"id": "repeat-buyers", "name": "Repeat buyers", "description": "…", "rule": {…}}</c>. <c>id</c> (POST only;
/// lower-case letters, digits and '-', 1 to 64) and <c>name</c> (1 to 200 characters) are required, <c>description</c>
/// is optional (up to 1,000), <c>rule</c> is a <see cref="SegmentRule"/>. Any other field is refused.
/// </summary>
public sealed partial record SegmentRequest(string? Id, string Name, string? Description, JsonObject Rule)
{
    public const int MaxBodyBytes = 64 * 1024;

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,63}$")]
    private static partial Regex IdPattern();

    public static FieldError? ValidateId(string? id) =>
        id is not null && IdPattern().IsMatch(id) ? null : new FieldError("id", "must be 1 to 64 lower-case letters, digits or '-', starting with a letter or digit");

    public static SegmentRequest? Parse(ReadOnlySpan<byte> body, bool withId, out FieldError? error)
    {
        if (Problems.ParseObject(body, "with name and rule", out error) is not { } obj) return null;
        foreach (var (key, _) in obj)
        {
            if (key is not ("id" or "name" or "description" or "rule"))
            {
                error = new FieldError(key, "is not a segment field (id, name, description, rule)");
                return null;
            }
        }
        string? id = null;
        if (withId)
        {
            id = Text(obj["id"]);
            if (ValidateId(id) is { } bad)
            {
                error = bad;
                return null;
            }
        }
        else if (obj.ContainsKey("id"))
        {
            error = new FieldError("id", "is taken from the path; leave it out of the body");
            return null;
        }
        var name = Text(obj["name"]);
        if (name is null || name.Length is 0 or > 200)
        {
            error = new FieldError("name", "is required: a string of 1 to 200 characters");
            return null;
        }
        string? description = null;
        if (obj["description"] is { } d && (description = Text(d)) is null or { Length: > 1000 })
        {
            error = new FieldError("description", "must be a string of at most 1000 characters");
            return null;
        }
        if (!obj.ContainsKey("rule"))
        {
            error = new FieldError("rule", "is required");
            return null;
        }
        if (SegmentRule.Parse(obj["rule"], "rule", out var ruleError) is null)
        {
            error = new FieldError(ruleError!.Value.Path, ruleError.Value.Message);
            return null;
        }
        return new SegmentRequest(id, name, description, (JsonObject)obj["rule"]!.DeepClone());
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
