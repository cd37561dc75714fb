using Personalization.Contracts;

namespace Personalization.Aggregation.Model;

/// <summary>
/// Derives a profile's <see cref="ProfileInsights"/> at a moment: a pure function of the profile and the time of
/// evaluation (and of the previous insights, for how long a flag has been raised).
/// <para><b>Windows</b> are summed from the event-time buckets (<see cref="ActivityFolder"/>) at their precision: 1 h =
/// the current minute and the 59 before it; 24 h = the current hour and the 23 before it; 7 d and 30 d = the current
/// UTC day and the 6 or 29 before it.</para>
/// <para><b>Churn risk</b>: the baseline is an exponentially weighted moving average (α = <see cref="BaselineAlpha"/>)
/// of daily events over the 28 days before the last 7 (from the profile's first day, zero days included); the flag is
/// raised when the last 7 days' daily average is below <c>ChurnFactor</c> × baseline and the baseline is at least
/// <c>ChurnMinBaselineDailyEvents</c>. A user who stops coming is flagged once the quiet days outweigh the baseline.
/// <b>Anomaly</b>: one minute of the last hour holds at least <c>BurstEventsPerMinute</c> events (bot-like rates).
/// A flag keeps the time it was first raised while it stays raised.</para>
/// </summary>
public static class InsightsEvaluator
{
    public const double BaselineAlpha = 0.2;
    public static readonly IReadOnlyList<string> WindowNames = ["1h", "24h", "7d", "30d"];

    public static ProfileInsights Evaluate(UserProfile profile, ProfileInsights? previous, FlagOptions options, DateTimeOffset now)
    {
        var activity = profile.Activity ?? new ActivityBuckets();
        var nowSeconds = now.ToUnixTimeSeconds();
        var windows = new Dictionary<string, WindowFigures>(StringComparer.Ordinal)
        {
            ["1h"] = Sum(activity.Minutes, From(nowSeconds, 60, 60)),
            ["24h"] = Sum(activity.Hours, From(nowSeconds, 3_600, 24)),
            ["7d"] = Sum(activity.Days, From(nowSeconds, 86_400, 7)),
            ["30d"] = Sum(activity.Days, From(nowSeconds, 86_400, 30)),
        };

        long activeMinutes = 0, peak = 0, peakStart = 0;
        foreach (var (start, bucket) in activity.Minutes)
        {
            if (start < From(nowSeconds, 60, 60)) continue;
            var events = bucket.Counts.GetValueOrDefault(ActivityKeys.All);
            if (events > 0) activeMinutes++;
            if (events > peak) (peak, peakStart) = (events, start);
        }
        var hourEvents = windows["1h"].Events;
        var perActiveMinute = activeMinutes == 0 ? 0 : (double)hourEvents / activeMinutes;

        var today = From(nowSeconds, 86_400, 1);
        var firstDay = profile.FirstSeen is { } first ? first.ToUnixTimeSeconds() / 86_400 * 86_400 : today;
        double? baseline = null;
        for (var day = today - 34 * 86_400L; day <= today - 7 * 86_400L; day += 86_400)
        {
            if (day < firstDay) continue;
            double count = activity.Days.TryGetValue(day, out var b) ? b.Counts.GetValueOrDefault(ActivityKeys.All) : 0;
            baseline = baseline is { } value ? BaselineAlpha * count + (1 - BaselineAlpha) * value : count;
        }
        var recent = windows["7d"].Events / 7.0;

        var sessions = profile.RecentSessions;
        var engagement = new EngagementFigures(
            activeMinutes, Math.Round(perActiveMinute, 3), peak,
            sessions.Count == 0 ? null : sessions[^1].DwellSeconds,
            sessions.Count == 0 ? null : Math.Round(sessions.Average(s => s.DwellSeconds), 3),
            Math.Round(baseline ?? 0, 3), Math.Round(recent, 3), PageDwell(sessions));

        var month = windows["30d"];
        var rfm = new RfmFigures(
            profile.LastSeen is { } last ? Math.Round(Math.Max(0, (now - last).TotalDays), 3) : null,
            profile.Purchases?.LastOrderAt is { } order ? Math.Round(Math.Max(0, (now - order).TotalDays), 3) : null,
            month.Orders, month.Revenue);

        var flags = new Dictionary<string, ProfileFlag>(StringComparer.Ordinal);
        if (baseline is { } b0 && b0 >= options.ChurnMinBaselineDailyEvents && recent < b0 * options.ChurnFactor)
        {
            var threshold = b0 * options.ChurnFactor;
            flags[FlagNames.ChurnRisk] = new ProfileFlag("dailyEvents", Math.Round(b0, 3), Math.Round(recent, 3), Math.Round(threshold, 3),
                Since(previous, FlagNames.ChurnRisk, now),
                $"{recent:0.##} events a day over the last 7 days is below {options.ChurnFactor:0.##} × the baseline of {b0:0.##} a day (the 4 weeks before)");
        }
        if (peak >= options.BurstEventsPerMinute)
        {
            var peakAt = DateTimeOffset.FromUnixTimeSeconds(peakStart);
            flags[FlagNames.Anomaly] = new ProfileFlag("eventsPerMinute", Math.Round(perActiveMinute, 3), peak, options.BurstEventsPerMinute,
                Since(previous, FlagNames.Anomaly, peakAt),
                $"{peak} events in the minute from {peakAt:HH:mm} UTC; at most {options.BurstEventsPerMinute - 1} a minute is human (last hour: {perActiveMinute:0.##} per active minute)");
        }
        return new ProfileInsights(now, windows, rfm, engagement, flags);
    }

