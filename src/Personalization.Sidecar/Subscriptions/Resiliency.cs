using System.Text.RegularExpressions;
using Personalization.Sidecar.Components;

namespace Personalization.Sidecar.Subscriptions;

/// <summary>
/// A Dapr retry policy. <c>constant</c> waits <c>duration</c> (default 5s) between attempts; <c>exponential</c> starts at
/// 500 ms (Dapr's initial interval) and grows ×1.5 up to <c>maxInterval</c> (default 60s). <c>maxRetries</c> −1 (the
/// default) retries forever.
/// </summary>
public sealed record RetryPolicy(string Name, bool Exponential, TimeSpan Duration, TimeSpan MaxInterval, int MaxRetries)
{
    public static readonly TimeSpan ExponentialInitial = TimeSpan.FromMilliseconds(500);

    /// <summary>The wait before retry number <paramref name="retry"/> (1-based).</summary>
    public TimeSpan Delay(int retry)
    {
        if (!Exponential) return Duration;
        var ms = ExponentialInitial.TotalMilliseconds * Math.Pow(1.5, retry - 1);
        return TimeSpan.FromMilliseconds(Math.Min(ms, MaxInterval.TotalMilliseconds));
    }

    public bool MayRetry(int retriesDone) => MaxRetries < 0 || retriesDone < MaxRetries;
}

/// <summary>
/// A circuit breaker policy (gobreaker semantics as Dapr uses them): it opens when <c>trip</c> holds, rejects calls for
/// <c>timeout</c> (default 60s), then lets <c>maxRequests</c> (default 1) trial calls through; they all succeeding closes it.
/// <c>interval</c> clears the counts while closed (0 = never). <c>trip</c> supports <c>consecutiveFailures</c> with
/// <c>&gt;</c>, <c>&gt;=</c> or <c>==</c> and a number.
/// </summary>
public sealed partial record CircuitBreakerPolicy(string Name, int MaxRequests, TimeSpan Interval, TimeSpan Timeout, string TripOperator, int TripValue)
{
    [GeneratedRegex(@"^\s*consecutiveFailures\s*(>=|>|==)\s*(\d+)\s*$")]
    private static partial Regex TripPattern();

