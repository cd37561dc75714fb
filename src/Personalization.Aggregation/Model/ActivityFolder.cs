using System.Text.Json.Nodes;
using Personalization.Contracts;

namespace Personalization.Aggregation.Model;

/// <summary>
/// Folds events into a profile's event-time buckets (<see cref="ActivityBuckets"/>), its recent sessions and its orders.
/// Pure and order-independent: any order of the same events gives the same buckets, sessions and orders.
/// <para><b>Event time.</b> An event's window time is its timestamp, or when the collector received it if that is
/// earlier: a device clock ahead of real time (up to the 7 days the collector accepts) can never place an event in the
/// future and push older buckets out.</para>
/// <para><b>Watermark and lateness.</b> Each bucket size keeps the buckets that start no earlier than the bucket of
/// (newest window time − its retention): minutes <see cref="MinuteRetention"/>, hours <see cref="HourRetention"/>, days
/// the allowed lateness. An event goes into a bucket size only when its bucket is kept by that same rule, so it makes no
/// difference whether an old event arrives before or after a newer one that pushes its bucket out: the result depends
/// on the set of events only. An event whose day is behind the day watermark (newest − allowed lateness) is
/// <i>late</i>: it counts in the lifetime counters only, and the caller counts it (<c>aggregation.events.late</c>).
/// Buckets expire as newer events arrive, never by a sweep over all users; windows are summed relative to the time of
/// evaluation (<see cref="InsightsEvaluator"/>), so a quiet profile's windows empty by themselves.</para>
/// <para>Revenue: an order's <c>revenue</c> property, else its <c>total</c>, when it is a number within ±<see cref="MaxRevenue"/>;
/// otherwise the order counts with no revenue. Sessions: the <see cref="MaxRecentSessions"/> newest by start are kept;
/// an event of an older session counts in the buckets only.</para>
/// </summary>
public static class ActivityFolder
{
    public static readonly TimeSpan MinuteRetention = TimeSpan.FromHours(2);
    public static readonly TimeSpan HourRetention = TimeSpan.FromHours(48);
    public const int MaxRecentSessions = 20;
    public const int MaxPagesPerSession = 20;
    public const decimal MaxRevenue = 1_000_000_000_000m;

    private const long Minute = 60, Hour = 3_600, Day = 86_400;

    public static DateTimeOffset WindowTime(CollectedEvent e) => e.Timestamp <= e.ReceivedAt ? e.Timestamp : e.ReceivedAt;

    /// <summary>A deep copy, so folding never changes what was read.</summary>
    public static ActivityBuckets Copy(ActivityBuckets? activity) => activity is null
        ? new ActivityBuckets()
        : new ActivityBuckets { Newest = activity.Newest, Minutes = Copy(activity.Minutes), Hours = Copy(activity.Hours), Days = Copy(activity.Days) };

    /// <summary>Adds the event to <paramref name="activity"/> (in place); false when it is late (behind the day watermark) and was left out.</summary>
    public static bool Add(ActivityBuckets activity, EnrichedEvent enriched, TimeSpan allowedLateness)
    {
        var e = enriched.Event;
        var time = WindowTime(e).ToUnixTimeSeconds();
        var newest = Math.Max(time, activity.Newest?.ToUnixTimeSeconds() ?? long.MinValue);
        var dayFloor = Floor(newest - (long)allowedLateness.TotalSeconds, Day);
        if (Floor(time, Day) < dayFloor) return false;

        if (activity.Newest is null || newest > activity.Newest.Value.ToUnixTimeSeconds())
        {
            activity.Newest = DateTimeOffset.FromUnixTimeSeconds(newest);
            Prune(activity.Minutes, Floor(newest - (long)MinuteRetention.TotalSeconds, Minute));
            Prune(activity.Hours, Floor(newest - (long)HourRetention.TotalSeconds, Hour));
            Prune(activity.Days, dayFloor);
        }
        var revenue = e.Type == EventTypes.Track && e.Event == ActivityKeys.OrderEvent ? Revenue(e.Properties) : 0m;
        AddTo(activity.Minutes, time, Minute, Floor(newest - (long)MinuteRetention.TotalSeconds, Minute), enriched, revenue);
        AddTo(activity.Hours, time, Hour, Floor(newest - (long)HourRetention.TotalSeconds, Hour), enriched, revenue);
        AddTo(activity.Days, time, Day, dayFloor, enriched, revenue);
        return true;
    }

