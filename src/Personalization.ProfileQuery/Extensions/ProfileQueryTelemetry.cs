using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Personalization.ProfileQuery.Extensions;

/// <summary>Meter and activity source <c>Personalization.ProfileQuery</c>.</summary>
public sealed class ProfileQueryTelemetry : IDisposable
{
    public const string Name = "Personalization.ProfileQuery";
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Meter _meter;

    public ProfileQueryTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        ReadDuration = _meter.CreateHistogram<double>("profile_query.read.duration", "ms", "Time to read a profile and its consent from the state store, per outcome");
        DecideDuration = _meter.CreateHistogram<double>("profile_query.decide.duration", "ms", "Time to answer a decision request");
        StreamsOpen = _meter.CreateUpDownCounter<int>("profile_query.streams.open", "{stream}", "Live streams open (server-sent events and WebSocket)");
        Pushed = _meter.CreateCounter<long>("profile_query.streams.pushed", "{offer}", "Changes offered to live streams, by type");
        Dropped = _meter.CreateCounter<long>("profile_query.streams.dropped", "{stream}", "Live streams dropped because their reader fell a whole outbox behind");
        PushLatency = _meter.CreateHistogram<double>("profile_query.push.latency", "ms", "From the causing event's arrival at the collector to its profile change offered to the streams");
    }

    public Histogram<double> ReadDuration { get; }
    public Histogram<double> DecideDuration { get; }
    public UpDownCounter<int> StreamsOpen { get; }
    public Counter<long> Pushed { get; }
    public Counter<long> Dropped { get; }
    public Histogram<double> PushLatency { get; }

    public void Dispose() => _meter.Dispose();
}
