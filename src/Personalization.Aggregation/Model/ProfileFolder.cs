using Personalization.Contracts;

namespace Personalization.Aggregation.Model;

/// <summary>
/// Folds one enriched event into a profile. Pure: the same profile and event give the same result, and the order of
/// events does not change counters, first/last seen or traits (see <see cref="TraitMerger"/>).
/// <list type="bullet">
/// <item><c>TotalEvents</c> +1 for every event; <c>EventCounts[event]</c> +1 for a track event;</item>
/// <item><c>PageViews</c> +1 for a page, <c>ScreenViews</c> +1 for a screen;</item>
/// <item><c>Sessions</c> +1 when enrichment says the event opened a session;</item>
/// <item><c>FirstSeen</c>/<c>LastSeen</c>: the earliest/latest event time; <c>LastDevice</c>: the device of the
/// latest event;</item>
/// <item>traits merged from identify events; <c>UserId</c> from the event when it has one; anonymous ids collected
/// (up to <see cref="MaxAnonymousIds"/>, later ones ignored);</item>
/// <item>the event-time buckets, recent sessions and orders (see <see cref="ActivityFolder"/>: late events count in the
/// lifetime counters only);</item>
/// <item><c>Version</c> +1, <c>UpdatedAt</c> = now.</item>
/// </list>
/// Once-only folding (idempotency on messageId) is the caller's job: it folds an event only when its seen-marker is absent.
/// </summary>
public static class ProfileFolder
{
    public const int MaxAnonymousIds = 50;

    /// <summary>A profile that exists in the store before any event is folded in (version 0: not yet visible).</summary>
    public static UserProfile Empty(string profileId) => new() { ProfileId = profileId };

    /// <summary>Default of <c>Aggregation:AllowedLateness</c>.</summary>
    public static readonly TimeSpan DefaultAllowedLateness = TimeSpan.FromDays(35);

    public static UserProfile Fold(UserProfile? current, EnrichedEvent enriched, DateTimeOffset now) =>
        FoldAll(current, [enriched], now, DefaultAllowedLateness, out _);

    /// <summary>Folds <paramref name="events"/> in; <paramref name="late"/> is how many were behind the watermark (lifetime counters only).</summary>
    public static UserProfile FoldAll(UserProfile? current, IEnumerable<EnrichedEvent> events, DateTimeOffset now, TimeSpan allowedLateness, out int late)
    {
        late = 0;
        var profile = current;
        ActivityBuckets? activity = null;
        foreach (var enriched in events)
        {
            profile = FoldCounters(profile, enriched, now);
            activity ??= ActivityFolder.Copy(current?.Activity);
            if (!ActivityFolder.Add(activity, enriched, allowedLateness)) late++;
            profile = profile with
            {
                RecentSessions = ActivityFolder.AddSession(profile.RecentSessions, enriched),
                Purchases = ActivityFolder.AddPurchase(profile.Purchases, enriched.Event),
            };
        }
        if (profile is null) throw new ArgumentException("No event to fold into a new profile", nameof(events));
        return activity is null ? profile : profile with { Activity = activity };
    }

    private static UserProfile FoldCounters(UserProfile? current, EnrichedEvent enriched, DateTimeOffset now)
    {
        var e = enriched.Event;
        var profile = current ?? Empty(e.ProfileId);
        var time = e.Timestamp;

        var counts = profile.EventCounts;
        if (e.Type == EventTypes.Track && !string.IsNullOrEmpty(e.Event))
        {
            var updated = new Dictionary<string, long>(profile.EventCounts, StringComparer.Ordinal);
            updated[e.Event] = updated.GetValueOrDefault(e.Event) + 1;
            counts = updated;
        }

        var traits = profile.Traits;
        var traitsUpdatedAt = profile.TraitsUpdatedAt;
        if (e.Type == EventTypes.Identify && e.Traits is { Count: > 0 } incoming)
        {
            (traits, var stamps) = TraitMerger.Merge(profile.Traits, profile.TraitsUpdatedAt, incoming, time);
            traitsUpdatedAt = stamps;
        }

        var anonymousIds = profile.AnonymousIds;
        if (e.AnonymousId is { Length: > 0 } anonymousId && anonymousIds.Count < MaxAnonymousIds && !anonymousIds.Contains(anonymousId))
        {
            anonymousIds = [.. anonymousIds, anonymousId];
        }

        var isLatest = profile.LastSeen is null || time >= profile.LastSeen;
        return profile with
        {
            UserId = e.UserId ?? profile.UserId,
            AnonymousIds = anonymousIds,
            Traits = traits,
            TraitsUpdatedAt = traitsUpdatedAt,
            EventCounts = counts,
            PageViews = profile.PageViews + (e.Type == EventTypes.Page ? 1 : 0),
            ScreenViews = profile.ScreenViews + (e.Type == EventTypes.Screen ? 1 : 0),
            Sessions = profile.Sessions + (enriched.Session.IsNewSession ? 1 : 0),
            TotalEvents = profile.TotalEvents + 1,
            FirstSeen = profile.FirstSeen is { } first && first <= time ? first : time,
            LastSeen = isLatest ? time : profile.LastSeen,
            LastDevice = isLatest ? enriched.Device : profile.LastDevice,
            Version = profile.Version + 1,
            UpdatedAt = now,
        };
    }
}
