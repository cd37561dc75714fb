using System.Diagnostics;
using System.Globalization;
using OpenTelemetry.Trace;
using Personalization.Sidecar.Components;

namespace Personalization.Sidecar;

/// <summary>
/// daprd's tracing sampling, from the Configuration's <c>spec.tracing.samplingRate</c>: parent-based, so a message or
/// call whose trace was sampled upstream is traced here and one whose trace was not is not; the rate applies only to
/// traces that start in the sidecar. <c>"0"</c> turns the sidecar's spans off (trace context is still passed on); no
/// rate configured leaves the root decision to the platform's default sampler.
/// <para>
/// The decision is taken before a span is started, so an unsampled message or call costs no <see cref="Activity"/>:
/// OpenTelemetry would create one anyway to carry the trace id of a dropped root or remote-parented span.
/// </para>
/// </summary>
public sealed class SidecarTracing
{
    // Marks a root span the sidecar already decided to sample, so RootSampler does not draw a second time.
    private static readonly KeyValuePair<string, object?>[] Decided = [new(RootSampler.DecidedTag, 1)];

    public SidecarTracing(double? samplingRate) =>
        (Enabled, RootRate) = (samplingRate is not <= 0, samplingRate is { } rate ? Math.Min(rate, 1) : null);

    /// <summary>False when <c>samplingRate</c> is 0: no spans at all, as in daprd.</summary>
    public bool Enabled { get; }

    /// <summary>The share of sidecar-started traces that are sampled; null when the platform's default sampler decides.</summary>
    public double? RootRate { get; }

    /// <summary>Reads <c>spec.tracing.samplingRate</c> of the Configuration documents; null when none sets it.</summary>
    public static double? SamplingRate(IEnumerable<ResourceDocument> documents)
    {
        double? rate = null;
        foreach (var doc in documents.Where(d => d.Kind == "Configuration"))
        {
            if (doc.Spec.Map("tracing")?.String("samplingRate") is not { Length: > 0 } text) continue;
            rate = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r >= 0
                ? r
                : throw new ResourceException($"{doc.Source}: spec.tracing.samplingRate '{text}' is not a number from 0 to 1");
        }
        return rate;
    }

    /// <summary>
    /// The span of a publish inside the current request (whose span, when there is one, is the parent), or null when that
    /// trace is not sampled.
    /// </summary>
    public Activity? StartPublish(string topic, Activity? current)
    {
        if (!Enabled || !SidecarTelemetry.Source.HasListeners()) return null;
        if (current is not null) return current.Recorded ? SidecarTelemetry.Source.StartActivity(topic + " publish", ActivityKind.Producer) : null;
        return StartRoot(topic + " publish", ActivityKind.Producer);
    }

    /// <summary>The span of a delivery whose message carries <paramref name="parent"/> (default: none), or null when not sampled.</summary>
    public Activity? StartDelivery(string topic, in ActivityContext parent)
    {
        if (!Enabled || !SidecarTelemetry.Source.HasListeners()) return null;
        if (parent != default)
        {
            return (parent.TraceFlags & ActivityTraceFlags.Recorded) != 0
                ? SidecarTelemetry.Source.StartActivity(topic + " deliver", ActivityKind.Consumer, parent)
                : null;
        }
        return StartRoot(topic + " deliver", ActivityKind.Consumer);
    }

    private Activity? StartRoot(string name, ActivityKind kind)
    {
        if (RootRate is not { } rate) return SidecarTelemetry.Source.StartActivity(name, kind);
        if (rate < 1 && Random.Shared.NextDouble() >= rate) return null;
        return SidecarTelemetry.Source.StartActivity(name, kind, default(ActivityContext), Decided);
    }

    /// <summary>
    /// The root sampler under OpenTelemetry's parent-based one: the configured rate by trace id for spans that start in
    /// the sidecar (ASP.NET Core's server span of a call without trace context), and yes for a span the sidecar already
    /// drew for.
    /// </summary>
    public sealed class RootSampler(double rate) : Sampler
    {
        public const string DecidedTag = "sidecar.sampling.decided";
        private readonly TraceIdRatioBasedSampler _ratio = new(Math.Min(rate, 1));

        public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
        {
            if (samplingParameters.Tags is { } tags)
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == DecidedTag) return new SamplingResult(SamplingDecision.RecordAndSample);
                }
            }
            return _ratio.ShouldSample(samplingParameters);
        }
    }
}
