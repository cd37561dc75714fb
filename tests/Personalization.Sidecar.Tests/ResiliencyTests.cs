using Personalization.Sidecar.Components;
using Personalization.Sidecar.Subscriptions;

namespace Personalization.Sidecar.Tests;

public sealed class ResiliencyTests
{
    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private const string Yaml = """
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata: {name: resiliency}
        spec:
          policies:
            timeouts: {general: 5s}
            retries:
              pubsubRetry: {policy: constant, duration: 200ms, maxRetries: 3}
              slow: {policy: exponential, maxInterval: 2s}
            circuitBreakers:
              pubsubCB: {maxRequests: 1, interval: 8s, timeout: 30s, trip: consecutiveFailures > 2}
          targets:
            components:
              pubsub:
                inbound: {timeout: general, retry: pubsubRetry, circuitBreaker: pubsubCB}
        """;

    [Fact]
    public void TheInboundPolicyOfAComponentIsAssembledFromNamedPolicies()
    {
        var config = ResiliencyConfig.FromDocuments(ResourceLoader.Parse(Yaml, "r.yaml"), "app", TimeProvider.System);

        var policy = config.InboundFor("pubsub");

        Assert.Equal(TimeSpan.FromSeconds(5), policy.Timeout);
        Assert.Equal(new RetryPolicy("pubsubRetry", false, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(60), 3), policy.Retry);
        Assert.NotNull(policy.Breaker);
        Assert.Same(InboundPolicy.None, config.InboundFor("other"));
    }

    [Fact]
    public void AnUndefinedPolicyNameIsAnError()
    {
        var yaml = Yaml.Replace("retry: pubsubRetry", "retry: nowhere", StringComparison.Ordinal);

        var error = Assert.Throws<ResourceException>(() => ResiliencyConfig.FromDocuments(ResourceLoader.Parse(yaml, "r.yaml"), "app", TimeProvider.System));

        Assert.Contains("nowhere", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnsupportedTripExpressionIsAnError() =>
        Assert.Throws<ResourceException>(() => CircuitBreakerPolicy.Parse("cb", 1, TimeSpan.Zero, TimeSpan.FromSeconds(1), "requests > 3 && totalFailures > 1"));

    [Fact]
    public void ConstantRetriesWaitTheDurationAndStopAtMaxRetries()
    {
        var retry = new RetryPolicy("r", false, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(60), 2);

        Assert.Equal(TimeSpan.FromMilliseconds(200), retry.Delay(1));
        Assert.Equal(TimeSpan.FromMilliseconds(200), retry.Delay(5));
        Assert.True(retry.MayRetry(1));
        Assert.False(retry.MayRetry(2));
        Assert.True(retry with { MaxRetries = -1 } is var forever && forever.MayRetry(1000));
    }

    [Fact]
    public void ExponentialRetriesGrowUpToTheMaximumInterval()
    {
        var retry = new RetryPolicy("r", true, TimeSpan.Zero, TimeSpan.FromSeconds(1), -1);

        Assert.Equal(TimeSpan.FromMilliseconds(500), retry.Delay(1));
        Assert.Equal(TimeSpan.FromMilliseconds(750), retry.Delay(2));
        Assert.Equal(TimeSpan.FromSeconds(1), retry.Delay(3));
        Assert.Equal(TimeSpan.FromSeconds(1), retry.Delay(10));
    }

    [Fact]
    public void TheBreakerOpensOnTripRejectsUntilTimeoutThenClosesAfterASuccessfulTrial()
    {
        var time = new ManualTime();
        var breaker = new CircuitBreaker(CircuitBreakerPolicy.Parse("cb", 1, TimeSpan.Zero, TimeSpan.FromSeconds(30), "consecutiveFailures > 2"), time);

        for (var i = 0; i < 3; i++)
        {
            Assert.True(breaker.TryEnter());
            breaker.Record(false);
        }
        Assert.Equal(CircuitBreaker.State.Open, breaker.Current);
        Assert.False(breaker.TryEnter());

        time.Now += TimeSpan.FromSeconds(31);
        Assert.True(breaker.TryEnter());
        Assert.False(breaker.TryEnter()); // only maxRequests trial calls while half-open
        breaker.Record(true);
        Assert.Equal(CircuitBreaker.State.Closed, breaker.Current);
    }

    [Fact]
    public void AFailedTrialReopensTheBreaker()
    {
        var time = new ManualTime();
        var breaker = new CircuitBreaker(CircuitBreakerPolicy.Parse("cb", 1, TimeSpan.Zero, TimeSpan.FromSeconds(10), "consecutiveFailures >= 1"), time);
        breaker.Record(false);
        time.Now += TimeSpan.FromSeconds(11);

        Assert.True(breaker.TryEnter());
        breaker.Record(false);

        Assert.Equal(CircuitBreaker.State.Open, breaker.Current);
    }

    [Fact]
    public void ASuccessResetsTheConsecutiveFailures()
    {
        var breaker = new CircuitBreaker(CircuitBreakerPolicy.Parse("cb", 1, TimeSpan.Zero, TimeSpan.FromSeconds(10), "consecutiveFailures >= 2"), new ManualTime());

        breaker.Record(false);
        breaker.Record(true);
        breaker.Record(false);

        Assert.Equal(CircuitBreaker.State.Closed, breaker.Current);
    }
}
