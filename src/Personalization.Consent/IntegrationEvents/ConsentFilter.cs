using Dapr.Client;
using Personalization.Consent.Data;
using Personalization.Consent.Extensions;
using Personalization.Consent.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.IntegrationEvents;

/// <summary>
/// <c>events.collected</c> → <c>events.consented</c>: an event goes on only when its user is not erased (no suppression
/// marker) and every purpose it needs is granted (see <see cref="ConsentPolicy"/>) by the user's current consent in the
/// state store (keyed by the event's profile id: userId, else anonymousId). It goes on stamped with those purposes
/// (<see cref="CollectedEvent.Purposes"/>), so later stages can drop it if one is revoked before they process it.
/// <para>Opt-out signals come first: an event whose request carried <c>Sec-GPC: 1</c> or <c>DNT: 1</c>
/// (<see cref="CollectedEvent.Signals"/>) records the denials <c>Consent:Signals</c> maps the signal to, with the signal
/// as source, unless the user's consent already denies them; the event is then decided on the consent that results.</para>
/// <para>Per delivery: one bulk get of the consents and suppression markers of every profile in it, then one bulk
/// publish with one message per collected message that kept at least one event. A denied event is done, not failed. A
/// message whose publish the broker refused is retried alone (<see cref="Delivery{T}.Fail"/>); an unreachable store
/// retries the delivery.</para>
/// </summary>
public sealed class ConsentFilter(
    DaprClient dapr, ConsentPolicy policy, ConsentRecorder recorder, UserIdHasher hasher, ConsentTelemetry telemetry, ILogger<ConsentFilter> logger)
    : IEventBatchHandler<CollectedEvent>
{
    public async Task HandleAsync(IReadOnlyList<Delivery<CollectedEvent>> deliveries, CancellationToken ct)
    {
        var (consents, suppressed) = await ReadAsync(deliveries, ct);
        await RecordSignalsAsync(deliveries, consents, suppressed, ct);

        var forwarded = new OutgoingMessages<CollectedEvent, CollectedEventBatch>(deliveries.Count);
        var allowed = new Dictionary<string, long>(StringComparer.Ordinal);
        var denied = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var delivery in deliveries)
        {
            var kept = new List<CollectedEvent>(delivery.Events.Count);
            foreach (var e in delivery.Events)
            {
                if (suppressed.Contains(e.ProfileId))
                {
                    denied[ConsentCheck.Erased] = denied.GetValueOrDefault(ConsentCheck.Erased) + 1;
                    continue;
                }
                var decision = policy.Decide(e, consents.GetValueOrDefault(e.ProfileId));
                if (decision.Allowed)
                {
                    kept.Add(e with { Purposes = decision.Purposes });
                    foreach (var purpose in decision.Purposes) allowed[purpose] = allowed.GetValueOrDefault(purpose) + 1;
                    continue;
                }
                var refused = decision.DeniedPurpose!;
                denied[refused] = denied.GetValueOrDefault(refused) + 1;
                ConsentTelemetry.EventDenied(logger, e.MessageId, refused);
            }
            if (kept.Count > 0) forwarded.Add(delivery, new CollectedEventBatch(kept));
        }
        await forwarded.PublishAsync(dapr, Topics.EventsConsented, ct);

        foreach (var (purpose, count) in allowed) telemetry.Allowed.Add(count, new KeyValuePair<string, object?>("purpose", purpose));
        foreach (var (purpose, count) in denied) telemetry.Denied.Add(count, new KeyValuePair<string, object?>("purpose", purpose));
    }

    /// <summary>The consent of every profile in the deliveries (by profile id), and which of them are erased.</summary>
    private async Task<(Dictionary<string, ConsentState?> Consents, HashSet<string> Suppressed)> ReadAsync(
        IReadOnlyList<Delivery<CollectedEvent>> deliveries, CancellationToken ct)
    {
        var profiles = new HashSet<string>(StringComparer.Ordinal);
        foreach (var delivery in deliveries)
        {
            foreach (var e in delivery.Events) profiles.Add(e.ProfileId);
        }
        var keys = profiles.SelectMany(profileId => ConsentCheck.Keys(profileId, hasher)).ToList();
        var read = new Dictionary<string, Stored>(keys.Count, StringComparer.Ordinal);
        foreach (var item in await dapr.GetBulkStateAsync(StateKeys.Store, keys, parallelism: null, cancellationToken: ct))
        {
            if (!string.IsNullOrEmpty(item.Value)) read[item.Key] = new Stored(item.Value, item.ETag);
        }
        var consents = new Dictionary<string, ConsentState?>(profiles.Count, StringComparer.Ordinal);
        var suppressed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var profileId in profiles)
        {
            var check = ConsentCheck.Read(profileId, hasher, read);
            consents[profileId] = check.Consent;
            if (check.IsErased) suppressed.Add(profileId);
        }
        return (consents, suppressed);
    }

    /// <summary>Records, per profile, the denials its events' opt-out signals call for that its consent does not hold yet.</summary>
    private async Task RecordSignalsAsync(IReadOnlyList<Delivery<CollectedEvent>> deliveries, Dictionary<string, ConsentState?> consents,
        HashSet<string> suppressed, CancellationToken ct)
    {
        Dictionary<string, (CollectedEvent Cause, List<ConsentChange> Changes)>? pending = null;
        foreach (var delivery in deliveries)
        {
            foreach (var e in delivery.Events)
            {
                if (e.Signals is not { Count: > 0 } signals || suppressed.Contains(e.ProfileId)) continue;
                var current = consents.GetValueOrDefault(e.ProfileId);
                foreach (var signal in signals)
                {
                    foreach (var (purpose, value) in policy.SignalDenials(signal))
                    {
                        if (current is not null && current.Purposes.TryGetValue(purpose, out var now) && now == value) continue;
                        pending ??= new(StringComparer.Ordinal);
                        if (!pending.TryGetValue(e.ProfileId, out var entry)) pending[e.ProfileId] = entry = (e, []);
                        if (!entry.Changes.Exists(c => c.Purpose == purpose)) entry.Changes.Add(new ConsentChange(purpose, value, signal));
                    }
                }
            }
        }
        if (pending is null) return;
        var recorded = await Task.WhenAll(pending.Select(async p =>
        {
            var context = new LedgerContext(p.Value.Cause.MessageId, "write:" + (p.Value.Cause.Source ?? "unknown"), policy.PolicyVersion);
            return await recorder.RecordAsync(p.Key, p.Value.Changes, context, ct);
        }));
        foreach (var state in recorded) consents[state.UserId] = state;
        telemetry.Signals.Add(recorded.Length);
    }
}
