using System.Text.Json.Nodes;

namespace Personalization.Contracts;

/// <summary>Event types of the Segment spec.</summary>
public static class EventTypes
{
    public const string Track = "track";
    public const string Identify = "identify";
    public const string Page = "page";
    public const string Screen = "screen";
    public const string Group = "group";
    public const string Alias = "alias";
}

/// <summary>
/// One user event, with the Segment spec's field names (serialized camelCase, as Segment sends them).
/// Published on <see cref="Topics.EventsCollected"/> after validation and normalization, and on
/// <see cref="Topics.EventsConsented"/> unchanged once consent let it through.
/// </summary>
public sealed record CollectedEvent
{
    public required string Type { get; init; }
    public required string MessageId { get; init; }
    public string? AnonymousId { get; init; }
    public string? UserId { get; init; }
    /// <summary>Track: the event name.</summary>
    public string? Event { get; init; }
    /// <summary>Page / screen: the page or screen name.</summary>
    public string? Name { get; init; }
    public string? Category { get; init; }
    /// <summary>Group: the group joined.</summary>
    public string? GroupId { get; init; }
    /// <summary>Alias: the id being merged into <see cref="UserId"/>.</summary>
    public string? PreviousId { get; init; }
    public JsonObject? Properties { get; init; }
    public JsonObject? Traits { get; init; }
    public JsonObject? Context { get; init; }
    public JsonObject? Integrations { get; init; }
    /// <summary>Event time, corrected for client clock skew (the time windows use).</summary>
    public required DateTimeOffset Timestamp { get; init; }
    /// <summary>When the client says it sent the request.</summary>
    public DateTimeOffset? SentAt { get; init; }
    /// <summary>When the collector received it.</summary>
    public required DateTimeOffset ReceivedAt { get; init; }
    /// <summary>The timestamp the client gave, before skew correction.</summary>
    public DateTimeOffset? OriginalTimestamp { get; init; }
    /// <summary>The write key's source name; not part of Segment's payload, set by the collector.</summary>
    public string? Source { get; init; }
    /// <summary>
    /// Opt-out signals the request carried (<see cref="PrivacySignals"/>: <c>Sec-GPC: 1</c>, <c>DNT: 1</c>); set by the
    /// collector from the request's headers, never from the payload.
    /// </summary>
    public IReadOnlyList<string>? Signals { get; init; }
    /// <summary>
    /// The purposes consent found granted for this event when it let it through (those the event needs, and those every
    /// profile needs); set by the consent service. Later stages drop the event when one of them has been revoked since.
    /// </summary>
    public IReadOnlyList<string>? Purposes { get; init; }

    /// <summary>Whose profile this event belongs to: the user id when known, else the anonymous id.</summary>
    public string ProfileId => UserId ?? AnonymousId ?? throw new InvalidOperationException($"Event {MessageId} has neither userId nor anonymousId");
}

/// <summary>
/// Several events in one broker message: what the collector publishes on <see cref="Topics.EventsCollected"/> (the
/// events of one request) and consent on <see cref="Topics.EventsConsented"/> (those of one collected message that it
/// let through). One message per request rather than per event: each broker message costs a publish confirm and a
/// delivery at every stage, and that per-message cost, not the events, was what bounded throughput. Consumers also
/// accept a message holding a single <see cref="CollectedEvent"/>.
/// </summary>
public sealed record CollectedEventBatch(IReadOnlyList<CollectedEvent> Events);

/// <summary>The enriched events of one consented message, published on <see cref="Topics.EventsEnriched"/>.</summary>
public sealed record EnrichedEventBatch(IReadOnlyList<EnrichedEvent> Events);

/// <summary>Context the enrichment service adds. Published on <see cref="Topics.EventsEnriched"/>, inside an <see cref="EnrichedEventBatch"/>.</summary>
public sealed record EnrichedEvent(CollectedEvent Event, SessionContext Session, DeviceContext Device, GeoContext? Geo)
{
    /// <summary>Whether the event looks automated, and why. Added after the first cut; absent in older messages.</summary>
    public BotVerdict? Bot { get; init; }

