using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Personalization.Streaming;

namespace Personalization.ProfileQuery.Decisions;

/// <summary>A content variant of a placement: shown when its rule (<see cref="DecisionRule"/>) holds; no rule, always.</summary>
public sealed record PlacementVariant(string Id, JsonNode? When, JsonObject Content);

/// <summary>
/// A place on a page or screen (a home banner, a sidebar) and the content variants it can show, in order: the first
/// whose rule holds for the user is chosen; none holds, the <see cref="Fallback"/> (when there is one).
/// </summary>
public sealed record Placement(string Id, string? Name, IReadOnlyList<PlacementVariant> Variants, PlacementVariant? Fallback, long Version, DateTimeOffset UpdatedAt);

/// <summary>Every placement, stored as one document in the record store (PostgreSQL) under <see cref="Key"/>.</summary>
public sealed record PlacementCatalog(IReadOnlyList<Placement> Placements)
{
    public const string Key = "placements";
    public const int MaxPlacements = 100;
    public static PlacementCatalog Empty { get; } = new([]);
}

/// <summary>
/// The body of <c>PUT /v1/placements/{id}</c>:
/// <code>
/// {"name": "Home banner",
///  "variants": [{"id": "win-back", "when": {"flag": "churnRisk"}, "content": {"title": "We miss you: 15 % off"}},
///               {"id": "loyalty", "when": {"segment": "repeat-buyers"}, "content": {"title": "Thanks for coming back"}}],
///  "fallback": {"id": "welcome", "content": {"title": "Welcome"}}}
/// </code>
/// <see cref="Parse"/> names the part that is wrong (<c>variants[1].when.segment</c>).
/// </summary>
public sealed partial record PlacementRequest(string? Name, IReadOnlyList<PlacementVariant> Variants, PlacementVariant? Fallback)
{
    public const int MaxBodyBytes = 64 * 1024;
    public const int MaxVariants = 20;
    public const int MaxContentBytes = 8 * 1024;

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,63}$")]
    private static partial Regex IdPattern();

    public static FieldError? ValidateId(string? id, string field = "id") =>
        id is not null && IdPattern().IsMatch(id) ? null
            : new FieldError(field, "must be 1 to 64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit");

    public static PlacementRequest? Parse(ReadOnlySpan<byte> body, out FieldError? error)
    {
        if (Problems.ParseObject(body, "with 'variants'", out error) is not { } obj) return null;
        var name = obj["name"];
        if (name is not null && (name.GetValueKind() != JsonValueKind.String || name.GetValue<string>().Length > 200))
        {
            error = new FieldError("name", "must be a string of at most 200 characters");
            return null;
        }
        if (obj["variants"] is not JsonArray variants || variants.Count is 0 or > MaxVariants)
        {
            error = new FieldError("variants", $"must be an array of 1 to {MaxVariants} variants");
            return null;
        }
        var parsed = new List<PlacementVariant>(variants.Count);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < variants.Count; i++)
        {
            if (ParseVariant(variants[i], $"variants[{i}]", out error) is not { } variant) return null;
            if (!ids.Add(variant.Id))
            {
                error = new FieldError($"variants[{i}].id", $"'{variant.Id}' is used twice");
                return null;
            }
            parsed.Add(variant);
        }
        PlacementVariant? fallback = null;
        if (obj["fallback"] is { } fallbackNode)
        {
            fallback = ParseVariant(fallbackNode, "fallback", out error);
            if (fallback is null) return null;
            if (fallback.When is not null)
            {
                error = new FieldError("fallback.when", "a fallback has no rule: it is what is shown when no variant's rule holds");
                return null;
            }
        }
        error = null;
        return new PlacementRequest(name?.GetValue<string>(), parsed, fallback);
    }

    private static PlacementVariant? ParseVariant(JsonNode? node, string path, out FieldError? error)
    {
        if (node is not JsonObject variant)
        {
            error = new FieldError(path, "must be an object with 'id' and 'content'");
            return null;
        }
        var id = variant["id"] is JsonValue idValue && idValue.GetValueKind() == JsonValueKind.String ? idValue.GetValue<string>() : null;
        if (ValidateId(id, path + ".id") is { } badId)
        {
            error = badId;
            return null;
        }
        if (variant["content"] is not JsonObject content || content.ToJsonString().Length > MaxContentBytes)
        {
            error = new FieldError(path + ".content", $"must be a JSON object of at most {MaxContentBytes} bytes");
            return null;
        }
        var when = variant["when"];
        if (when is not null && DecisionRule.Validate(when, path + ".when") is { } badRule)
        {
            error = badRule;
            return null;
        }
        error = null;
        return new PlacementVariant(id!, when?.DeepClone(), (JsonObject)content.DeepClone());
    }
}
