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
        Duplicates = _meter.CreateCounter<long>("aggregation.events.duplicates", "{event}", "Redelivered events skipped because the profile has folded them already");
        Withheld = _meter.CreateCounter<long>("aggregation.events.withheld", "{event}", "Events not folded: their user was erased, or a purpose they relied on was revoked after consent let them through; per reason");
        HeartbeatLatency = _meter.CreateHistogram<double>("pipeline.heartbeat.latency", "ms", "From the collector publishing the pipeline's heartbeat to aggregation taking it, through every stage");
        Conflicts = _meter.CreateCounter<long>("aggregation.profile.conflicts", "{conflict}", "Profile writes that lost an etag race and were redone");
        Late = _meter.CreateCounter<long>("aggregation.events.late", "{event}", "Events behind their profile's watermark (newest event − Aggregation:AllowedLateness): counted in lifetime counters only, not in windows");
        PostgresUnavailable = _meter.CreateCounter<long>("aggregation.postgres.unavailable", "{delivery}", "Deliveries folded without PostgreSQL (restarting): no identity links made or read, profiles not listed; per step");
        Reevaluated = _meter.CreateCounter<long>("aggregation.profiles.reevaluated", "{profile}", "Profiles evaluated again because time alone changed their windows, flags or segments (due evaluation)");
        Merged = _meter.CreateCounter<long>("aggregation.profiles.merged", "{profile}", "Profiles of linked ids (identify, alias) merged into their master's profile");
        SegmentEntries = _meter.CreateCounter<long>("aggregation.segments.changes", "{change}", "Profiles entering or leaving a segment, per change (entered, exited)");
    }

    public Histogram<double> Freshness { get; }
    public Counter<long> Folded { get; }
    public Counter<long> Duplicates { get; }
    public Counter<long> Withheld { get; }
    public Histogram<double> HeartbeatLatency { get; }
    public Counter<long> Conflicts { get; }
    public Counter<long> Late { get; }
    public Counter<long> Merged { get; }
    public Counter<long> Reevaluated { get; }
    public Counter<long> PostgresUnavailable { get; }
    public Counter<long> SegmentEntries { get; }

    public void CountSegmentChanges(IReadOnlyList<Contracts.SegmentsChanged> changes)
    {
        long entered = 0, exited = 0;
        foreach (var change in changes)
        {
            entered += change.Entered.Count;
            exited += change.Exited.Count;
        }
        if (entered > 0) SegmentEntries.Add(entered, new KeyValuePair<string, object?>("change", "entered"));
        if (exited > 0) SegmentEntries.Add(exited, new KeyValuePair<string, object?>("change", "exited"));
    }

    public void Dispose() => _meter.Dispose();
}
