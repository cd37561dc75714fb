using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Personalization.Contracts;
using Personalization.Enrichment.Extensions;
using Personalization.Enrichment.Model;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Personalization.Enrichment.ThirdParty;

/// <summary>What became of one call to the provider (the <c>outcome</c> of the <c>enrichment.provider.*</c> metrics).</summary>
public static class ProviderOutcomes
{
    public const string Enriched = "enriched";
    /// <summary>An error answer (after the retries), or the provider could not be reached.</summary>
    public const string Failed = "failed";
    public const string Timeout = "timeout";
    /// <summary>Not called: too many calls failed lately, and the circuit is open for <c>Enrichment:Provider:BreakDuration</c>.</summary>
    public const string CircuitOpen = "circuit_open";
    /// <summary>A 2xx answer that is not <c>{"results": {...}}</c>.</summary>
    public const string InvalidAnswer = "invalid_answer";
}

/// <summary>
/// The third-party enrichment provider (<c>Enrichment:Provider:Url</c>), called with the events of a delivery at once:
/// <code>
/// POST {Url}  {"events": [{"messageId": "…", "fields": {"context.ip": "81.2.69.142", …}}, …]}
/// 200         {"results": {"&lt;messageId&gt;": { …any JSON object… }, …}}
/// </code>
/// An event the answer has no object for gets none. Through the <see cref="HttpClientName"/> client's resilience
/// pipeline (whole-call timeout, retries of transient failures, circuit breaker, per-attempt timeout; see
/// <c>Extensions</c>): whatever goes wrong (error, timeout, open circuit, an answer of another shape), the answer is
/// empty and the events go on unenriched. It never throws but for the caller's own cancellation, so the provider can
/// neither stall the stream beyond <c>Enrichment:Provider:Timeout</c> nor make a delivery be retried or dead-lettered.
/// </summary>
public sealed partial class ProviderClient(
    IHttpClientFactory clients, IOptions<EnrichmentOptions> options, EnrichmentTelemetry telemetry, ILogger<ProviderClient> logger)
{
    public const string HttpClientName = "enrichment-provider";

    private static readonly IReadOnlyDictionary<string, JsonObject> Nothing = new Dictionary<string, JsonObject>();

    private readonly ProviderOptions _options = options.Value.Provider;

    public bool IsConfigured => _options.Url is not null;

    /// <summary>The provider's object per message id; empty when it failed (counted and logged, never thrown).</summary>
    public async Task<IReadOnlyDictionary<string, JsonObject>> EnrichAsync(IReadOnlyList<CollectedEvent> events, CancellationToken ct)
    {
        if (_options.Url is null || events.Count == 0) return Nothing;
        if (events.Count <= _options.MaxEventsPerCall) return await CallAsync(events, ct);
        var calls = events.Chunk(_options.MaxEventsPerCall).Select(chunk => CallAsync(chunk, ct));
        var merged = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var answer in await Task.WhenAll(calls))
        {
            foreach (var (id, data) in answer) merged[id] = data;
        }
        return merged;
    }

    private async Task<IReadOnlyDictionary<string, JsonObject>> CallAsync(IReadOnlyList<CollectedEvent> events, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var (outcome, results) = await SendAsync(events, ct);
        var tag = new KeyValuePair<string, object?>("outcome", outcome);
        telemetry.ProviderCalls.Add(1, tag);
        telemetry.ProviderDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tag);
        telemetry.ProviderEvents.Add(results.Count, new KeyValuePair<string, object?>("outcome", ProviderOutcomes.Enriched));
        if (events.Count > results.Count) telemetry.ProviderEvents.Add(events.Count - results.Count, new KeyValuePair<string, object?>("outcome", "unenriched"));
        return results;
    }

    private async Task<(string Outcome, IReadOnlyDictionary<string, JsonObject> Results)> SendAsync(IReadOnlyList<CollectedEvent> events, CancellationToken ct)
    {
        // The pipeline's own timeout bounds the call; this one also bounds anything outside it (reading a slow body).
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(_options.Timeout + TimeSpan.FromMilliseconds(250));
        try
        {
            using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(Request(events, _options.EffectiveFields).ToJsonString()));
            content.Headers.ContentType = new("application/json") { CharSet = "utf-8" };
            using var http = clients.CreateClient(HttpClientName);
            using var response = await http.PostAsync(_options.Url, content, bound.Token);
            if (!response.IsSuccessStatusCode)
            {
                LogProviderRefused(logger, (int)response.StatusCode, events.Count);
                return (ProviderOutcomes.Failed, Nothing);
            }
            await using var body = await response.Content.ReadAsStreamAsync(bound.Token);
            var answer = await JsonNode.ParseAsync(body, cancellationToken: bound.Token);
            if (answer is not JsonObject { } root || root["results"] is not JsonObject results)
            {
                LogProviderAnswerInvalid(logger, events.Count);
                return (ProviderOutcomes.InvalidAnswer, Nothing);
            }
            return (ProviderOutcomes.Enriched, Read(results));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is TimeoutRejectedException or OperationCanceledException)
        {
            LogProviderTimedOut(logger, _options.Timeout, events.Count);
            return (ProviderOutcomes.Timeout, Nothing);
        }
        catch (BrokenCircuitException)
        {
            LogCircuitOpen(logger, events.Count);
            return (ProviderOutcomes.CircuitOpen, Nothing);
        }
        catch (JsonException)
        {
            LogProviderAnswerInvalid(logger, events.Count);
            return (ProviderOutcomes.InvalidAnswer, Nothing);
        }
        catch (HttpRequestException e)
        {
            LogProviderUnreachable(logger, e.Message, events.Count);
            return (ProviderOutcomes.Failed, Nothing);
        }
    }

    /// <summary>The request body: each event's message id and its configured fields (those it has).</summary>
    public static JsonObject Request(IReadOnlyList<CollectedEvent> events, IReadOnlyList<string> fields)
    {
        var list = new JsonArray();
        foreach (var e in events)
        {
            var values = new JsonObject();
            foreach (var field in fields)
            {
                if (EventFields.Read(e, field) is { } value) values[field] = value;
            }
            list.Add(new JsonObject { ["messageId"] = e.MessageId, ["fields"] = values });
        }
        return new JsonObject { ["events"] = list };
    }

    /// <summary>The objects of an answer's <c>results</c>, by message id; anything else in it is ignored.</summary>
    public static IReadOnlyDictionary<string, JsonObject> Read(JsonObject results)
    {
        var found = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var (id, value) in results.ToList())
        {
            if (value is not JsonObject data) continue;
            results.Remove(id); // detached, so it can be put into the enriched event
            found[id] = data;
        }
        return found;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Enrichment provider answered {Status}; {Events} events go on without its data")]
    private static partial void LogProviderRefused(ILogger logger, int status, int events);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Enrichment provider did not answer within {Timeout}; {Events} events go on without its data")]
    private static partial void LogProviderTimedOut(ILogger logger, TimeSpan timeout, int events);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Enrichment provider unreachable ({Error}); {Events} events go on without its data")]
    private static partial void LogProviderUnreachable(ILogger logger, string error, int events);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Enrichment provider answered something other than {{\"results\": {{…}}}}; {Events} events go on without its data")]
    private static partial void LogProviderAnswerInvalid(ILogger logger, int events);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Enrichment provider's circuit is open; {Events} events go on without its data")]
    private static partial void LogCircuitOpen(ILogger logger, int events);
}
