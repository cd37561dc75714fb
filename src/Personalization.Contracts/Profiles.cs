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
