using System.Text.Json.Serialization.Metadata;
using Personalization.Contracts;

namespace Personalization.Streaming;

/// <summary>
/// A topic of events, how its events are read, what each must hold to be processed at all, and the property of a
/// message that holds several (<paramref name="Many"/>: <c>{"events": […]}</c> unless the topic's batch names it otherwise).
/// </summary>
public sealed record EventTopic<T>(string Name, JsonTypeInfo<T> EventType, Func<T, string?> Problem, string Many = "events");

/// <summary>The event topics the consuming services subscribe to.</summary>
public static class EventTopics
{
    public static EventTopic<CollectedEvent> Collected { get; } = new(Topics.EventsCollected, ContractsJsonContext.Default.CollectedEvent, ProblemOf);

    public static EventTopic<CollectedEvent> Consented { get; } = new(Topics.EventsConsented, ContractsJsonContext.Default.CollectedEvent, ProblemOf);

    public static EventTopic<EnrichedEvent> Enriched { get; } = new(Topics.EventsEnriched, ContractsJsonContext.Default.EnrichedEvent,
        e => e.Event is null ? "the enriched event has no event" : ProblemOf(e.Event));

    /// <summary>Events that broke their tracking plan (a <see cref="QuarantinedEventBatch"/> per message), kept by consent.</summary>
    public static EventTopic<QuarantinedEvent> Quarantined { get; } = new(Topics.EventsQuarantined, ContractsJsonContext.Default.QuarantinedEvent,
        q => q.Event is null ? "the quarantined entry has no event" : ProblemOf(q.Event));

    /// <summary>Profiles aggregation changed (a <see cref="ProfileUpdateBatch"/> per message), for what serves them live.</summary>
    public static EventTopic<ProfileUpdated> ProfilesUpdated { get; } = new(Topics.ProfilesUpdated, ContractsJsonContext.Default.ProfileUpdated,
        p => string.IsNullOrEmpty(p.ProfileId) ? "the update names no profile" : null, "profiles");

    /// <summary>Segment entries and exits (a <see cref="SegmentsChangedBatch"/> per message).</summary>
    public static EventTopic<SegmentsChanged> SegmentsChanged { get; } = new(Topics.SegmentsChanged, ContractsJsonContext.Default.SegmentsChanged,
        c => string.IsNullOrEmpty(c.ProfileId) ? "the change names no profile" : null, "changes");

    /// <summary>Every stage keys its state by profile and is idempotent on message id: an event without them is poison.</summary>
    private static string? ProblemOf(CollectedEvent e) =>
        string.IsNullOrEmpty(e.MessageId) ? "the event has no messageId"
        : string.IsNullOrEmpty(e.UserId) && string.IsNullOrEmpty(e.AnonymousId) ? $"event {e.MessageId} has neither userId nor anonymousId"
        : null;
}
