using System.Diagnostics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Samples at most <c>tracesPerSecond</c> new traces per second (a token bucket holding one second's worth), and none
/// beyond: every trace at the rate of someone trying the system, a bounded trickle under load, so exporting spans never
/// becomes the load. Used as the root sampler of a parent-based one, so a trace sampled where it began is sampled in
/// every service and sidecar it crosses. Written here because OpenTelemetry .NET ships only ratio-based samplers.
/// </summary>
public sealed class RateLimitingSampler : Sampler
{
    private readonly double _perSecond;
    private readonly Lock _lock = new();
    private double _tokens;
    private long _refilledAt = Stopwatch.GetTimestamp();

    public RateLimitingSampler(double tracesPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tracesPerSecond);
        _perSecond = tracesPerSecond;
        _tokens = Math.Max(1, tracesPerSecond);
        Description = $"RateLimitingSampler{{{tracesPerSecond}/s}}";
    }

    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters) =>
        new(TryTake() ? SamplingDecision.RecordAndSample : SamplingDecision.Drop);

    private bool TryTake()
    {
        if (_perSecond == 0) return false;
        lock (_lock)
        {
            var now = Stopwatch.GetTimestamp();
            _tokens = Math.Min(Math.Max(1, _perSecond), _tokens + Stopwatch.GetElapsedTime(_refilledAt, now).TotalSeconds * _perSecond);
            _refilledAt = now;
            if (_tokens < 1) return false;
            _tokens -= 1;
            return true;
        }
    }
}
