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
        Bots = _meter.CreateCounter<long>("enrichment.bots", "{event}", "Events marked as a bot's, per signal (userAgent, rate)");
        Geo = _meter.CreateCounter<long>("enrichment.geo", "{event}", "Events enriched, per geo source (location, network, database, none)");
        ProfileTraits = _meter.CreateCounter<long>("enrichment.profile_traits", "{event}", "Events that got their profile's current traits");
        ProviderCalls = _meter.CreateCounter<long>("enrichment.provider.calls", "{call}", "Calls to the third-party enrichment provider, per outcome (enriched, failed, timeout, circuit_open, invalid_answer)");
        ProviderDuration = _meter.CreateHistogram<double>("enrichment.provider.duration", "s", "How long a call to the third-party enrichment provider took, retries included, per outcome");
        ProviderEvents = _meter.CreateCounter<long>("enrichment.provider.events", "{event}", "Events sent to the third-party enrichment provider, per outcome (enriched, unenriched)");
    }

    public Counter<long> Enriched { get; }
    public Counter<long> Sessions { get; }
    public Counter<long> Redeliveries { get; }
    public Counter<long> Late { get; }
    public Counter<long> Dropped { get; }
    public Counter<long> Conflicts { get; }
    public Counter<long> Bots { get; }
    public Counter<long> Geo { get; }
    public Counter<long> ProfileTraits { get; }
    public Counter<long> ProviderCalls { get; }
    public Histogram<double> ProviderDuration { get; }
    public Counter<long> ProviderEvents { get; }

    public void Dispose() => _meter.Dispose();
}
