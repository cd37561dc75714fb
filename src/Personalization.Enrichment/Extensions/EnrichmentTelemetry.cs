using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Personalization.Enrichment.Extensions;

/// <summary>Meter and activity source <c>Personalization.Enrichment</c>, and the service's log messages.</summary>
public sealed partial class EnrichmentTelemetry : IDisposable
{
    public const string Name = "Personalization.Enrichment";
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Meter _meter;

    public EnrichmentTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        Enriched = _meter.CreateCounter<long>("enrichment.events", "{event}", "Events enriched and published, per device type");
        Sessions = _meter.CreateCounter<long>("enrichment.sessions.started", "{session}", "Sessions opened");
        Redeliveries = _meter.CreateCounter<long>("enrichment.redeliveries", "{event}", "Events seen before, answered with their first session");
        Late = _meter.CreateCounter<long>("enrichment.late_events", "{event}", "Events older than the current session by more than the timeout");
        Dropped = _meter.CreateCounter<long>("enrichment.events.dropped", "{event}", "Events dropped: their user was erased, or a purpose they relied on was revoked after consent let them through; per reason");
        Conflicts = _meter.CreateCounter<long>("enrichment.session.conflicts", "{conflict}", "Session writes that lost an etag race and were redone");
    }

    public Counter<long> Enriched { get; }
    public Counter<long> Sessions { get; }
    public Counter<long> Redeliveries { get; }
    public Counter<long> Late { get; }
    public Counter<long> Dropped { get; }
    public Counter<long> Conflicts { get; }

    public void Dispose() => _meter.Dispose();
}
