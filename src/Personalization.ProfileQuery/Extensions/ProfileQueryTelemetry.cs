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
    }

    public Histogram<double> ReadDuration { get; }

    public void Dispose() => _meter.Dispose();
}
