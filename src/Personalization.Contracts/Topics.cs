namespace Personalization.Contracts;

/// <summary>Pub/sub component and topic names every service agrees on.</summary>
public static class Topics
{
    /// <summary>The Dapr pub/sub component (RabbitMQ locally).</summary>
    public const string PubSub = "pubsub";

    public const string EventsCollected = "events.collected";
    public const string EventsConsented = "events.consented";
    public const string EventsEnriched = "events.enriched";
    public const string ProfilesUpdated = "profiles.updated";
    public const string SegmentsChanged = "segments.changed";
    public const string ConsentChanged = "consent.changed";

    /// <summary>
    /// Events that broke their tracking plan (<see cref="QuarantinedEventBatch"/>): the collector publishes them, consent
    /// keeps them for listing and replay.
    /// </summary>
    public const string EventsQuarantined = "events.quarantined";

    /// <summary>Dead-letter topic of a topic: where messages go after their last failed delivery.</summary>
    public static string DeadLetterOf(string topic) => topic + ".dead-letter";
}
