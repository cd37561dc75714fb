using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Personalization.Contracts;

namespace Personalization.Aggregation.Model;

/// <summary>
/// The segment rule language: a JSON tree of <c>all</c> / <c>any</c> (arrays of rules), <c>not</c> (one rule) and
/// conditions <c>{"field", "op", "value"}</c>, with <c>event</c> and <c>window</c> where the field takes them.
/// <code>
/// {"all": [{"field": "orders", "window": "30d", "op": "&gt;=", "value": 2},
///          {"not": {"field": "flags.churnRisk", "op": "==", "value": true}},
///          {"any": [{"field": "traits.plan", "op": "in", "value": ["pro", "team"]},
///                   {"field": "events", "event": "Product Viewed", "window": "7d", "op": "&gt;", "value": 5}]}]}
/// </code>
/// Fields: <c>traits.&lt;path&gt;</c> (any JSON value; <c>exists</c> tests presence); counts <c>events</c> (all, or of
/// one track <c>event</c>), <c>pageViews</c>, <c>screenViews</c>, <c>sessions</c>, <c>orders</c> and the sum
/// <c>revenue</c>, each over a <c>window</c> (<c>1h</c>, <c>24h</c>, <c>7d</c>, <c>30d</c>) or, without one, the
/// profile's lifetime; <c>daysSinceLastSeen</c>, <c>daysSinceLastOrder</c>, <c>eventsPerActiveMinute</c>,
/// <c>activeMinutesLastHour</c>, <c>peakEventsPerMinute</c>, <c>lastSessionDwellSeconds</c>,
/// <c>averageSessionDwellSeconds</c>, <c>baselineDailyEvents</c>, <c>recentDailyEvents</c>; and the booleans
/// <c>flags.churnRisk</c>, <c>flags.anomaly</c>. Operators: <c>==</c> <c>!=</c> <c>&gt;</c> <c>&gt;=</c> <c>&lt;</c>
/// <c>&lt;=</c> (numbers, or strings by ordinal order), <c>in</c> (an array of values), <c>contains</c> (a substring
/// of a string, or an element of an array), <c>exists</c> (true or false). A condition on a value the profile lacks
/// (no such trait, no order yet) does not hold, except <c>exists: false</c> and <c>!=</c>.
/// <para><see cref="Parse"/> names the part of a rule that is wrong (<c>rule.all[0].window</c>); a parsed rule cannot
/// fail to evaluate. <see cref="Evaluate"/> also says why a rule holds, as the conditions that made it hold with the
/// values found.</para>
/// </summary>
public abstract record SegmentRule
{
    public const int MaxDepth = 6;
    public const int MaxConditions = 50;
    public static readonly IReadOnlyList<string> Windows = InsightsEvaluator.WindowNames;
    public static readonly IReadOnlyList<string> Operators = ["==", "!=", ">", ">=", "<", "<=", "in", "contains", "exists"];
    private static readonly HashSet<string> Counts = ["events", "pageViews", "screenViews", "sessions", "orders", "revenue"];
    private static readonly HashSet<string> Figures =
    [
        "daysSinceLastSeen", "daysSinceLastOrder", "eventsPerActiveMinute", "activeMinutesLastHour", "peakEventsPerMinute",
        "lastSessionDwellSeconds", "averageSessionDwellSeconds", "baselineDailyEvents", "recentDailyEvents",
    ];
    private static readonly HashSet<string> Flags = [$"flags.{FlagNames.ChurnRisk}", $"flags.{FlagNames.Anomaly}"];

