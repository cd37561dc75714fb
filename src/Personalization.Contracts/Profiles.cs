using System.Text.Json.Nodes;

namespace Personalization.Contracts;

/// <summary>
/// The materialized profile, as the aggregation service stores it in the Dapr state store under
/// <see cref="StateKeys.Profile"/> and the profile-query service serves it.
/// </summary>
public sealed record UserProfile
{
    public required string ProfileId { get; init; }
    public string? UserId { get; init; }
    public IReadOnlyList<string> AnonymousIds { get; init; } = [];
    /// <summary>
    /// Ids whose profiles were merged into this one by identity resolution (an anonymous id identified as this user, or
    /// an id aliased to it), in the order they were merged.
    /// </summary>
    public IReadOnlyList<string> MergedIds { get; init; } = [];
    /// <summary>
    /// Set only on what stays under an id once its profile was merged into another: the id of the profile it now belongs
    /// to (everything else is empty). Readers follow it; a writer that meets it folds into that profile instead.
    /// </summary>
    public string? MergedInto { get; init; }
    public JsonObject Traits { get; init; } = [];
    /// <summary>
    /// Per top-level trait: the event time of the identify that last set it. Lets traits merge by event time, so a
    /// late identify never overwrites a newer value. Added after the first cut; absent in older stored profiles.
    /// </summary>
    public IReadOnlyDictionary<string, DateTimeOffset> TraitsUpdatedAt { get; init; } = new Dictionary<string, DateTimeOffset>();
    /// <summary>Count per track event name.</summary>
    public IReadOnlyDictionary<string, long> EventCounts { get; init; } = new Dictionary<string, long>();
    public long PageViews { get; init; }
    public long ScreenViews { get; init; }
    public long Sessions { get; init; }
    public long TotalEvents { get; init; }
    public DateTimeOffset? FirstSeen { get; init; }
    public DateTimeOffset? LastSeen { get; init; }
    public DeviceContext? LastDevice { get; init; }
    /// <summary>Event-time buckets the windows are summed from. Added with the windows; absent in older stored profiles.</summary>
    public ActivityBuckets? Activity { get; init; }
    /// <summary>The newest sessions (by start), at most the aggregation service's limit.</summary>
    public IReadOnlyList<SessionSummary> RecentSessions { get; init; } = [];
    public PurchaseSummary? Purchases { get; init; }
    /// <summary>Windows, RFM, engagement and flags as of the profile's last change.</summary>
    public ProfileInsights? Insights { get; init; }
    /// <summary>The segments the profile is a member of, by segment id.</summary>
    public IReadOnlyDictionary<string, SegmentMembership> Segments { get; init; } = new Dictionary<string, SegmentMembership>();
    public long Version { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>Current consent of a user per purpose, as the consent service stores it.</summary>
public sealed record ConsentState(string UserId, IReadOnlyDictionary<string, bool> Purposes, DateTimeOffset UpdatedAt);

/// <summary>Dapr state component names and key shapes shared between services.</summary>
public static class StateKeys
{
    /// <summary>The Redis state component. Configured with keyPrefix "name", so every app sees the same keys.</summary>
    public const string Store = "statestore";

    /// <summary>What Dapr puts between a key's prefix and the key: a key (so an id in it) must not contain it.</summary>
    public const string Separator = "||";

    public static string Profile(string profileId) => $"profile:{profileId}";

    /// <summary>Why a message (by CloudEvent id) was last answered RETRY, kept a day for the dead-letter store.</summary>
    public static string DeadLetterReason(string cloudEventId) => $"dead-letter-reason:{cloudEventId}";

    /// <summary>The last <see cref="PipelineHeartbeat"/> aggregation saw.</summary>
    public const string Heartbeat = "heartbeat:pipeline";
    public static string Consent(string userId) => $"consent:{userId}";

    /// <summary>The enrichment service's session of a profile (current session and recently seen message ids).</summary>
    public static string Session(string profileId) => $"session:{profileId}";

    /// <summary>
    /// The aggregation service's record of the events folded into a profile within the de-duplication window: one key
    /// per profile (not per event), written with the profile, so erasure finds every message id of the user.
    /// </summary>
    public static string Seen(string profileId) => $"seen:{profileId}";

    /// <summary>The collector's marker that a message id was accepted (written with a TTL; holds no user id).</summary>
    public static string Dedupe(string messageId) => $"dedupe:{messageId}";

    /// <summary>
    /// The suppression marker of an erased user: keyed by a keyed hash of the id (<c>Privacy:HashKey</c>), never the id
    /// itself. While it exists, every stage drops the user's events.
    /// </summary>
    public static string Suppressed(string userIdHash) => $"suppressed:{userIdHash}";
}

/// <summary>
/// The pipeline's heartbeat: every few seconds the collector publishes one event for <see cref="ProfileId"/>, which
/// crosses every stage like a user's event; aggregation records how long it took instead of folding it into a profile
/// (<see cref="StateKeys.Heartbeat"/>), and profile-query's health reports it. The id is refused on ingestion.
/// </summary>
public static class Heartbeat
{
    public const string ProfileId = "__heartbeat__";
    public const string EventName = "Pipeline Heartbeat";
}

/// <summary>The last heartbeat through the pipeline, as aggregation stores it under <see cref="StateKeys.Heartbeat"/>.</summary>
public sealed record PipelineHeartbeat(DateTimeOffset SentAt, DateTimeOffset ArrivedAt, double LatencyMs);

/// <summary>A message's failures, as the consuming service records them under <see cref="StateKeys.DeadLetterReason"/>.</summary>
public sealed record RetryRecord(string Topic, string Reason, int Attempts, DateTimeOffset FirstFailedAt, DateTimeOffset LastFailedAt);

/// <summary>Consent purposes an event can need.</summary>
public static class Purposes
{
    public const string Analytics = "analytics";
    public const string Personalization = "personalization";
    public const string Marketing = "marketing";
}

/// <summary>
/// A profile's events by event time, in buckets of three sizes, each keyed by its start (Unix seconds, UTC): minutes
/// (kept 2 hours behind the profile's newest event), hours (kept 48 hours) and days (kept
/// <c>Aggregation:AllowedLateness</c>). What the sliding windows (1 h by minute, 24 h by hour, 7 d and 30 d by day)
/// are summed from. Written by the aggregation service's <c>ActivityFolder</c>.
/// </summary>
public sealed record ActivityBuckets
{
    /// <summary>The newest window time folded (an event's time, never later than when it was received).</summary>
    public DateTimeOffset? Newest { get; set; }
    public SortedDictionary<long, ActivityBucket> Minutes { get; init; } = [];
    public SortedDictionary<long, ActivityBucket> Hours { get; init; } = [];
    public SortedDictionary<long, ActivityBucket> Days { get; init; } = [];
}

/// <summary>
/// Events of one bucket, per key: <see cref="ActivityKeys"/> for all events, page and screen views, sessions started
/// and orders, and each track event by its name; plus the revenue of its orders.
/// </summary>
public sealed record ActivityBucket
{
    public Dictionary<string, long> Counts { get; init; } = new(StringComparer.Ordinal);
    public decimal Revenue { get; set; }
}

/// <summary>The keys of <see cref="ActivityBucket.Counts"/> that are not track event names (a name starting with '$' is stored with one more '$').</summary>
public static class ActivityKeys
{
    public const string All = "$all";
    public const string Page = "$page";
    public const string Screen = "$screen";
    public const string Session = "$session";
    public const string Order = "$order";

    /// <summary>The track event whose <c>revenue</c> (else <c>total</c>) property is an order's monetary value.</summary>
    public const string OrderEvent = "Order Completed";
}

/// <summary>One of a profile's recent sessions (from enrichment's sessions): its first and last event time and its events.</summary>
public sealed record SessionSummary(string SessionId, DateTimeOffset StartedAt, DateTimeOffset FirstEventAt, DateTimeOffset LastEventAt, long Events, long PageViews)
{
    /// <summary>The session's first page views by time (at most the aggregation service's limit), for dwell time per page.</summary>
    public IReadOnlyList<PageVisit> Pages { get; init; } = [];

    public double DwellSeconds => (LastEventAt - FirstEventAt).TotalSeconds;
}

/// <summary>A profile's orders over its lifetime (track events named <see cref="ActivityKeys.OrderEvent"/>).</summary>
public sealed record PurchaseSummary(long Orders, decimal Revenue, DateTimeOffset? LastOrderAt);

/// <summary>
/// What the aggregation service derived from a profile when it last changed (<see cref="EvaluatedAt"/>): the sliding
/// windows, recency/frequency/monetary figures, engagement, and the flags with their explanations.
/// </summary>
public sealed record ProfileInsights(
    DateTimeOffset EvaluatedAt,
    IReadOnlyDictionary<string, WindowFigures> Windows,
    RfmFigures Rfm,
    EngagementFigures Engagement,
    IReadOnlyDictionary<string, ProfileFlag> Flags);

/// <summary>The events of one sliding window: all, page/screen views, sessions started, orders and their revenue, and each track event by name.</summary>
public sealed record WindowFigures(long Events, long PageViews, long ScreenViews, long Sessions, long Orders, decimal Revenue, IReadOnlyDictionary<string, long> Counts);

/// <summary>Recency (days since the last event and the last order), frequency (orders in 30 days) and monetary value (revenue in 30 days).</summary>
public sealed record RfmFigures(double? DaysSinceLastSeen, double? DaysSinceLastOrder, long Orders30d, decimal Revenue30d);

/// <summary>
/// Engagement: events per active minute over the last hour (click frequency), the sessions' dwell time, and the daily
/// event baseline (an exponentially weighted average of the 4 weeks before the last 7 days) against the last 7 days.
/// </summary>
public sealed record EngagementFigures(
    long ActiveMinutesLastHour, double EventsPerActiveMinute, long PeakEventsPerMinuteLastHour,
    double? LastSessionDwellSeconds, double? AverageSessionDwellSeconds, double BaselineDailyEvents, double RecentDailyEvents,
    IReadOnlyDictionary<string, PageDwell> PageDwell);

/// <summary>A page view within a session: when, and the page's name (its <c>name</c>, else its <c>properties.path</c>).</summary>
public sealed record PageVisit(DateTimeOffset At, string Name);

/// <summary>
/// Dwell time on one page over the recent sessions: the views whose dwell is known (time to the session's next page
/// view, or to its last event for its last page) and their total and average seconds.
/// </summary>
public sealed record PageDwell(long Views, double TotalSeconds, double AverageSeconds);

/// <summary>A raised flag and why: the metric, its baseline, its current value, the threshold crossed, and since when.</summary>
public sealed record ProfileFlag(string Metric, double Baseline, double Current, double Threshold, DateTimeOffset Since, string Explanation);

/// <summary>Flag names of <see cref="ProfileInsights.Flags"/>.</summary>
public static class FlagNames
{
    public const string ChurnRisk = "churnRisk";
    public const string Anomaly = "anomaly";
}

/// <summary>A profile's membership of a segment: since when, why (the rule's conditions as they held), and the definition's version.</summary>
public sealed record SegmentMembership(string Name, DateTimeOffset EnteredAt, string Reason, long DefinitionVersion);

/// <summary>One segment a profile entered or left, and why.</summary>
public sealed record SegmentChange(string SegmentId, string Name, string Reason);

/// <summary>A profile's segment changes at one evaluation; inside a <see cref="SegmentsChangedBatch"/> on <see cref="Topics.SegmentsChanged"/>.</summary>
public sealed record SegmentsChanged(string ProfileId, IReadOnlyList<SegmentChange> Entered, IReadOnlyList<SegmentChange> Exited, DateTimeOffset ChangedAt);

/// <summary>Published on <see cref="Topics.SegmentsChanged"/>: every profile whose memberships one delivery (or a backfill page) changed.</summary>
public sealed record SegmentsChangedBatch(IReadOnlyList<SegmentsChanged> Changes);
