using System.Text.Json;
using Dapr.Client;
using Personalization.Consent.Extensions;
using Personalization.Consent.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.IntegrationEvents;

/// <summary>
/// <c>events.collected</c> → <c>events.consented</c>: an event goes on unchanged only when every purpose it needs is
/// granted (see <see cref="ConsentPolicy"/>) by the user's current consent in the state store (keyed by the event's
/// profile id: userId, else anonymousId).
/// <para>Per delivery: one bulk get of the consents of every profile in it, then one bulk publish with one message per
/// collected message that kept at least one event. A denied event is done, not failed. A message whose publish the
/// broker refused is retried alone (<see cref="Delivery{T}.Fail"/>); an unreachable store retries the delivery.</para>
/// </summary>
public sealed class ConsentFilter(DaprClient dapr, ConsentPolicy policy, ConsentTelemetry telemetry, ILogger<ConsentFilter> logger)
    : IEventBatchHandler<CollectedEvent>
{
    public async Task HandleAsync(IReadOnlyList<Delivery<CollectedEvent>> deliveries, CancellationToken ct)
    {
        var consents = await ReadConsentsAsync(deliveries, ct);

        var forwarded = new OutgoingMessages<CollectedEvent, CollectedEventBatch>(deliveries.Count);
        var allowed = new Dictionary<string, long>(StringComparer.Ordinal);
        var denied = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var delivery in deliveries)
        {
            var kept = new List<CollectedEvent>(delivery.Events.Count);
            foreach (var e in delivery.Events)
            {
                var decision = policy.Decide(e, consents.GetValueOrDefault(StateKeys.Consent(e.ProfileId)));
                if (decision.Allowed)
                {
                    kept.Add(e);
                    foreach (var purpose in decision.Purposes) allowed[purpose] = allowed.GetValueOrDefault(purpose) + 1;
                    continue;
                }
                var refused = decision.DeniedPurpose!;
                denied[refused] = denied.GetValueOrDefault(refused) + 1;
                ConsentTelemetry.EventDenied(logger, e.MessageId, e.ProfileId, refused);
            }
            if (kept.Count > 0) forwarded.Add(delivery, new CollectedEventBatch(kept));
        }
        await forwarded.PublishAsync(dapr, Topics.EventsConsented, ct);

        foreach (var (purpose, count) in allowed) telemetry.Allowed.Add(count, new KeyValuePair<string, object?>("purpose", purpose));
        foreach (var (purpose, count) in denied) telemetry.Denied.Add(count, new KeyValuePair<string, object?>("purpose", purpose));
    }

    private async Task<Dictionary<string, ConsentState?>> ReadConsentsAsync(IReadOnlyList<Delivery<CollectedEvent>> deliveries, CancellationToken ct)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var delivery in deliveries)
        {
            foreach (var e in delivery.Events) keys.Add(StateKeys.Consent(e.ProfileId));
        }
        var items = await dapr.GetBulkStateAsync(StateKeys.Store, [.. keys], parallelism: null, cancellationToken: ct);
        var consents = new Dictionary<string, ConsentState?>(items.Count, StringComparer.Ordinal);
        foreach (var item in items)
        {
            consents[item.Key] = string.IsNullOrEmpty(item.Value) ? null : JsonSerializer.Deserialize(item.Value, ContractsJsonContext.Default.ConsentState);
        }
        return consents;
    }
}