    public static CircuitBreakerPolicy Parse(string name, int maxRequests, TimeSpan interval, TimeSpan timeout, string trip)
    {
        var m = TripPattern().Match(trip);
        if (!m.Success)
            throw new ResourceException($"circuit breaker '{name}': trip '{trip}' is not supported (use consecutiveFailures >, >= or == a number)");
        return new CircuitBreakerPolicy(name, Math.Max(1, maxRequests), interval, timeout, m.Groups[1].Value, int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    public bool Trips(int consecutiveFailures) => TripOperator switch
    {
        ">" => consecutiveFailures > TripValue,
        ">=" => consecutiveFailures >= TripValue,
        _ => consecutiveFailures == TripValue,
    };
}

/// <summary>The live state of one circuit breaker. Thread-safe.</summary>
public sealed class CircuitBreaker(CircuitBreakerPolicy policy, TimeProvider time)
{
    public enum State { Closed, Open, HalfOpen }

    private readonly Lock _lock = new();
    private State _state = State.Closed;
    private int _consecutiveFailures;
    private int _halfOpenRequests;
    private int _halfOpenSuccesses;
    private DateTimeOffset _openedAt;
    private DateTimeOffset _countsSince = time.GetUtcNow();

    public State Current
    {
        get { lock (_lock) { Advance(); return _state; } }
    }

    /// <summary>True when a call may go ahead; when it does, report its result with <see cref="Record"/>.</summary>
    public bool TryEnter()
    {
        lock (_lock)
        {
            Advance();
            if (_state == State.Open) return false;
            if (_state == State.HalfOpen)
            {
                if (_halfOpenRequests >= policy.MaxRequests) return false;
                _halfOpenRequests++;
            }
            return true;
        }
    }

    public void Record(bool success)
    {
        lock (_lock)
        {
            Advance();
            if (_state == State.HalfOpen)
            {
                if (!success) Open();
                else if (++_halfOpenSuccesses >= policy.MaxRequests) Close();
                return;
            }
            if (_state != State.Closed) return;
            _consecutiveFailures = success ? 0 : _consecutiveFailures + 1;
            if (!success && policy.Trips(_consecutiveFailures)) Open();
        }
    }

    private void Advance()
    {
        var now = time.GetUtcNow();
        if (_state == State.Open && now - _openedAt >= policy.Timeout)
        {
            (_state, _halfOpenRequests, _halfOpenSuccesses) = (State.HalfOpen, 0, 0);
        }
        else if (_state == State.Closed && policy.Interval > TimeSpan.Zero && now - _countsSince >= policy.Interval)
        {
            (_consecutiveFailures, _countsSince) = (0, now);
        }
    }

    private void Open() => (_state, _openedAt) = (State.Open, time.GetUtcNow());

    private void Close() => (_state, _consecutiveFailures, _countsSince) = (State.Closed, 0, time.GetUtcNow());
}

/// <summary>The policies that apply to deliveries from one pub/sub component (its <c>inbound</c> target).</summary>
public sealed record InboundPolicy(TimeSpan? Timeout, RetryPolicy? Retry, CircuitBreaker? Breaker)
{
    public static readonly InboundPolicy None = new(null, null, null);
}

/// <summary>Resiliency resources (dapr.io/v1alpha1, kind Resiliency) that apply to this app, merged.</summary>
public sealed class ResiliencyConfig
{
    private readonly Dictionary<string, InboundPolicy> _inbound = [];

    public InboundPolicy InboundFor(string component) => _inbound.GetValueOrDefault(component, InboundPolicy.None);

    public static ResiliencyConfig FromDocuments(IEnumerable<ResourceDocument> documents, string appId, TimeProvider time)
    {
        var config = new ResiliencyConfig();
        foreach (var doc in documents.Where(d => d.Kind == "Resiliency" && d.AppliesTo(appId)))
        {
            var policies = doc.Spec.Map("policies") ?? YamlMap.Empty;
            var timeouts = policies.Map("timeouts") is { } t
                ? t.Keys.ToDictionary(k => k, k => t.Duration(k) ?? throw new ResourceException($"{doc.Source}: timeout '{k}' has no duration"))
                : [];
            var retries = policies.Map("retries") is { } r ? r.Keys.ToDictionary(k => k, k => ParseRetry(doc, k, r.Map(k)!)) : [];
            var breakers = policies.Map("circuitBreakers") is { } c ? c.Keys.ToDictionary(k => k, k => ParseBreaker(doc, k, c.Map(k)!)) : [];

            var components = doc.Spec.Map("targets")?.Map("components");
            foreach (var name in components?.Keys ?? [])
            {
                if (components!.Map(name)?.Map("inbound") is not { } inbound) continue;
                config._inbound[name] = new InboundPolicy(
                    Lookup(doc, "timeout", inbound.String("timeout"), timeouts, s => GoDuration.TryParse(s, out var d) ? d : null),
                    Lookup(doc, "retry", inbound.String("retry"), retries, _ => null),
                    Lookup(doc, "circuit breaker", inbound.String("circuitBreaker"), breakers, _ => null) is { } b ? new CircuitBreaker(b, time) : null);
            }
        }
        return config;
    }

    private static RetryPolicy ParseRetry(ResourceDocument doc, string name, YamlMap map)
    {
        var kind = map.String("policy") ?? "constant";
        if (kind is not ("constant" or "exponential"))
            throw new ResourceException($"{doc.Source}: retry '{name}': policy '{kind}' is not constant or exponential");
        return new RetryPolicy(name, kind == "exponential", map.Duration("duration") ?? TimeSpan.FromSeconds(5),
            map.Duration("maxInterval") ?? TimeSpan.FromSeconds(60), map.Int("maxRetries", -1));
    }

    private static CircuitBreakerPolicy ParseBreaker(ResourceDocument doc, string name, YamlMap map)
    {
        try
        {
            return CircuitBreakerPolicy.Parse(name, map.Int("maxRequests", 1), map.Duration("interval") ?? TimeSpan.Zero,
                map.Duration("timeout") ?? TimeSpan.FromSeconds(60), map.String("trip") ?? "consecutiveFailures >= 5");
        }
        catch (ResourceException e)
        {
            throw new ResourceException($"{doc.Source}: {e.Message}");
        }
    }

    /// <summary>A policy name must exist; a timeout may also be given inline as a duration.</summary>
    private static T? Lookup<T>(ResourceDocument doc, string what, string? name, Dictionary<string, T> named, Func<string, T?> inline) where T : class =>
        name is null ? null
        : named.TryGetValue(name, out var policy) ? policy
        : inline(name) ?? throw new ResourceException($"{doc.Source}: {what} policy '{name}' is not defined");

    private static TimeSpan? Lookup(ResourceDocument doc, string what, string? name, Dictionary<string, TimeSpan> named, Func<string, TimeSpan?> inline) =>
        name is null ? null
        : named.TryGetValue(name, out var policy) ? policy
        : inline(name) ?? throw new ResourceException($"{doc.Source}: {what} policy '{name}' is not defined");
}