    /// <summary>
    /// The first moment after <paramref name="now"/> at which the profile's evaluation can change without a new event:
    /// when a non-empty bucket leaves a window (a minute bucket the last hour, so also the burst it may hold; an hour
    /// bucket the 24 hours; a day bucket the 7 days, which moves it into the churn baseline, the 30 days, and the
    /// baseline's 35 days) — and at most a day away for 35 days after the last event, so conditions on days since the
    /// last event or order are looked at daily in that time (later, at the profile's next event). Null when nothing
    /// can change any more by itself.
    /// </summary>
    public static DateTimeOffset? NextChange(UserProfile profile, DateTimeOffset now)
    {
        var activity = profile.Activity;
        if (activity is null) return null;
        var nowSeconds = now.ToUnixTimeSeconds();
        var next = long.MaxValue;
        void Edge(long at)
        {
            if (at > nowSeconds && at < next) next = at;
        }
        foreach (var start in activity.Minutes.Keys) Edge(start + 3_600);
        foreach (var start in activity.Hours.Keys) Edge(start + 24 * 3_600);
        foreach (var start in activity.Days.Keys)
        {
            Edge(start + 7 * 86_400);
            Edge(start + 30 * 86_400);
            Edge(start + 35 * 86_400);
        }
        if (activity.Days.Count > 0 && activity.Days.Keys.Max() + 35 * 86_400 > nowSeconds) Edge(nowSeconds + 86_400);
        return next == long.MaxValue ? null : DateTimeOffset.FromUnixTimeSeconds(next);
    }

    /// <summary>Pages shown at most in <see cref="EngagementFigures.PageDwell"/>: those with the most dwell time.</summary>
    public const int MaxDwellPages = 20;

    /// <summary>
    /// Dwell per page over the recent sessions: a view's dwell is the time to the session's next page view, or, for the
    /// session's last page, to its last event (0 when the page was its last event, as analytics tools count an exit).
    /// A session whose page views were not all kept (<see cref="ActivityFolder.MaxPagesPerSession"/>) gives its last
    /// kept page no dwell, since its next page is not known.
    /// </summary>
    private static Dictionary<string, PageDwell> PageDwell(IReadOnlyList<SessionSummary> sessions)
    {
        var totals = new Dictionary<string, (long Views, double Seconds)>(StringComparer.Ordinal);
        foreach (var session in sessions)
        {
            var pages = session.Pages;
            for (var i = 0; i < pages.Count; i++)
            {
                DateTimeOffset? until = i + 1 < pages.Count ? pages[i + 1].At : pages.Count == session.PageViews ? session.LastEventAt : null;
                if (until is not { } end) continue;
                var (views, seconds) = totals.GetValueOrDefault(pages[i].Name);
                totals[pages[i].Name] = (views + 1, seconds + Math.Max(0, (end - pages[i].At).TotalSeconds));
            }
        }
        return totals.OrderByDescending(t => t.Value.Seconds).ThenBy(t => t.Key, StringComparer.Ordinal).Take(MaxDwellPages)
            .ToDictionary(t => t.Key, t => new PageDwell(t.Value.Views, Math.Round(t.Value.Seconds, 3), Math.Round(t.Value.Seconds / t.Value.Views, 3)), StringComparer.Ordinal);
    }

    private static DateTimeOffset Since(ProfileInsights? previous, string flag, DateTimeOffset raisedAt) =>
        previous?.Flags.GetValueOrDefault(flag) is { } earlier && earlier.Since < raisedAt ? earlier.Since : raisedAt;

    /// <summary>The start of the oldest of <paramref name="count"/> buckets of <paramref name="size"/> seconds ending with the current one.</summary>
    private static long From(long now, long size, int count) => now - (((now % size) + size) % size) - (count - 1) * size;

    private static WindowFigures Sum(SortedDictionary<long, ActivityBucket> buckets, long from)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        decimal revenue = 0;
        foreach (var (start, bucket) in buckets)
        {
            if (start < from) continue;
            foreach (var (key, count) in bucket.Counts) counts[key] = counts.GetValueOrDefault(key) + count;
            revenue += bucket.Revenue;
        }
        var named = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (key, count) in counts)
        {
            if (ActivityFolder.EventName(key) is { } name) named[name] = count;
        }
        return new WindowFigures(
            counts.GetValueOrDefault(ActivityKeys.All), counts.GetValueOrDefault(ActivityKeys.Page), counts.GetValueOrDefault(ActivityKeys.Screen),
            counts.GetValueOrDefault(ActivityKeys.Session), counts.GetValueOrDefault(ActivityKeys.Order), revenue, named);
    }
}
