using Dapr.Client;
using Personalization.Consent.Data;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.IntegrationEvents;

/// <summary>
/// <c>events.quarantined</c> → <see cref="QuarantinedEvents"/>: keeps every event that broke its tracking plan, except
/// those of an erased user (a suppression marker: the erasure may have run between the collector's check and now). Per
/// delivery: one bulk read of the suppression markers, one batch of inserts; a store that cannot be reached retries the
/// delivery, and a redelivered event is kept once.
/// </summary>
public sealed partial class QuarantineRecorder(DaprClient dapr, QuarantinedEvents store, UserIdHasher hasher, ILogger<QuarantineRecorder> logger)
    : IEventBatchHandler<QuarantinedEvent>
{
    public async Task HandleAsync(IReadOnlyList<Delivery<QuarantinedEvent>> deliveries, CancellationToken ct)
    {
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var delivery in deliveries)
        {
            foreach (var quarantined in delivery.Events) keys[hasher.SuppressionKey(quarantined.Event.ProfileId)] = quarantined.Event.ProfileId;
        }
        var erased = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in await dapr.GetBulkStateAsync(StateKeys.Store, [.. keys.Keys], parallelism: null, cancellationToken: ct))
        {
            if (!string.IsNullOrEmpty(item.Value)) erased.Add(keys[item.Key]);
        }
        var kept = new List<QuarantinedEvent>();
        foreach (var delivery in deliveries)
        {
            foreach (var quarantined in delivery.Events)
            {
                if (!erased.Contains(quarantined.Event.ProfileId)) kept.Add(quarantined);
            }
        }
        var added = await store.StoreAsync(kept, ct);
        LogKept(logger, added, kept.Count);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Quarantined {Added} new of {Events} events")]
    private static partial void LogKept(ILogger logger, int added, int events);
}
