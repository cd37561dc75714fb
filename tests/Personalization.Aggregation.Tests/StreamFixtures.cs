using System.Text.Json;
using System.Text.Json.Nodes;
using Personalization.Aggregation.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Aggregation.Tests;

/// <summary>Events, segments and a canonical form of profiles for the stream-processing tests.</summary>
internal static class StreamFixtures
{
    public static readonly DateTimeOffset Now = new(2026, 3, 31, 12, 30, 20, TimeSpan.Zero);
    private static readonly DeviceContext Desktop = new("desktop", "Windows", "10", "Chrome", "120");

    public static EnrichedEvent Event(
        string type, DateTimeOffset at, string? name = null, JsonObject? properties = null, JsonObject? traits = null,
        string session = "s1", DateTimeOffset? sessionStart = null, bool newSession = false, DateTimeOffset? receivedAt = null, string? messageId = null) =>
        new(new CollectedEvent
            {
                Type = type,
                MessageId = messageId ?? Guid.NewGuid().ToString("N"),
                UserId = "u1",
                Event = type == EventTypes.Track ? name : null,
                Name = type != EventTypes.Track ? name : null,
                Properties = properties,
                Traits = traits,
                Timestamp = at,
                ReceivedAt = receivedAt ?? (at > Now ? at : Now),
            },
            new SessionContext(session, 1, newSession, sessionStart ?? at),
            Desktop,
            null);

    public static EnrichedEvent Track(DateTimeOffset at, string name, decimal? revenue = null) =>
        Event(EventTypes.Track, at, name, revenue is { } r ? new JsonObject { ["revenue"] = r } : null);

    public static UserProfile Fold(IEnumerable<EnrichedEvent> events, TimeSpan? lateness = null) =>
        ProfileFolder.FoldAll(null, events, Now, lateness ?? ProfileFolder.DefaultAllowedLateness, out _);

    public static ProfileInsights Insights(UserProfile profile, FlagOptions? flags = null, DateTimeOffset? at = null) =>
        InsightsEvaluator.Evaluate(profile, null, flags ?? new FlagOptions(), at ?? Now);

    public static CompiledSegment Segment(string id, string rule, long version = 1) =>
        new(new SegmentDefinition(id, id, null, JsonNode.Parse(rule)!.AsObject(), version, Now, Now),
            SegmentRule.Parse(JsonNode.Parse(rule), "rule", out var error) ?? throw new ArgumentException($"{error}"));

    /// <summary>The profile as JSON with every object's keys sorted, so two profiles compare by content, not by insertion order.</summary>
    public static string Canonical(UserProfile profile) =>
        Sort(JsonNode.Parse(JsonSerializer.Serialize(profile, ContractsJsonContext.Default.UserProfile)))!.ToJsonString();

    private static JsonNode? Sort(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Sort(p.Value?.DeepClone())))),
        JsonArray a => new JsonArray(a.Select(i => Sort(i?.DeepClone())).ToArray()),
        _ => node?.DeepClone(),
    };
}
