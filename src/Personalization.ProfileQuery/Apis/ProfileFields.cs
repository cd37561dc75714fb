using System.Text.Json;
using System.Text.Json.Nodes;
using Personalization.ProfileQuery.Extensions;
using Personalization.Streaming;

namespace Personalization.ProfileQuery.Apis;

/// <summary>
/// Field selection (<c>?fields=traits,segments,flags</c>): the top-level members of <see cref="ProfileView"/> by their
/// JSON names, plus <c>flags</c> and <c>windows</c> (from <c>insights</c>, without the rest of it). <c>profileId</c> and
/// <c>version</c> are always answered. An unknown name is a 400 naming it.
/// </summary>
public sealed class ProfileFields
{
    public static readonly IReadOnlyList<string> Names =
    [
        "profileId", "userId", "anonymousIds", "mergedIds", "traits", "eventCounts", "pageViews", "screenViews", "sessions",
        "totalEvents", "firstSeen", "lastSeen", "lastDevice", "recentSessions", "purchases", "insights", "segments", "version",
        "updatedAt", "consent", "flags", "windows",
    ];

    private static readonly HashSet<string> Known = new(Names, StringComparer.Ordinal);
    private readonly HashSet<string> _selected;

    private ProfileFields(HashSet<string> selected) => _selected = selected;

    /// <summary>Every field: no selection.</summary>
    public static ProfileFields All { get; } = new([]);

    public bool IsAll => _selected.Count == 0;

    /// <summary>A stable text of the selection, for the ETag of what it answers.</summary>
    public string Key => string.Join(',', _selected.Order(StringComparer.Ordinal));

    /// <summary>The selection in <paramref name="fields"/> (comma-separated; empty or absent: every field), or the 400 naming what is unknown.</summary>
    public static ProfileFields? Parse(string? fields, out FieldError? error)
    {
        error = null;
        if (string.IsNullOrWhiteSpace(fields)) return All;
        var names = fields.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unknown = names.Where(n => !Known.Contains(n)).Distinct().ToList();
        if (unknown.Count > 0)
        {
            error = new FieldError("fields", $"unknown field{(unknown.Count > 1 ? "s" : "")} '{string.Join("', '", unknown)}'; known: {string.Join(", ", Names)}");
            return null;
        }
        return new ProfileFields([.. names]);
    }

    /// <summary>The view as JSON, with only the selected fields.</summary>
    public JsonObject Select(ProfileView view)
    {
        var all = JsonSerializer.SerializeToNode(view, ProfileQueryJsonContext.Default.ProfileView)!.AsObject();
        if (IsAll) return all;
        var selected = new JsonObject();
        foreach (var (name, value) in all)
        {
            if (name is "profileId" or "version" || _selected.Contains(name)) selected[name] = value?.DeepClone();
        }
        if (_selected.Contains("flags")) selected["flags"] = all["insights"]?["flags"]?.DeepClone() ?? new JsonObject();
        if (_selected.Contains("windows")) selected["windows"] = all["insights"]?["windows"]?.DeepClone() ?? new JsonObject();
        return selected;
    }
}