    /// <summary>
    /// The profile's traits as the materialized profile (<see cref="StateKeys.Profile"/>) held them when the event was
    /// enriched (the event's own traits are not folded in yet); null when the profile has none or the service is set not
    /// to add them.
    /// </summary>
    public JsonObject? ProfileTraits { get; init; }

    /// <summary>
    /// What the configured third-party enrichment provider answered for this event; null when none is configured, or
    /// when it failed, timed out or its circuit was open (the event then goes on without it).
    /// </summary>
    public JsonObject? Provider { get; init; }
}

/// <summary>
/// The bot verdict of an event: <see cref="Signal"/> names what gave it away (<see cref="BotSignals"/>), <see cref="Reason"/>
/// says how, in words; both null for an event that looks human.
/// </summary>
public sealed record BotVerdict(bool IsBot, string? Signal, string? Reason);

/// <summary>What can mark an event as a bot's (<see cref="BotVerdict.Signal"/>).</summary>
public static class BotSignals
{
    /// <summary>The user agent names a crawler, a headless browser or an HTTP library.</summary>
    public const string UserAgent = "userAgent";
    /// <summary>The profile sent more events within the rate window (event time) than a person can.</summary>
    public const string Rate = "rate";
}

/// <summary>A session: events of one profile with no gap longer than the inactivity timeout.</summary>
public sealed record SessionContext(string SessionId, int Sequence, bool IsNewSession, DateTimeOffset StartedAt);

/// <summary>What the user agent says about the device.</summary>
public sealed record DeviceContext(string DeviceType, string? Os, string? OsVersion, string? Browser, string? BrowserVersion);

public sealed record GeoContext(string? Country, string? Region, string? City)
{
    /// <summary>Where the place came from (<see cref="GeoSources"/>). Added after the first cut; absent in older messages.</summary>
    public string? Source { get; init; }
    public string? PostalCode { get; init; }
    public double? Latitude { get; init; }
    public double? Longitude { get; init; }
    /// <summary>IANA time zone, e.g. <c>Europe/London</c>.</summary>
    public string? TimeZone { get; init; }
}

/// <summary>Where an event's <see cref="GeoContext"/> came from.</summary>
public static class GeoSources
{
    /// <summary>The event's own <c>context.location</c>.</summary>
    public const string Location = "location";
    /// <summary>A configured network (<c>Enrichment:GeoNetworks</c>) matched <c>context.ip</c>.</summary>
    public const string Network = "network";
    /// <summary>The IP geolocation database (<c>Enrichment:GeoDatabase</c>) knew <c>context.ip</c>.</summary>
    public const string Database = "database";
}

/// <summary>A profile's new version, inside a <see cref="ProfileUpdateBatch"/>; caused by the last event folded into it.</summary>
public sealed record ProfileUpdated(string ProfileId, long Version, DateTimeOffset UpdatedAt, string CausedByMessageId, DateTimeOffset CausedByReceivedAt);

/// <summary>Published on <see cref="Topics.ProfilesUpdated"/>: the profiles one delivery of events changed, one message per delivery.</summary>
public sealed record ProfileUpdateBatch(IReadOnlyList<ProfileUpdated> Profiles);

/// <summary>Published on <see cref="Topics.ConsentChanged"/> when a user's consent changes.</summary>
public sealed record ConsentChanged(string UserId, IReadOnlyDictionary<string, bool> Purposes, DateTimeOffset ChangedAt);

/// <summary>Opt-out signals a request can carry, as <see cref="CollectedEvent.Signals"/> names them.</summary>
public static class PrivacySignals
{
    /// <summary>Global Privacy Control: <c>Sec-GPC: 1</c>.</summary>
    public const string Gpc = "gpc";
    /// <summary>Do Not Track: <c>DNT: 1</c>.</summary>
    public const string Dnt = "dnt";
}