    /// <summary>A JSON number as a decimal, or null when it is not a number or out of decimal's range.</summary>
    public static decimal? Number(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number
            && decimal.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;

    /// <summary>Whether the rule holds for the profile, and why when it does (null when it does not).</summary>
    public abstract string? Evaluate(UserProfile profile);

    /// <summary>The rule, or the first error found, as (path, message).</summary>
    public static SegmentRule? Parse(JsonNode? node, string path, out (string Path, string Message)? error)
    {
        var conditions = 0;
        return Parse(node, path, 1, ref conditions, out error);
    }

    private static SegmentRule? Parse(JsonNode? node, string path, int depth, ref int conditions, out (string Path, string Message)? error)
    {
        error = null;
        if (node is not JsonObject obj) return Fail(path, "must be an object: a condition, or one of all, any, not", out error);
        if (depth > MaxDepth) return Fail(path, $"nests deeper than {MaxDepth} levels", out error);
        string[] groups = ["all", "any", "not"];
        var group = groups.Where(obj.ContainsKey).ToList();
        if (group.Count > 1 || (group.Count == 1 && obj.Count > 1))
        {
            return Fail(path, $"has {string.Join(", ", obj.Select(p => p.Key))}; a rule is one of all, any, not, or a condition", out error);
        }
        if (group.Count == 1)
        {
            var kind = group[0];
            var childPath = $"{path}.{kind}";
            if (kind == "not")
            {
                var inner = Parse(obj["not"], childPath, depth + 1, ref conditions, out error);
                return inner is null ? null : new Not(inner);
            }
            if (obj[kind] is not JsonArray items || items.Count == 0) return Fail(childPath, "must be a non-empty array of rules", out error);
            var rules = new List<SegmentRule>(items.Count);
            for (var i = 0; i < items.Count; i++)
            {
                var rule = Parse(items[i], $"{childPath}[{i}]", depth + 1, ref conditions, out error);
                if (rule is null) return null;
                rules.Add(rule);
            }
            return kind == "all" ? new All(rules) : new Any(rules);
        }
        if (++conditions > MaxConditions) return Fail(path, $"is condition number {conditions}; a rule holds at most {MaxConditions}", out error);
        return Condition.Parse(obj, path, out error);
    }

    private static SegmentRule? Fail(string path, string message, out (string Path, string Message)? error)
    {
        error = (path, message);
        return null;
    }

    public sealed record All(IReadOnlyList<SegmentRule> Rules) : SegmentRule
    {
        public override string? Evaluate(UserProfile profile)
        {
            var reasons = new List<string>(Rules.Count);
            foreach (var rule in Rules)
            {
                if (rule.Evaluate(profile) is not { } reason) return null;
                reasons.Add(reason);
            }
            return string.Join(" and ", reasons);
        }

        public override string Describe() => "(" + string.Join(" and ", Rules.Select(r => r.Describe())) + ")";
    }

    public sealed record Any(IReadOnlyList<SegmentRule> Rules) : SegmentRule
    {
        public override string? Evaluate(UserProfile profile)
        {
            foreach (var rule in Rules)
            {
                if (rule.Evaluate(profile) is { } reason) return reason;
            }
            return null;
        }

        public override string Describe() => "(" + string.Join(" or ", Rules.Select(r => r.Describe())) + ")";
    }

    public sealed record Not(SegmentRule Rule) : SegmentRule
    {
        public override string? Evaluate(UserProfile profile) => Rule.Evaluate(profile) is null ? Describe() : null;

        public override string Describe() => $"not {Rule.Describe()}";
    }

    /// <summary>The rule as text, for the reason of a <c>not</c>.</summary>
    public abstract string Describe();

    public sealed record Condition(string Field, string Op, JsonNode? Value, string? Event, string? Window) : SegmentRule
    {
        public static SegmentRule? Parse(JsonObject obj, string path, out (string Path, string Message)? error)
        {
            error = null;
            foreach (var (key, _) in obj)
            {
                if (key is not ("field" or "op" or "value" or "event" or "window"))
                {
                    return Fail($"{path}.{key}", "is not part of a condition (field, op, value, event, window)", out error);
                }
            }
            if (obj["field"] is not JsonValue f || !f.TryGetValue<string>(out var field) || field.Length == 0)
            {
                return Fail($"{path}.field", "is required: a string naming a profile field", out error);
            }
            var isTrait = field.StartsWith("traits.", StringComparison.Ordinal) && field.Length > "traits.".Length
                && field["traits.".Length..].Split('.').All(part => part.Length > 0);
            var isCount = Counts.Contains(field);
            if (!isTrait && !isCount && !Figures.Contains(field) && !Flags.Contains(field))
            {
                return Fail($"{path}.field", $"'{field}' is not a field; use traits.<path>, {string.Join(", ", Counts)}, {string.Join(", ", Figures)}, {string.Join(", ", Flags)}", out error);
            }
            if (obj["op"] is not JsonValue o || !o.TryGetValue<string>(out var op) || !Operators.Contains(op))
            {
                return Fail($"{path}.op", $"must be one of {string.Join(" ", Operators)}", out error);
            }
            string? window = null;
            if (obj.ContainsKey("window"))
            {
                if (!isCount) return Fail($"{path}.window", $"applies only to {string.Join(", ", Counts)}", out error);
                if (obj["window"] is not JsonValue w || !w.TryGetValue(out window) || !Windows.Contains(window))
                {
                    return Fail($"{path}.window", $"must be one of {string.Join(", ", Windows)}", out error);
                }
            }
            string? eventName = null;
            if (obj.ContainsKey("event"))
            {
                if (field != "events") return Fail($"{path}.event", "applies only to the field events", out error);
                if (obj["event"] is not JsonValue e || !e.TryGetValue(out eventName) || eventName.Length is 0 or > 200)
                {
                    return Fail($"{path}.event", "must be a track event name (1 to 200 characters)", out error);
                }
            }
            var value = obj["value"];
            if (!obj.ContainsKey("value")) return Fail($"{path}.value", "is required", out error);
            var problem = op switch
            {
                "exists" => value is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? null : "must be true or false for exists",
                "in" => value is JsonArray { Count: > 0 and <= 100 } items && items.All(i => i is JsonValue) ? null : "must be an array of 1 to 100 values for in",
                ">" or ">=" or "<" or "<=" => value is JsonValue v2 && v2.GetValueKind() is JsonValueKind.Number or JsonValueKind.String ? null : $"must be a number or a string for {op}",
                "contains" => value is JsonValue ? null : "must be a value for contains",
                _ => value is null or JsonValue ? null : $"must be a value (not an object or array) for {op}",
            };
            if (!isTrait && problem is null)
            {
                var wantsBool = Flags.Contains(field);
                problem = op switch
                {
                    "exists" or "contains" when !isTrait => $"{op} applies to traits only",
                    "in" => null,
                    _ when wantsBool => value is JsonValue b && b.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? null : $"must be true or false for {field}",
                    _ => value is JsonValue n && n.GetValueKind() == JsonValueKind.Number ? null : $"must be a number for {field}",
                };
            }
            if (problem is not null) return Fail($"{path}.{(problem.Contains("applies", StringComparison.Ordinal) ? "op" : "value")}", problem, out error);
            return new Condition(field, op, value?.DeepClone(), eventName, window);
        }

        public override string? Evaluate(UserProfile profile)
        {
            var found = Resolve(profile);
            var holds = Op switch
            {
                "exists" => (found is not null) == Value!.GetValue<bool>(),
                "!=" => found is null || !Same(found, Value),
                _ when found is null => false,
                "==" => Same(found, Value),
                "in" => Value!.AsArray().Any(v => Same(found, v)),
                "contains" => found switch
                {
                    JsonArray array => array.Any(v => Same(v, Value)),
                    JsonValue s when s.GetValueKind() == JsonValueKind.String && Value is JsonValue t && t.GetValueKind() == JsonValueKind.String =>
                        s.GetValue<string>().Contains(t.GetValue<string>(), StringComparison.Ordinal),
                    _ => false,
                },
                _ => Compare(found, Value) is { } c && Op switch { ">" => c > 0, ">=" => c >= 0, "<" => c < 0, _ => c <= 0 },
            };
            return holds ? $"{Name} = {Text(found)} {Symbol} {Text(Value)}" : null;
        }

        public override string Describe() => $"{Name} {Symbol} {Text(Value)}";

        private string Name => Field + (Event is null ? "" : $"['{Event}']") + (Window is null ? "" : $"[{Window}]");

        private string Symbol => Op switch { ">=" => "≥", "<=" => "≤", "!=" => "≠", _ => Op };

        private JsonNode? Resolve(UserProfile profile)
        {
            if (Field.StartsWith("traits.", StringComparison.Ordinal))
            {
                JsonNode? node = profile.Traits;
                foreach (var part in Field["traits.".Length..].Split('.'))
                {
                    node = node is JsonObject o ? o[part] : null;
                    if (node is null) return null;
                }
                return node;
            }
            var insights = profile.Insights;
            if (Counts.Contains(Field))
            {
                if (Window is not null)
                {
                    var w = insights?.Windows.GetValueOrDefault(Window);
                    return w is null ? JsonValue.Create(0) : Field switch
                    {
                        "events" => JsonValue.Create(Event is null ? w.Events : w.Counts.GetValueOrDefault(Event)),
                        "pageViews" => JsonValue.Create(w.PageViews),
                        "screenViews" => JsonValue.Create(w.ScreenViews),
                        "sessions" => JsonValue.Create(w.Sessions),
                        "orders" => JsonValue.Create(w.Orders),
                        _ => JsonValue.Create(w.Revenue),
                    };
                }
                return Field switch
                {
                    "events" => JsonValue.Create(Event is null ? profile.TotalEvents : profile.EventCounts.GetValueOrDefault(Event)),
                    "pageViews" => JsonValue.Create(profile.PageViews),
                    "screenViews" => JsonValue.Create(profile.ScreenViews),
                    "sessions" => JsonValue.Create(profile.Sessions),
                    "orders" => JsonValue.Create(profile.Purchases?.Orders ?? 0),
                    _ => JsonValue.Create(profile.Purchases?.Revenue ?? 0m),
                };
            }
            if (Field.StartsWith("flags.", StringComparison.Ordinal))
            {
                return JsonValue.Create(insights?.Flags.ContainsKey(Field["flags.".Length..]) == true);
            }
            var e = insights?.Engagement;
            var r = insights?.Rfm;
            double? figure = Field switch
            {
                "daysSinceLastSeen" => r?.DaysSinceLastSeen,
                "daysSinceLastOrder" => r?.DaysSinceLastOrder,
                "eventsPerActiveMinute" => e?.EventsPerActiveMinute,
                "activeMinutesLastHour" => e?.ActiveMinutesLastHour,
                "peakEventsPerMinute" => e?.PeakEventsPerMinuteLastHour,
                "lastSessionDwellSeconds" => e?.LastSessionDwellSeconds,
                "averageSessionDwellSeconds" => e?.AverageSessionDwellSeconds,
                "baselineDailyEvents" => e?.BaselineDailyEvents,
                _ => e?.RecentDailyEvents,
            };
            return figure is { } value ? JsonValue.Create(value) : null;
        }

        private static bool Same(JsonNode? a, JsonNode? b)
        {
            if (a is null || b is null) return a is null && b is null;
            if (Number(a) is { } x && Number(b) is { } y) return x == y;
            return JsonNode.DeepEquals(a, b);
        }

        private static int? Compare(JsonNode a, JsonNode? b)
        {
            if (Number(a) is { } x && b is not null && Number(b) is { } y) return x.CompareTo(y);
            if (a is JsonValue s && s.GetValueKind() == JsonValueKind.String && b is JsonValue t && t.GetValueKind() == JsonValueKind.String)
            {
                return string.CompareOrdinal(s.GetValue<string>(), t.GetValue<string>());
            }
            return null;
        }

        private static string Text(JsonNode? node) => node switch
        {
            null => "none",
            JsonValue v when Number(v) is { } n => n.ToString(CultureInfo.InvariantCulture),
            _ => node.ToJsonString(),
        };
    }
}
