using Personalization.Contracts;

namespace Personalization.Aggregation.Model;

/// <summary>
/// Merges the profile of an id into the profile of its master (identity resolution, see <see cref="IdentityRules"/>).
/// Pure, and exact: merging the profiles two sets of events made gives what folding both sets into one profile gives —
/// counters and event counts summed, first/last seen the earliest/latest, the last device that of the later profile,
/// buckets summed and pruned to the newer watermark, sessions combined, orders summed, traits merged by the time each
/// was set (<see cref="TraitMerger.MergeProfiles"/>), anonymous ids joined. Each event was folded into exactly one of
/// the two (the seen-markers of both are joined by the caller), so nothing counts twice. Insights and segment
/// memberships are not merged but evaluated again on the result (<see cref="ProfileEvaluation"/>).
/// </summary>
public static class ProfileMerger
{
    public static UserProfile Merge(UserProfile into, UserProfile from, DateTimeOffset now, TimeSpan allowedLateness)
    {
        var (traits, traitsUpdatedAt) = TraitMerger.MergeProfiles(into.Traits, into.TraitsUpdatedAt, from.Traits, from.TraitsUpdatedAt);
        var counts = new Dictionary<string, long>(into.EventCounts, StringComparer.Ordinal);
        foreach (var (name, count) in from.EventCounts) counts[name] = counts.GetValueOrDefault(name) + count;
        var fromIsLater = from.LastSeen is { } fromLast && (into.LastSeen is not { } intoLast || fromLast > intoLast);
        return into with
        {
            UserId = into.UserId ?? from.UserId,
            AnonymousIds = [.. into.AnonymousIds.Union(from.AnonymousIds, StringComparer.Ordinal).Take(ProfileFolder.MaxAnonymousIds)],
            MergedIds = [.. into.MergedIds.Union(from.MergedIds.Append(from.ProfileId), StringComparer.Ordinal).Where(id => id != into.ProfileId)],
            Traits = traits,
            TraitsUpdatedAt = traitsUpdatedAt,
            EventCounts = counts,
            PageViews = into.PageViews + from.PageViews,
            ScreenViews = into.ScreenViews + from.ScreenViews,
            Sessions = into.Sessions + from.Sessions,
            TotalEvents = into.TotalEvents + from.TotalEvents,
            FirstSeen = Earliest(into.FirstSeen, from.FirstSeen),
            LastSeen = fromIsLater ? from.LastSeen : into.LastSeen,
            LastDevice = fromIsLater ? from.LastDevice : into.LastDevice ?? from.LastDevice,
            Activity = from.Activity is null ? into.Activity : ActivityFolder.Merge(into.Activity, from.Activity, allowedLateness),
            RecentSessions = ActivityFolder.MergeSessions(into.RecentSessions, from.RecentSessions),
            Purchases = ActivityFolder.MergePurchases(into.Purchases, from.Purchases),
            Version = into.Version + 1,
            UpdatedAt = now,
        };
    }

    /// <summary>What stays under an id whose profile was merged into <paramref name="masterId"/>.</summary>
    public static UserProfile Redirect(string profileId, string masterId, long version, DateTimeOffset now) =>
        new() { ProfileId = profileId, MergedInto = masterId, Version = version + 1, UpdatedAt = now };

    private static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a <= b ? a : b;
}