    /// <summary>The sessions with this event's session updated or added, the newest <see cref="MaxRecentSessions"/> kept.</summary>
    public static IReadOnlyList<SessionSummary> AddSession(IReadOnlyList<SessionSummary> sessions, EnrichedEvent enriched)
    {
        var session = enriched.Session;
        var time = WindowTime(enriched.Event);
        var page = enriched.Event.Type == EventTypes.Page ? 1 : 0;
        IReadOnlyList<PageVisit> visit = page == 1 ? [new PageVisit(time, PageName(enriched.Event))] : [];
        var list = new List<SessionSummary>(sessions.Count + 1);
        var found = false;
        foreach (var s in sessions)
        {
            if (s.SessionId != session.SessionId)
            {
                list.Add(s);
                continue;
            }
            found = true;
            list.Add(s with
            {
                StartedAt = session.StartedAt < s.StartedAt ? session.StartedAt : s.StartedAt,
                FirstEventAt = time < s.FirstEventAt ? time : s.FirstEventAt,
                LastEventAt = time > s.LastEventAt ? time : s.LastEventAt,
                Events = s.Events + 1,
                PageViews = s.PageViews + page,
                Pages = page == 1 ? JoinPages(s.Pages, visit) : s.Pages,
            });
        }
        if (!found) list.Add(new SessionSummary(session.SessionId, session.StartedAt, time, time, 1, page) { Pages = visit });
        if (list.Count <= MaxRecentSessions) return found ? list : [.. list.OrderBy(s => s.StartedAt).ThenBy(s => s.SessionId, StringComparer.Ordinal)];
        // Keep the newest by start (ties by id): a session once pushed out never comes back, since starts only get newer.
        return [.. list.OrderByDescending(s => s.StartedAt).ThenByDescending(s => s.SessionId, StringComparer.Ordinal)
            .Take(MaxRecentSessions).OrderBy(s => s.StartedAt).ThenBy(s => s.SessionId, StringComparer.Ordinal)];
    }

    /// <summary>
    /// The buckets of two profiles of one person, as if every event of both had been added to one: counts and revenue
    /// summed per bucket, then whatever the newer watermark no longer keeps pruned (the rule <see cref="Add"/> follows).
    /// </summary>
    public static ActivityBuckets Merge(ActivityBuckets? into, ActivityBuckets? from, TimeSpan allowedLateness)
    {
        var merged = Copy(into);
        if (from?.Newest is not { } fromNewest) return merged;
        var newest = Math.Max(fromNewest.ToUnixTimeSeconds(), merged.Newest?.ToUnixTimeSeconds() ?? long.MinValue);
        merged.Newest = DateTimeOffset.FromUnixTimeSeconds(newest);
        AddAll(merged.Minutes, from.Minutes);
        AddAll(merged.Hours, from.Hours);
        AddAll(merged.Days, from.Days);
        Prune(merged.Minutes, Floor(newest - (long)MinuteRetention.TotalSeconds, Minute));
        Prune(merged.Hours, Floor(newest - (long)HourRetention.TotalSeconds, Hour));
        Prune(merged.Days, Floor(newest - (long)allowedLateness.TotalSeconds, Day));
        return merged;
    }

    /// <summary>The sessions of two profiles of one person: a session both hold is combined; the newest <see cref="MaxRecentSessions"/> kept.</summary>
    public static IReadOnlyList<SessionSummary> MergeSessions(IReadOnlyList<SessionSummary> into, IReadOnlyList<SessionSummary> from)
    {
        var byId = into.ToDictionary(s => s.SessionId, StringComparer.Ordinal);
        foreach (var s in from)
        {
            byId[s.SessionId] = byId.TryGetValue(s.SessionId, out var other)
                ? other with
                {
                    StartedAt = s.StartedAt < other.StartedAt ? s.StartedAt : other.StartedAt,
                    FirstEventAt = s.FirstEventAt < other.FirstEventAt ? s.FirstEventAt : other.FirstEventAt,
                    LastEventAt = s.LastEventAt > other.LastEventAt ? s.LastEventAt : other.LastEventAt,
                    Events = other.Events + s.Events,
                    PageViews = other.PageViews + s.PageViews,
                    Pages = JoinPages(other.Pages, s.Pages),
                }
                : s;
        }
        return [.. byId.Values.OrderByDescending(s => s.StartedAt).ThenByDescending(s => s.SessionId, StringComparer.Ordinal)
            .Take(MaxRecentSessions).OrderBy(s => s.StartedAt).ThenBy(s => s.SessionId, StringComparer.Ordinal)];
    }

    /// <summary>
    /// A session's page views: the first <see cref="MaxPagesPerSession"/> by time (then name), whatever order they came
    /// in, so dwell per page is order-independent.
    /// </summary>
    private static IReadOnlyList<PageVisit> JoinPages(IReadOnlyList<PageVisit> a, IReadOnlyList<PageVisit> b) =>
        [.. a.Concat(b).OrderBy(p => p.At).ThenBy(p => p.Name, StringComparer.Ordinal).Take(MaxPagesPerSession)];

