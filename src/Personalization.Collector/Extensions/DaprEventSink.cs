using Dapr;
using Dapr.Client;
using Grpc.Core;
using Personalization.Collector.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Collector.Extensions;

/// <summary>
/// Markers in the Dapr state store (<c>dedupe:{messageId}</c> with <c>ttlInSeconds</c>), a request's events on
/// <see cref="Topics.EventsCollected"/> as one <see cref="CollectedEventBatch"/> message (all of them queued, or none);
/// the events that broke their tracking plan on <see cref="Topics.EventsQuarantined"/> the same way;
/// every transport failure becomes <see cref="EventSinkUnavailableException"/>.
/// </summary>
public sealed class DaprEventSink(DaprClient dapr, UserIdHasher hasher) : IEventSink
{
    private static readonly string DedupePrefix = StateKeys.Dedupe("");

    public async Task<MarkersFound> FindMarkersAsync(IReadOnlyList<string> messageIds, IReadOnlyList<string> profileIds, CancellationToken cancellationToken)
    {
        var keys = new List<string>(messageIds.Count + profileIds.Count);
        foreach (var id in messageIds)
        {
            keys.Add(StateKeys.Dedupe(id));
        }
        var suppressionKeys = new Dictionary<string, string>(profileIds.Count, StringComparer.Ordinal);
        foreach (var id in profileIds)
        {
            var key = hasher.SuppressionKey(id);
            suppressionKeys[key] = id;
            keys.Add(key);
        }
        var items = await Guard("read de-duplication and suppression markers",
            () => dapr.GetBulkStateAsync(StateKeys.Store, keys, parallelism: null, metadata: null, cancellationToken));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var suppressed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (string.IsNullOrEmpty(item.Value)) continue;
            if (item.Key.StartsWith(DedupePrefix, StringComparison.Ordinal)) seen.Add(item.Key[DedupePrefix.Length..]);
            else if (suppressionKeys.TryGetValue(item.Key, out var profileId)) suppressed.Add(profileId);
        }
        return new MarkersFound(seen, suppressed);
    }

    public async Task<IReadOnlyList<string>> PublishAsync(IReadOnlyList<CollectedEvent> events, CancellationToken cancellationToken)
    {
        // One broker message per request: the broker's confirm covers every event of it, so none is ever half-queued.
        await Guard("publish to " + Topics.EventsCollected, async () =>
        {
            await dapr.PublishEventAsync(Topics.PubSub, Topics.EventsCollected, new CollectedEventBatch(events), cancellationToken);
            return true;
        });
        return [];
    }

    public Task QuarantineAsync(IReadOnlyList<QuarantinedEvent> events, CancellationToken cancellationToken) =>
        Guard("publish to " + Topics.EventsQuarantined, async () =>
        {
            await dapr.PublishEventAsync(Topics.PubSub, Topics.EventsQuarantined, new QuarantinedEventBatch(events), cancellationToken);
            return true;
        });

    public Task MarkSeenAsync(IReadOnlyList<string> messageIds, DateTimeOffset receivedAt, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var metadata = new Dictionary<string, string> { ["ttlInSeconds"] = ((long)ttl.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var value = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(receivedAt, CollectorJsonContext.Default.DateTimeOffset);
        var operations = new List<StateTransactionRequest>(messageIds.Count);
        foreach (var id in messageIds)
        {
            operations.Add(new StateTransactionRequest(StateKeys.Dedupe(id), value, StateOperationType.Upsert, metadata: metadata));
        }
        // One transaction, not SaveBulkStateAsync: Dapr.Client 1.19's bulk save does not send the
        // dapr-api-token header, so with a token set (as the AppHost does) every bulk save is refused.
        return Guard("write de-duplication markers", async () =>
        {
            await dapr.ExecuteStateTransactionAsync(StateKeys.Store, operations, cancellationToken: cancellationToken);
            return true;
        });
    }

    private static async Task<T> Guard<T>(string what, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (DaprException e)
        {
            throw new EventSinkUnavailableException($"Could not {what}: {e.InnerException?.Message ?? e.Message}", e);
        }
        catch (RpcException e)
        {
            throw new EventSinkUnavailableException($"Could not {what}: {e.Status.Detail}", e);
        }
        catch (HttpRequestException e)
        {
            throw new EventSinkUnavailableException($"Could not {what}: {e.Message}", e);
        }
    }
}
