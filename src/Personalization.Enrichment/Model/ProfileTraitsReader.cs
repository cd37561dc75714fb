using System.Text.Json;
using System.Text.Json.Nodes;
using Personalization.Contracts;

namespace Personalization.Enrichment.Model;

/// <summary>
/// The traits of a materialized profile (<see cref="UserProfile"/>, as the aggregation service stores it under
/// <see cref="StateKeys.Profile"/>), read from its JSON without materializing the rest of it (windows, sessions, segments).
/// </summary>
public static class ProfileTraitsReader
{
    /// <param name="json">The stored profile; null when there is none yet.</param>
    /// <param name="names">The traits to keep (top-level names); empty: all.</param>
    /// <returns>
    /// The traits (null when the profile has none of them), and the id of the profile it was merged into when it was:
    /// what stays under a merged id holds no traits, its profile's are there.
    /// </returns>
    public static (JsonObject? Traits, string? MergedInto) Read(string? json, IReadOnlyCollection<string> names)
    {
        if (string.IsNullOrEmpty(json)) return (null, null);
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return (null, null);
        var mergedInto = root.TryGetProperty("mergedInto", out var merged) && merged.ValueKind == JsonValueKind.String ? merged.GetString() : null;
        if (!root.TryGetProperty("traits", out var traits) || traits.ValueKind != JsonValueKind.Object) return (null, mergedInto);
        var kept = new JsonObject();
        foreach (var trait in traits.EnumerateObject())
        {
            if (names.Count > 0 && !names.Contains(trait.Name)) continue;
            kept[trait.Name] = JsonNode.Parse(trait.Value.GetRawText());
        }
        return (kept.Count > 0 ? kept : null, mergedInto);
    }
}