    /// <summary>A page view's name: its <c>name</c>, else <c>properties.path</c>, else "(unnamed)"; at most 200 characters.</summary>
    public static string PageName(CollectedEvent e)
    {
        var name = e.Name is { Length: > 0 } n ? n : e.Properties?["path"] is JsonValue path && path.TryGetValue<string>(out var p) && p.Length > 0 ? p : "(unnamed)";
        return name.Length <= 200 ? name : name[..200];
    }

    public static PurchaseSummary? MergePurchases(PurchaseSummary? into, PurchaseSummary? from) => (into, from) switch
    {
        (null, _) => from,
        (_, null) => into,
        _ => new PurchaseSummary(into.Orders + from.Orders, into.Revenue + from.Revenue,
            into.LastOrderAt is { } a && (from.LastOrderAt is not { } b || a >= b) ? into.LastOrderAt : from.LastOrderAt),
    };

    /// <summary>The orders with this event counted when it is an order.</summary>
    public static PurchaseSummary? AddPurchase(PurchaseSummary? purchases, CollectedEvent e)
    {
        if (e.Type != EventTypes.Track || e.Event != ActivityKeys.OrderEvent) return purchases;
        var time = WindowTime(e);
        var current = purchases ?? new PurchaseSummary(0, 0m, null);
        return new PurchaseSummary(current.Orders + 1, current.Revenue + Revenue(e.Properties),
            current.LastOrderAt is { } last && last >= time ? last : time);
    }

    public static decimal Revenue(JsonObject? properties)
    {
        var value = properties?["revenue"] ?? properties?["total"];
        return SegmentRule.Number(value) is { } revenue && Math.Abs(revenue) <= MaxRevenue ? revenue : 0m;
    }

    private static void AddTo(SortedDictionary<long, ActivityBucket> buckets, long time, long size, long floor, EnrichedEvent enriched, decimal revenue)
    {
        var start = Floor(time, size);
        if (start < floor) return;
        if (!buckets.TryGetValue(start, out var bucket)) buckets[start] = bucket = new ActivityBucket();
        var e = enriched.Event;
        Increment(bucket, ActivityKeys.All);
        if (e.Type == EventTypes.Page) Increment(bucket, ActivityKeys.Page);
        else if (e.Type == EventTypes.Screen) Increment(bucket, ActivityKeys.Screen);
        else if (e.Type == EventTypes.Track && !string.IsNullOrEmpty(e.Event))
        {
            Increment(bucket, TrackKey(e.Event));
            if (e.Event == ActivityKeys.OrderEvent)
            {
                Increment(bucket, ActivityKeys.Order);
                bucket.Revenue += revenue;
            }
        }
        if (enriched.Session.IsNewSession) Increment(bucket, ActivityKeys.Session);
    }

    /// <summary>The count key of a track event: its name, with a name that starts with '$' given one more, so it never meets an <see cref="ActivityKeys"/> key.</summary>
    public static string TrackKey(string eventName) => eventName.StartsWith('$') ? "$" + eventName : eventName;

    /// <summary>The track event name of a count key, or null for an <see cref="ActivityKeys"/> key.</summary>
    public static string? EventName(string key) => !key.StartsWith('$') ? key : key.StartsWith("$$", StringComparison.Ordinal) ? key[1..] : null;

    private static void AddAll(SortedDictionary<long, ActivityBucket> into, SortedDictionary<long, ActivityBucket> from)
    {
        foreach (var (start, bucket) in from)
        {
            if (!into.TryGetValue(start, out var target)) into[start] = target = new ActivityBucket();
            foreach (var (key, count) in bucket.Counts) target.Counts[key] = target.Counts.GetValueOrDefault(key) + count;
            target.Revenue += bucket.Revenue;
        }
    }

    private static void Increment(ActivityBucket bucket, string key) => bucket.Counts[key] = bucket.Counts.GetValueOrDefault(key) + 1;

    private static void Prune(SortedDictionary<long, ActivityBucket> buckets, long floor)
    {
        while (buckets.Count > 0 && buckets.First().Key < floor) buckets.Remove(buckets.First().Key);
    }

    private static long Floor(long seconds, long size) => seconds - (((seconds % size) + size) % size);

    private static SortedDictionary<long, ActivityBucket> Copy(SortedDictionary<long, ActivityBucket> buckets)
    {
        var copy = new SortedDictionary<long, ActivityBucket>();
        foreach (var (start, bucket) in buckets)
        {
            copy[start] = new ActivityBucket { Counts = new Dictionary<string, long>(bucket.Counts, StringComparer.Ordinal), Revenue = bucket.Revenue };
        }
        return copy;
    }
}
