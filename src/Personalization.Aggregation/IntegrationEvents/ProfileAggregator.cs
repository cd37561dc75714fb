using System.Globalization;
using System.Text.Json;
using Dapr.Client;
using Microsoft.Extensions.Options;
using Personalization.Aggregation.Data;
using Personalization.Aggregation.Extensions;
using Personalization.Aggregation.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Aggregation.IntegrationEvents;

/// <summary>
/// <c>events.enriched</c> → the profiles in the state store, then one <see cref="ProfileUpdateBatch"/> on
/// <c>profiles.updated</c>.
/// <para>Exactly-once in effect: per delivery, one bulk get reads every profile in it (with its etag), its
/// <see cref="SeenSet"/> (<c>seen:{profileId}</c>), its consent and its suppression marker. An event in the seen set,
/// or seen earlier in the same delivery, was folded already and is skipped; an event whose user was erased, or that
/// relied on a purpose revoked since consent let it through, is withheld (<see cref="ConsentCheck"/>). Each profile's
/// other events are folded in (see <see cref="ProfileFolder"/>: order does not matter) and one transaction writes every
/// changed profile, guarded by its etag (first-write when new), together with its seen set (TTL
/// <c>Aggregation:DeduplicationWindow</c>): a profile and its seen set are written together or not at all. A conflict
/// (another replica wrote a profile meanwhile) redoes the profiles one by one (<see cref="StateBatch"/>); a message is
/// retried alone when one of its profiles could not be written. A profile whose events were all seen before is
/// announced again, since the first announcement may be what failed.</para>
/// <para>The pipeline's heartbeat (<see cref="Heartbeat"/>) is not folded: its latency is recorded
/// (<c>pipeline.heartbeat.latency</c>) and saved under <see cref="StateKeys.Heartbeat"/>.</para>
/// </summary>
public sealed class ProfileAggregator(
    DaprClient dapr, IOptions<AggregationOptions> options, UserIdHasher hasher, TimeProvider clock, AggregationTelemetry telemetry,
    SegmentStore segmentStore, ProfileDirectory directory)
    : IEventBatchHandler<EnrichedEvent>
{
    public async Task HandleAsync(IReadOnlyList<Delivery<EnrichedEvent>> deliveries, CancellationToken ct)
    {
        var settings = options.Value;
        var seenMetadata = new Dictionary<string, string>
        {
            ["ttlInSeconds"] = ((long)settings.DeduplicationWindow.TotalSeconds).ToString(CultureInfo.InvariantCulture),
        };
        var segments = await segmentStore.CurrentAsync(ct);
        var byProfile = new Dictionary<string, ProfileFold>(StringComparer.Ordinal);
        CollectedEvent? heartbeat = null;
        foreach (var delivery in deliveries)
        {
            foreach (var e in delivery.Events)
            {
                var profileId = e.Event.ProfileId;
                if (profileId == Heartbeat.ProfileId)
                {
                    heartbeat = e.Event;
                    continue;
                }
                if (!byProfile.TryGetValue(profileId, out var fold)) byProfile[profileId] = fold = new ProfileFold(profileId, settings, segments, hasher, clock, seenMetadata);
                fold.Events.Add(e);
            }
        }
        var folds = byProfile.Values.ToList();
        // Listed before the first write of a profile, so a segment backfill finds every profile (a listed id whose
        // write then failed is skipped by the backfill).
        await directory.AddAsync(folds.Select(f => f.ProfileId), ct);
        var redone = await StateBatch.UpdateAsync(dapr, StateKeys.Store, folds, ct);
        if (heartbeat is not null) await RecordHeartbeatAsync(heartbeat, ct);

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
        var segmentChanges = new List<SegmentsChanged>();
        long late = 0;
        var folded = new Dictionary<string, long>(StringComparer.Ordinal);
        var withheld = new Dictionary<string, long>(StringComparer.Ordinal);
        long duplicates = 0;
        foreach (var fold in folds)
        {
            if (fold.Failure is not null) continue;
            foreach (var (reason, count) in fold.Withheld) withheld[reason] = withheld.GetValueOrDefault(reason) + count;
            duplicates += fold.Duplicates;
            late += fold.Late;
            if (fold.Changes is { } changes) segmentChanges.Add(changes);
            if (fold.Version == 0) continue; // nothing of this profile exists: all its events were withheld
            var last = fold.Events[^1].Event;
            updates.Add(new ProfileUpdated(fold.ProfileId, fold.Version, fold.UpdatedAt, last.MessageId, last.ReceivedAt));
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
        if (segmentChanges.Count > 0)
        {
            await dapr.PublishEventAsync(Topics.PubSub, Topics.SegmentsChanged, new SegmentsChangedBatch(segmentChanges), ct);
            telemetry.CountSegmentChanges(segmentChanges);
        }
        if (late > 0) telemetry.Late.Add(late);

        foreach (var (type, count) in folded) telemetry.Folded.Add(count, new KeyValuePair<string, object?>("event.type", type));
        if (duplicates > 0) telemetry.Duplicates.Add(duplicates);
        foreach (var (reason, count) in withheld) telemetry.Withheld.Add(count, new KeyValuePair<string, object?>("reason", reason));
        if (redone > 0) telemetry.Conflicts.Add(redone);
    }

    /// <summary>The heartbeat arrived: how long it took from the collector to here, as a metric and for profile-query's health.</summary>
    private async Task RecordHeartbeatAsync(CollectedEvent beat, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var latency = (now - beat.ReceivedAt).TotalMilliseconds;
        telemetry.HeartbeatLatency.Record(latency);
        await dapr.SaveStateAsync(StateKeys.Store, StateKeys.Heartbeat, new PipelineHeartbeat(beat.ReceivedAt, now, latency), cancellationToken: ct);
    }

    /// <summary>One profile, folded through the events of a delivery that were not folded before.</summary>
    private sealed class ProfileFold(
        string profileId, AggregationOptions settings, IReadOnlyList<CompiledSegment> segments, UserIdHasher hasher, TimeProvider clock,
        IReadOnlyDictionary<string, string> seenMetadata)
        : KeyUpdate(StateKeys.Profile(profileId))
    {
        private readonly string _seenKey = StateKeys.Seen(profileId);

        public string ProfileId => profileId;
        public List<EnrichedEvent> Events { get; } = [];
        public List<EnrichedEvent> Folded { get; } = [];
        public int Duplicates { get; private set; }
        /// <summary>Events not folded, per reason: "erased", or the purpose revoked.</summary>
        public Dictionary<string, int> Withheld { get; } = new(StringComparer.Ordinal);
        public long Version { get; private set; }
        public DateTimeOffset UpdatedAt { get; private set; }
        /// <summary>Folded events that were behind the profile's watermark (lifetime counters only).</summary>
        public int Late { get; private set; }
        /// <summary>The segments the profile entered or left, when any.</summary>
        public SegmentsChanged? Changes { get; private set; }

        public override IReadOnlyList<string> AlsoRead => [_seenKey, .. ConsentCheck.Keys(profileId, hasher)];

        public override IReadOnlyList<StateTransactionRequest> Plan(Stored stored, IReadOnlyDictionary<string, string> others)
        {
            var current = stored.Json is null ? null : JsonSerializer.Deserialize(stored.Json, ContractsJsonContext.Default.UserProfile);
            var seen = others.TryGetValue(_seenKey, out var seenJson)
                ? JsonSerializer.Deserialize(seenJson, AggregationJsonContext.Default.SeenSet) ?? SeenSet.Empty()
                : SeenSet.Empty();
            var check = ConsentCheck.Read(profileId, hasher, others);
            var now = clock.GetUtcNow();
            Folded.Clear();
            Withheld.Clear();
            Duplicates = 0;
            Late = 0;
            Changes = null;
            var inThisDelivery = new HashSet<string>(StringComparer.Ordinal);
            foreach (var e in Events)
            {
                var messageId = e.Event.MessageId;
                if (seen.Contains(messageId, now) || !inThisDelivery.Add(messageId))
                {
                    Duplicates++;
                    continue;
                }
                if (check.Refusal(e.Event) is { } refusal)
                {
                    Withheld[refusal] = Withheld.GetValueOrDefault(refusal) + 1;
                    continue;
                }
                Folded.Add(e);
            }
            Version = current?.Version ?? 0;
            UpdatedAt = current?.UpdatedAt ?? now;
            if (Folded.Count == 0) return [];

            var folded = ProfileFolder.FoldAll(current, Folded, now, settings.AllowedLateness, out var late);
            (var profile, Changes) = ProfileEvaluation.Apply(folded, segments, settings.Flags, now);
            Late = late;
            Version = profile.Version;
            UpdatedAt = profile.UpdatedAt;

            var nextSeen = seen.With(Folded.Select(e => e.Event.MessageId), now, settings.DeduplicationWindow, settings.MaxSeenPerProfile);
            return
            [
                Write(stored, JsonSerializer.SerializeToUtf8Bytes(profile, ContractsJsonContext.Default.UserProfile)),
                new StateTransactionRequest(_seenKey, JsonSerializer.SerializeToUtf8Bytes(nextSeen, AggregationJsonContext.Default.SeenSet),
                    StateOperationType.Upsert, metadata: seenMetadata),
            ];
        }
    }
}
