using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Personalization.Sidecar;

/// <summary>The sidecar's own spans and metrics (exported over OTLP by ServiceDefaults, which listens to "Personalization.*").</summary>
public static class SidecarTelemetry
{
    public const string Name = "Personalization.Sidecar";
    public static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);

    public static readonly Counter<long> Published = Meter.CreateCounter<long>("sidecar.pubsub.published", "{message}", "Messages published to a pub/sub component");
    public static readonly Counter<long> Delivered = Meter.CreateCounter<long>("sidecar.pubsub.delivered", "{message}", "Messages the app acknowledged");
    public static readonly Counter<long> Retried = Meter.CreateCounter<long>("sidecar.pubsub.retried", "{attempt}", "Delivery attempts retried after a failure");
    public static readonly Counter<long> DeadLettered = Meter.CreateCounter<long>("sidecar.pubsub.dead_lettered", "{message}", "Messages moved to their dead-letter topic");
    public static readonly Counter<long> Failed = Meter.CreateCounter<long>("sidecar.pubsub.failed", "{message}", "Messages given back to the broker (nack) after failing");
    public static readonly Histogram<double> DeliveryDuration = Meter.CreateHistogram<double>(
        "sidecar.pubsub.delivery.duration", "ms", "Time from receiving a message to the app's acknowledgement, retries included");

    public static TagList Tags(string pubsub, string topic) => new() { { "pubsub", pubsub }, { "topic", topic } };
}
