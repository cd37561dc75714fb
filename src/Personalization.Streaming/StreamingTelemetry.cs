using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Personalization.Streaming;

/// <summary>
/// Meter and activity source <c>Personalization.Streaming</c>: what every consuming service reports the same way about
/// its subscriptions. Instruments are recorded once per delivery, never per event.
/// </summary>
public sealed partial class StreamingTelemetry : IDisposable
{
    public const string Name = "Personalization.Streaming";
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Meter _meter;

    public StreamingTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        BatchMessages = _meter.CreateHistogram<int>("stream.delivery.messages", "{message}", "Broker messages per bulk delivery");
        Messages = _meter.CreateCounter<long>("stream.messages", "{message}", "Broker messages handled, per topic and outcome (success, retry)");
        Events = _meter.CreateCounter<long>("stream.events", "{event}", "Events in the messages handled, per topic");
        DeadLettered = _meter.CreateCounter<long>("stream.dead_lettered", "{message}", "Messages that landed in a subscription's dead-letter topic");
    }

    public Histogram<int> BatchMessages { get; }
    public Counter<long> Messages { get; }
    public Counter<long> Events { get; }
    public Counter<long> DeadLettered { get; }

    public void Dispose() => _meter.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Message {EntryId} of {Topic} is retried: {Reason}")]
    public static partial void MessageRetried(ILogger logger, string entryId, string topic, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivery of {Count} messages of {Topic} failed as a whole; every message is retried")]
    public static partial void DeliveryFailed(ILogger logger, int count, string topic, Exception error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Why {Count} messages of {Topic} failed was not recorded: {Reason}")]
    public static partial void RetryRecordFailed(ILogger logger, int count, string topic, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Personalization revoked: {Count} keys of derived data deleted")]
    public static partial void PersonalizationWithdrawn(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Message {CloudEventId} landed in dead-letter topic {Topic}")]
    public static partial void DeadLetter(ILogger logger, string? cloudEventId, string topic);
}
