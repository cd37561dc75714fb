using System.Text.Json;
using Personalization.Sidecar.Apis;
using Personalization.Sidecar.Components;

namespace Personalization.Sidecar.Subscriptions;

/// <summary>One routing rule: deliver to <see cref="Path"/> when <see cref="Match"/> holds (an empty match always holds).</summary>
public sealed record RouteRule(string Match, string Path)
{
    internal CelExpression? Expression { get; } = Match.Length == 0 ? null : CelExpression.Parse(Match);
}

public sealed record BulkSubscribeOptions(bool Enabled, int MaxMessagesCount = 100, int MaxAwaitDurationMs = 1000);

/// <summary>
/// A subscription, programmatic (<c>GET /dapr/subscribe</c>) or declarative (Subscription YAML, dapr.io/v2alpha1 with
/// <c>routes</c> or v1alpha1 with <c>route</c>). Match expressions are parsed here, so an unsupported one fails at start.
/// </summary>
public sealed record SubscriptionDefinition(
    string PubsubName, string Topic, IReadOnlyList<RouteRule> Rules, string? DeadLetterTopic,
    IReadOnlyDictionary<string, string> Metadata, BulkSubscribeOptions Bulk, string Type)
{
    public bool RawPayload => Metadata.TryGetValue("rawPayload", out var v) && bool.TryParse(v, out var raw) && raw;

    /// <summary>The app path for this CloudEvent: the first rule whose match holds; null when none does.</summary>
    public string? Route(JsonElement cloudEvent)
    {
        foreach (var rule in Rules)
        {
            if (rule.Expression is null || rule.Expression.Evaluate(cloudEvent)) return rule.Path;
        }
        return null;
    }

    private static string NormalizePath(string path) => path.StartsWith('/') ? path : "/" + path;

    private static List<RouteRule> Rules_(IEnumerable<RouteRule> rules, string? defaultPath)
    {
        var list = rules.Select(r => r with { Path = NormalizePath(r.Path) }).ToList();
        if (!string.IsNullOrEmpty(defaultPath)) list.Add(new RouteRule("", NormalizePath(defaultPath)));
        return list;
    }

    public static SubscriptionDefinition FromDocument(ResourceDocument doc)
    {
        var spec = doc.Spec;
        var pubsub = spec.String("pubsubname") ?? throw new ResourceException($"{doc.Source}: subscription '{doc.Name}' has no 'spec.pubsubname'");
        var topic = spec.String("topic") ?? throw new ResourceException($"{doc.Source}: subscription '{doc.Name}' has no 'spec.topic'");
        try
        {
            List<RouteRule> rules;
            if (spec.Map("routes") is { } routes)
                rules = Rules_(routes.Maps("rules").Select(r => new RouteRule(r.String("match") ?? "", r.String("path") ?? throw new ResourceException($"{r.Where}: rule has no 'path'"))), routes.String("default"));
            else
                rules = Rules_([], spec.String("route") ?? throw new ResourceException($"{doc.Source}: subscription '{doc.Name}' has neither 'spec.routes' nor 'spec.route'"));
            var metadata = spec.Map("metadata") is { } m ? m.Keys.ToDictionary(k => k, k => m.String(k) ?? "") : new Dictionary<string, string>();
            var bulk = spec.Map("bulkSubscribe") is { } b
                ? new BulkSubscribeOptions(b.Bool("enabled", false), b.Int("maxMessagesCount", 100), b.Int("maxAwaitDurationMs", 1000))
                : new BulkSubscribeOptions(false);
            return new SubscriptionDefinition(pubsub, topic, rules, spec.String("deadLetterTopic"), metadata, bulk, "DECLARATIVE");
        }
        catch (CelException e)
        {
            throw new ResourceException($"{doc.Source}: subscription '{doc.Name}': {e.Message}");
        }
    }

    /// <summary>Parses the app's <c>GET /dapr/subscribe</c> answer; property names match case-insensitively.</summary>
    public static IReadOnlyList<SubscriptionDefinition> FromProgrammatic(ReadOnlySpan<byte> json)
    {
        using var doc = JsonDocument.Parse(json.ToArray());
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new FormatException("/dapr/subscribe must answer a JSON array");
        var result = new List<SubscriptionDefinition>();
        foreach (var item in doc.RootElement.EnumerateArray())
        {
            var pubsub = Str(item, "pubsubName") ?? throw new FormatException("/dapr/subscribe: an entry has no pubsubName");
            var topic = Str(item, "topic") ?? throw new FormatException($"/dapr/subscribe: an entry of '{pubsub}' has no topic");
            List<RouteRule> rules;
            if (Prop(item, "routes") is { ValueKind: JsonValueKind.Object } routes)
            {
                var ruleList = Prop(routes, "rules") is { ValueKind: JsonValueKind.Array } r
                    ? r.EnumerateArray().Select(x => new RouteRule(Str(x, "match") ?? "", Str(x, "path") ?? throw new FormatException($"/dapr/subscribe: a rule of topic '{topic}' has no path"))).ToList()
                    : [];
                rules = Rules_(ruleList, Str(routes, "default"));
            }
            else rules = Rules_([], Str(item, "route") ?? throw new FormatException($"/dapr/subscribe: topic '{topic}' has no route"));
            var metadata = new Dictionary<string, string>();
            if (Prop(item, "metadata") is { ValueKind: JsonValueKind.Object } md)
            {
                foreach (var p in md.EnumerateObject()) metadata[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
            }
            var bulk = Prop(item, "bulkSubscribe") is { ValueKind: JsonValueKind.Object } b
                ? new BulkSubscribeOptions(Prop(b, "enabled")?.ValueKind == JsonValueKind.True, Int(b, "maxMessagesCount") ?? 100, Int(b, "maxAwaitDurationMs") ?? 1000)
                : new BulkSubscribeOptions(false);
            result.Add(new SubscriptionDefinition(pubsub, topic, rules, Str(item, "deadLetterTopic") is { Length: > 0 } dlt ? dlt : null, metadata, bulk, "PROGRAMMATIC"));
        }
        return result;
    }

    private static JsonElement? Prop(JsonElement e, string name) => e.TryGetField(name, out var value) ? value : null;

    private static string? Str(JsonElement e, string name) => Prop(e, name) is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;

    private static int? Int(JsonElement e, string name) => Prop(e, name) is { ValueKind: JsonValueKind.Number } v && v.TryGetInt32(out var n) ? n : null;
}
