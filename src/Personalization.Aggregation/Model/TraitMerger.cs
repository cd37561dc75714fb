using System.Text.Json.Nodes;

namespace Personalization.Aggregation.Model;

/// <summary>
/// How identify traits merge into a profile's traits:
/// <list type="bullet">
/// <item>Per top-level trait, the identify with the later event time wins; an identify older than the one that last set
/// a trait leaves that trait alone (events arrive out of order; a late one must not undo a newer value).
/// Equal times: the one folded last wins.</item>
/// <item>Within a winning trait, objects merge deeply: keys of the incoming object are merged into the stored object
/// recursively; keys it does not name stay. Arrays, strings, numbers and booleans replace what was there.</item>
/// <item>A JSON <c>null</c> removes the trait (or nested key); the removal is timestamped like a value, so an
/// older identify cannot bring it back.</item>
/// </list>
/// Inputs are never changed; the result is a new object.
/// </summary>
public static class TraitMerger
{
    public static (JsonObject Traits, Dictionary<string, DateTimeOffset> UpdatedAt) Merge(
        JsonObject current, IReadOnlyDictionary<string, DateTimeOffset> currentUpdatedAt, JsonObject incoming, DateTimeOffset eventTime)
    {
        var traits = (JsonObject)current.DeepClone();
        var updatedAt = new Dictionary<string, DateTimeOffset>(currentUpdatedAt, StringComparer.Ordinal);
        foreach (var (name, value) in incoming)
        {
            if (updatedAt.TryGetValue(name, out var setAt) && eventTime < setAt) continue;
            updatedAt[name] = eventTime;
            MergeInto(traits, name, value);
        }
        return (traits, updatedAt);
    }

    /// <summary>
    /// The traits of two profiles of one person: each top-level trait of <paramref name="from"/> (or its removal) is
    /// merged in at the time it was set there, by the rule above; a trait with no time (stored before times were kept)
    /// counts as older than any.
    /// </summary>
    public static (JsonObject Traits, Dictionary<string, DateTimeOffset> UpdatedAt) MergeProfiles(
        JsonObject into, IReadOnlyDictionary<string, DateTimeOffset> intoUpdatedAt, JsonObject from, IReadOnlyDictionary<string, DateTimeOffset> fromUpdatedAt)
    {
        var traits = (JsonObject)into.DeepClone();
        var updatedAt = new Dictionary<string, DateTimeOffset>(intoUpdatedAt, StringComparer.Ordinal);
        foreach (var name in from.Select(p => p.Key).Union(fromUpdatedAt.Keys, StringComparer.Ordinal))
        {
            var setAt = fromUpdatedAt.TryGetValue(name, out var at) ? at : DateTimeOffset.MinValue;
            if (updatedAt.TryGetValue(name, out var current) ? setAt <= current : traits.ContainsKey(name)) continue;
            updatedAt[name] = setAt;
            MergeInto(traits, name, from[name]);
        }
        return (traits, updatedAt);
    }

    private static void MergeInto(JsonObject target, string name, JsonNode? value)
    {
        if (value is null)
        {
            target.Remove(name);
            return;
        }
        if (value is JsonObject incoming && target[name] is JsonObject existing)
        {
            foreach (var (key, nested) in incoming) MergeInto(existing, key, nested);
            return;
        }
        target[name] = value.DeepClone();
    }
}
