using System.Diagnostics;
using Personalization.Sidecar.Components;

namespace Personalization.Sidecar.Tests;

public sealed class SidecarTracingTests : IDisposable
{
    private readonly ActivityListener _listener;
    private int _started;

    public SidecarTracingTests()
    {
        // Stands in for OpenTelemetry's parent-based listener: records whatever it is asked about.
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == SidecarTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = _ => Interlocked.Increment(ref _started),
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose() => _listener.Dispose();

    private static ActivityContext Parent(bool sampled) =>
        new(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), sampled ? ActivityTraceFlags.Recorded : ActivityTraceFlags.None, isRemote: true);

    [Fact]
    public void DeliveryOfASampledTraceGetsASpanInThatTrace()
    {
        var parent = Parent(sampled: true);
        using var span = new SidecarTracing(0.01).StartDelivery("orders", parent);

        Assert.NotNull(span);
        Assert.Equal(parent.TraceId, span.TraceId);
        Assert.Equal(parent.SpanId, span.ParentSpanId);
        Assert.Equal("orders deliver", span.DisplayName);
    }

    [Fact]
    public void DeliveryOfAnUnsampledTraceStartsNoActivityEvenAtRateOne()
    {
        var before = Volatile.Read(ref _started);
        var span = new SidecarTracing(1).StartDelivery("orders", Parent(sampled: false));

        Assert.Null(span);
        Assert.Equal(before, Volatile.Read(ref _started));
    }

    [Fact]
    public void PublishFollowsTheSampledFlagOfTheCallersSpan()
    {
        var tracing = new SidecarTracing(1);
        using var unsampledCaller = new Activity("call") { ActivityTraceFlags = ActivityTraceFlags.None }.Start();
        Assert.Null(tracing.StartPublish("orders", unsampledCaller));
        unsampledCaller.Stop();

        using var sampledCaller = new Activity("call") { ActivityTraceFlags = ActivityTraceFlags.Recorded }.Start();
        using var span = tracing.StartPublish("orders", sampledCaller);
        Assert.NotNull(span);
        Assert.Equal(sampledCaller.TraceId, span.TraceId);
    }

    [Fact]
    public void WithoutTraceContextTheConfiguredRateDecides()
    {
        Assert.NotNull(new SidecarTracing(1).StartDelivery("orders", default));

        var rare = new SidecarTracing(1e-12);
        var before = Volatile.Read(ref _started);
        for (var i = 0; i < 1000; i++) Assert.Null(rare.StartDelivery("orders", default));
        Assert.Equal(before, Volatile.Read(ref _started));
    }

    [Fact]
    public void RateZeroTurnsTheSidecarsSpansOffEvenInSampledTraces()
    {
        var off = new SidecarTracing(0);

        Assert.False(off.Enabled);
        Assert.Null(off.StartDelivery("orders", Parent(sampled: true)));
    }

    [Fact]
    public void SamplingRateIsReadFromTheConfiguration()
    {
        var documents = ResourceLoader.Parse("""
            apiVersion: dapr.io/v1alpha1
            kind: Configuration
            metadata:
              name: daprconfig
            spec:
              tracing:
                samplingRate: "0.25"
            """, "config.yaml");

        Assert.Equal(0.25, SidecarTracing.SamplingRate(documents));
        Assert.Null(SidecarTracing.SamplingRate([]));
    }

    [Fact]
    public void ASamplingRateThatIsNotANumberStopsTheStart()
    {
        var documents = ResourceLoader.Parse("""
            apiVersion: dapr.io/v1alpha1
            kind: Configuration
            metadata:
              name: daprconfig
            spec:
              tracing:
                samplingRate: "often"
            """, "config.yaml");

        var error = Assert.Throws<ResourceException>(() => SidecarTracing.SamplingRate(documents));
        Assert.Contains("often", error.Message, StringComparison.Ordinal);
    }
}
