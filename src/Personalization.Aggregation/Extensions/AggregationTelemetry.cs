using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Personalization.Aggregation.Extensions;

/// <summary>Meter and activity source <c>Personalization.Aggregation</c>, and the service's log messages.</summary>
public sealed partial class AggregationTelemetry : IDisposable
{
    public const string Name = "Personalization.Aggregation";
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Meter _meter;

    public AggregationTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        Freshness = _meter.CreateHistogram<double>("aggregation.freshness", "ms", "From the collector receiving an event to its profile being written");
        Folded = _meter.CreateCounter<long>("aggregation.events.folded", "{event}", "Events folded into a profile, per event type");
        Duplicates = _meter.CreateCounter<long>("aggregation.events.duplicates", "{event}", "Redelivered events skipped because their seen-marker exists");
        Conflicts = _meter.CreateCounter<long>("aggregation.profile.conflicts", "{conflict}", "Profile writes that lost an etag race and were redone");
        DeadLettered = _meter.CreateCounter<long>("aggregation.dead_lettered", "{event}", "Messages that landed in the dead-letter topic of an aggregation subscription");
    }

    public Histogram<double> Freshness { get; }
    public Counter<long> Folded { get; }
    public Counter<long> Duplicates { get; }
    public Counter<long> Conflicts { get; }
    public Counter<long> DeadLettered { get; }

    public void Dispose() => _meter.Dispose();

    [LoggerMessage(Level = LogLevel.Debug, Message = "Event {MessageId} already folded into {ProfileId} (version {Version}); skipped")]
    public static partial void Duplicate(ILogger logger, string messageId, string profileId, long version);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Profile {ProfileId} changed while folding {MessageId} (attempt {Attempt}): {Reason}")]
    public static partial void Conflict(ILogger logger, string profileId, string messageId, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Message {CloudEventId} landed in dead-letter topic {Topic}")]
    public static partial void DeadLetter(ILogger logger, string? cloudEventId, string topic);
}
