using System.Text.Json;
using System.Text.Json.Nodes;
using Personalization.ProfileQuery.Apis;
using Personalization.Streaming;

namespace Personalization.ProfileQuery.Decisions;

/// <summary>
/// The rule of a placement variant, over what aggregation already derived for the user: <c>{"segment": "id"}</c>
/// (a member of that segment), <c>{"flag": "churnRisk"}</c> (that flag raised), <c>{"trait": "plan", "equals": "pro"}</c>
/// (a top-level trait with that value), and <c>{"all": [...]}</c>, <c>{"any": [...]}</c>, <c>{"not": rule}</c>.
/// Conditions stay this small on purpose: anything richer is a segment (its rule language has windows, counts and
/// RFM), and a variant names the segment.
/// </summary>
public static class DecisionRule
{
    public const int MaxDepth = 6;

    /// <summary>The first thing wrong in <paramref name="rule"/>, named by its path; null when it is a rule.</summary>
    public static FieldError? Validate(JsonNode? rule, string path, int depth = 1)
    {
        if (depth > MaxDepth) return new FieldError(path, $"rules nest at most {MaxDepth} deep");
        if (rule is not JsonObject obj || obj.Count == 0) return new FieldError(path, "must be an object: segment, flag, trait, all, any or not");
        var (kind, value) = (obj.First().Key, obj.First().Value);
        switch (kind)
        {
            case "segment" or "flag" when obj.Count == 1:
                return value is JsonValue v && v.GetValueKind() == JsonValueKind.String && v.GetValue<string>().Length is > 0 and <= 64
                    ? null : new FieldError($"{path}.{kind}", "must be a non-empty string of at most 64 characters");
            case "trait" when obj.Count == 2 && obj.ContainsKey("equals"):
                return value is JsonValue t && t.GetValueKind() == JsonValueKind.String && t.GetValue<string>().Length is > 0 and <= 128
                    ? null : new FieldError($"{path}.trait", "must be the name of a top-level trait");
            case "all" or "any" when obj.Count == 1:
                if (value is not JsonArray items || items.Count == 0) return new FieldError($"{path}.{kind}", "must be a non-empty array of rules");
                for (var i = 0; i < items.Count; i++)
                {
                    if (Validate(items[i], $"{path}.{kind}[{i}]", depth + 1) is { } error) return error;
                }
                return null;
            case "not" when obj.Count == 1:
                return Validate(value, $"{path}.not", depth + 1);
            default:
                return new FieldError(path, $"'{string.Join("', '", obj.Select(p => p.Key))}' is not a rule: use one of segment, flag, trait (with equals), all, any, not");
        }
    }

    /// <summary>Why a (validated) rule holds for the profile, or null when it does not.</summary>
    public static string? Holds(JsonNode rule, ProfileView profile)
    {
        var obj = rule.AsObject();
        var (kind, value) = (obj.First().Key, obj.First().Value!);
        switch (kind)
        {
            case "segment":
                var segment = value.GetValue<string>();
                return profile.Segments.TryGetValue(segment, out var member) ? $"member of segment '{segment}' since {member.EnteredAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC" : null;
            case "flag":
                var flag = value.GetValue<string>();
                return profile.Insights?.Flags.TryGetValue(flag, out var raised) == true ? $"flag '{flag}': {raised.Explanation}" : null;
            case "trait":
                var trait = value.GetValue<string>();
                return profile.Traits.TryGetPropertyValue(trait, out var actual) && JsonNode.DeepEquals(actual, obj["equals"])
                    ? $"trait '{trait}' is {obj["equals"]?.ToJsonString() ?? "null"}" : null;
            case "all":
                var reasons = new List<string>();
                foreach (var item in value.AsArray())
                {
                    if (Holds(item!, profile) is not { } reason) return null;
                    reasons.Add(reason);
                }
                return string.Join(" and ", reasons);
            case "any":
                foreach (var item in value.AsArray())
                {
                    if (Holds(item!, profile) is { } reason) return reason;
                }
                return null;
            default: // not
                return Holds(value, profile) is null ? $"not ({value.ToJsonString()})" : null;
        }
    }
}

/// <summary>What <c>POST /v1/decide</c> answers per placement: the variant chosen, its content, and why.</summary>
public sealed record Decision(string Placement, string? Variant, JsonObject? Content, string Reason);

/// <summary>Chooses a placement's variant for a profile: pure, so every answer can be explained and tested.</summary>
public static class Decider
{
    /// <summary>Each placement's decision for what a read found; a withheld profile is decided as if there were none.</summary>
    public static List<Decision> Decide(IEnumerable<Placement> placements, ProfileRead read) =>
        [.. placements.Select(p => Decide(p, read.Answer, read.Withheld ? "the user has not consented to personalization" : null))];

    /// <summary>
    /// The first variant whose rule holds for <paramref name="profile"/>, else the fallback. Without a profile to
    /// personalize from (none yet, or personalization not consented), only a variant without a rule, else the fallback.
    /// </summary>
    public static Decision Decide(Placement placement, ProfileView? profile, string? withoutProfile)
    {
        foreach (var variant in placement.Variants)
        {
            if (variant.When is null) return new Decision(placement.Id, variant.Id, variant.Content, "the variant has no rule");
            if (profile is null) continue;
            if (DecisionRule.Holds(variant.When, profile) is { } reason) return new Decision(placement.Id, variant.Id, variant.Content, reason);
        }
        var why = profile is null ? withoutProfile ?? "no profile" : "no variant's rule holds";
        return placement.Fallback is { } fallback
            ? new Decision(placement.Id, fallback.Id, fallback.Content, $"fallback: {why}")
            : new Decision(placement.Id, null, null, why);
    }
}
