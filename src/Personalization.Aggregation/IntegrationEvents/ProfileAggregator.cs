using System.Globalization;
using System.Text.Json;
using Dapr.Client;
using Microsoft.Extensions.Options;
using Personalization.Aggregation.Extensions;
using Personalization.Aggregation.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Aggregation.IntegrationEvents;

/// <summary>
/// <c>events.enriched</c> → the profiles in the state store, then one <see cref="ProfileUpdateBatch"/> on
/// <c>profiles.updated</c>.
/// <para>Exactly-once in effect: per delivery, one bulk get reads every profile in it (with its etag) and the
/// seen-marker of every event (<c>seen:{profileId}:{messageId}</c>). An event with a marker, or seen earlier in the
/// same delivery, was folded already and is skipped. Each profile's other events are folded in (see
/// <see cref="ProfileFolder"/>: order does not matter) and one transaction writes every changed profile, guarded by its
/// etag (first-write when new), together with the markers of the events folded into it (TTL
/// <c>Aggregation:DeduplicationWindow</c>): a profile and its markers are written together or not at all. A conflict
/// (another replica wrote a profile meanwhile) redoes the profiles one by one (<see cref="StateBatch"/>); a message is
/// retried alone when one of its profiles could not be written. A profile whose events were all seen before is
/// announced again, since the first announcement may be what failed.</para>
/// </summary>
public sealed class ProfileAggregator(
    DaprClient dapr, IOptions<AggregationOptions> options, TimeProvider clock, AggregationTelemetry telemetry) : IEventBatchHandler<EnrichedEvent>
{
    public async Task HandleAsync(IReadOnlyList<Delivery<EnrichedEvent>> deliveries, CancellationToken ct)
    {
        var markerMetadata = new Dictionary<string, string>
        {
            ["ttlInSeconds"] = ((long)options.Value.DeduplicationWindow.TotalSeconds).ToString(CultureInfo.InvariantCulture),
        };
        var byProfile = new Dictionary<string, ProfileFold>(StringComparer.Ordinal);
        foreach (var delivery in deliveries)
        {
            foreach (var e in delivery.Events)
            {
                var profileId = e.Event.ProfileId;
                if (!byProfile.TryGetValue(profileId, out var fold)) byProfile[profileId] = fold = new ProfileFold(profileId, clock, markerMetadata);
                fold.Events.Add(e);
            }
        }
        var folds = byProfile.Values.ToList();
        var redone = await StateBatch.UpdateAsync(dapr, StateKeys.Store, folds, ct);

        foreach (var delivery in deliveries)
        {
            foreach (var e in delivery.Events)
            {
                if (byProfile[e.Event.ProfileId].Failure is { } failure)
                {
                    delivery.Fail(failure);
                    break;
                }
            }
        }

        var now = clock.GetUtcNow();
        var updates = new List<ProfileUpdated>(folds.Count);
        var folded = new Dictionary<string, long>(StringComparer.Ordinal);
        long duplicates = 0;
        foreach (var fold in folds)
        {
            if (fold.Failure is not null) continue;
            var last = fold.Events[^1].Event;
            updates.Add(new ProfileUpdated(fold.ProfileId, fold.Version, fold.UpdatedAt, last.MessageId, last.ReceivedAt));
            duplicates += fold.Duplicates;
            foreach (var e in fold.Folded)
            {
                telemetry.Freshness.Record((now - e.Event.ReceivedAt).TotalMilliseconds);
                folded[e.Event.Type] = folded.GetValueOrDefault(e.Event.Type) + 1;
            }
        }
        if (updates.Count > 0)
        {
            // A failed announcement throws: every message is retried, finds its markers, and is announced again.
            await dapr.PublishEventAsync(Topics.PubSub, Topics.ProfilesUpdated, new ProfileUpdateBatch(updates), ct);
        }

        foreach (var (type, count) in folded) telemetry.Folded.Add(count, new KeyValuePair<string, object?>("event.type", type));
        if (duplicates > 0) telemetry.Duplicates.Add(duplicates);
        if (redone > 0) telemetry.Conflicts.Add(redone);
    }

    /// <summary>One profile, folded through the events of a delivery that were not folded before.</summary>
    private sealed class ProfileFold(string profileId, TimeProvider clock, IReadOnlyDictionary<string, string> markerMetadata)
        : KeyUpdate(StateKeys.Profile(profileId))
    {
        public string ProfileId => profileId;
        public List<EnrichedEvent> Events { get; } = [];
        public List<EnrichedEvent> Folded { get; } = [];
        public int Duplicates { get; private set; }
        public long Version { get; private set; }
        public DateTimeOffset UpdatedAt { get; private set; }

        public override IReadOnlyList<string> AlsoRead => [.. Events.Select(e => StateKeys.Seen(profileId, e.Event.MessageId)).Distinct()];

        public override IReadOnlyList<StateTransactionRequest> Plan(Stored stored, IReadOnlyDictionary<string, string> others)
        {
            var current = stored.Json is null ? null : JsonSerializer.Deserialize(stored.Json, ContractsJsonContext.Default.UserProfile);
            var now = clock.GetUtcNow();
            Folded.Clear();
            Duplicates = 0;
            var profile = current;
            var inThisDelivery = new HashSet<string>(StringComparer.Ordinal);
            foreach (var e in Events)
            {
                var messageId = e.Event.MessageId;
                if (others.ContainsKey(StateKeys.Seen(profileId, messageId)) || !inThisDelivery.Add(messageId))
                {
                    Duplicates++;
                    continue;
                }
                profile = ProfileFolder.Fold(profile, e, now);
                Folded.Add(e);
            }
            Version = profile?.Version ?? 0;
            UpdatedAt = profile?.UpdatedAt ?? now;
            if (Folded.Count == 0) return [];

            var marker = JsonSerializer.SerializeToUtf8Bytes(new SeenMarker(profile!.Version, now), AggregationJsonContext.Default.SeenMarker);
            var operations = new List<StateTransactionRequest>(Folded.Count + 1)
            {
                Write(stored, JsonSerializer.SerializeToUtf8Bytes(profile, ContractsJsonContext.Default.UserProfile)),
            };
            foreach (var e in Folded)
            {
                operations.Add(new StateTransactionRequest(StateKeys.Seen(profileId, e.Event.MessageId), marker, StateOperationType.Upsert, metadata: markerMetadata));
            }
            return operations;
        }
    }
}
