using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Dapr.Client;
using Microsoft.Extensions.Options;
using Npgsql;
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
public sealed partial class ProfileAggregator(
    DaprClient dapr, IOptions<AggregationOptions> options, UserIdHasher hasher, TimeProvider clock, AggregationTelemetry telemetry,
    SegmentStore segmentStore, ProfileDirectory directory, IdentityGraph identities, ILogger<ProfileAggregator> logger)
    : IEventBatchHandler<EnrichedEvent>
{
    /// <summary>
    /// Linked ids this replica saw merged into their master (id → master): a signed-in SDK sends both ids on every
    /// event, and each would otherwise read the linked id's redirect again. Lost on restart, when every link is
    /// checked once more (so a merge cut short is still completed); emptied when it reaches <see cref="MaxMergedKnown"/>.
    /// </summary>
    private readonly ConcurrentDictionary<string, string> _merged = new(StringComparer.Ordinal);
    private const int MaxMergedKnown = 100_000;

    /// <summary>When PostgreSQL was last reported unavailable (Unix ms), so an outage logs a warning every 30 s, not every delivery.</summary>
    private long _lastUnavailableLog;

    /// <summary>At most this many linked ids are looked at when an alias makes sure every profile of its master was merged.</summary>
    public const int MaxLinkedPerAlias = 200;

    public async Task HandleAsync(IReadOnlyList<Delivery<EnrichedEvent>> deliveries, CancellationToken ct)
    {
        var settings = options.Value;
        var seenMetadata = new Dictionary<string, string>
        {
            ["ttlInSeconds"] = ((long)settings.DeduplicationWindow.TotalSeconds).ToString(CultureInfo.InvariantCulture),
        };
        var segments = await segmentStore.CurrentAsync(ct);
        var (masterOf, absorb) = await ResolveAsync(deliveries, ct);
        var byProfile = new Dictionary<string, ProfileFold>(StringComparer.Ordinal);
        CollectedEvent? heartbeat = null;
        foreach (var delivery in deliveries)
        {
            foreach (var e in delivery.Events)
            {
                if (e.Event.ProfileId == Heartbeat.ProfileId)
                {
                    heartbeat = e.Event;
                    continue;
                }
                var profileId = masterOf(e.Event.ProfileId);
                if (!byProfile.TryGetValue(profileId, out var fold))
                {
                    byProfile[profileId] = fold = new ProfileFold(profileId, absorb.GetValueOrDefault(profileId) ?? [], settings, segments, hasher, clock, seenMetadata);
                }
                fold.Events.Add(e);
            }
        }
        var folds = byProfile.Values.ToList();
        var redone = await StateBatch.UpdateAsync(dapr, StateKeys.Store, folds, ct);
        // Listed once written (an erased user's withheld events list nothing). A profile whose listing failed is listed
        // with its next event; until then only a backfill or scheduled evaluation passes it by.
        await WithPostgresAsync("profile directory", () => directory.ListAsync(folds.Where(f => f.Failed is null && f.Version > 0)
            .SelectMany(f => f.Redirected.Select(r => new DirectoryEntry(r.Id, null, [])).Append(new DirectoryEntry(f.ProfileId, f.DueAt, f.Segments))), ct));
        if (heartbeat is not null) await RecordHeartbeatAsync(heartbeat, ct);

        foreach (var delivery in deliveries)
        {
            foreach (var e in delivery.Events)
            {
                if (e.Event.ProfileId != Heartbeat.ProfileId && byProfile[masterOf(e.Event.ProfileId)].Failed is { } failure)
                {
                    delivery.Fail(failure);
                    break;
                }
            }
        }

        var now = clock.GetUtcNow();
        var updates = new List<ProfileUpdated>(folds.Count);
        var segmentChanges = new List<SegmentsChanged>();
        long late = 0, merged = 0;
        var folded = new Dictionary<string, long>(StringComparer.Ordinal);
        var withheld = new Dictionary<string, long>(StringComparer.Ordinal);
        long duplicates = 0;
        if (_merged.Count > MaxMergedKnown) _merged.Clear();
        foreach (var fold in folds)
        {
            if (fold.Failed is not null) continue;
            foreach (var id in fold.Absorbed) _merged[id] = fold.ProfileId;
            foreach (var (reason, count) in fold.Withheld) withheld[reason] = withheld.GetValueOrDefault(reason) + count;
            duplicates += fold.Duplicates;
            late += fold.Late;
            segmentChanges.AddRange(fold.Changes);
            var last = fold.Events[^1].Event;
            foreach (var (id, version) in fold.Redirected)
            {
                updates.Add(new ProfileUpdated(id, version, fold.UpdatedAt, last.MessageId, last.ReceivedAt));
                merged++;
            }
            if (fold.Version == 0) continue; // nothing of this profile exists: all its events were withheld
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
        if (merged > 0) telemetry.Merged.Add(merged);

        foreach (var (type, count) in folded) telemetry.Folded.Add(count, new KeyValuePair<string, object?>("event.type", type));
        if (duplicates > 0) telemetry.Duplicates.Add(duplicates);
        foreach (var (reason, count) in withheld) telemetry.Withheld.Add(count, new KeyValuePair<string, object?>("reason", reason));
        if (redone > 0) telemetry.Conflicts.Add(redone);
    }

    /// <summary>
    /// Identity resolution for a delivery (<see cref="IdentityRules"/>): its links taken into the graph, the master of
    /// each of its ids, and per master the linked ids whose profiles it is to take in — the ids the delivery's links name
    /// and, for an alias, every id linked to its master, so a join cut short before its profiles merged is completed
    /// when its event is retried.
    /// </summary>
    private async Task<(Func<string, string> MasterOf, Dictionary<string, HashSet<string>> Absorb)> ResolveAsync(
        IReadOnlyList<Delivery<EnrichedEvent>> deliveries, CancellationToken ct)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var links = new List<IdentityLink>();
        foreach (var delivery in deliveries)
        {
            foreach (var e in delivery.Events)
            {
                if (e.Event.ProfileId == Heartbeat.ProfileId) continue;
                ids.Add(e.Event.ProfileId);
                if (IdentityRules.LinkOf(e.Event) is { } link) links.Add(link);
            }
        }
        var masters = new Dictionary<string, string>(StringComparer.Ordinal);
        var linked = Array.Empty<string>().ToLookup(id => id);
        var aliased = new List<string>();
        // Without PostgreSQL (restarting), events go on under their own ids and no new link is made: the ids of a
        // signed-in user's next events link them. An id merged before holds a redirect, so its events wait for the
        // store instead of starting a profile beside the merged one.
        await WithPostgresAsync("identity links", async () =>
        {
            if (ids.Count > 0) masters = await identities.ResolveAsync(ids, links, ct);
            aliased = links.Where(l => l.IsAlias).Select(l => masters.GetValueOrDefault(l.To) ?? l.To).Distinct(StringComparer.Ordinal).ToList();
            linked = await identities.LinkedToAsync(aliased, MaxLinkedPerAlias, ct);
        });
        string MasterOf(string id) => masters.GetValueOrDefault(id) ?? id;
        var absorb = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        void Absorb(string master, string id)
        {
            if (id == master) return;
            if (!absorb.TryGetValue(master, out var set)) absorb[master] = set = new HashSet<string>(StringComparer.Ordinal);
            set.Add(id);
        }
        foreach (var link in links)
        {
            var master = MasterOf(link.To);
            if (MasterOf(link.From) == master && _merged.GetValueOrDefault(link.From) != master) Absorb(master, link.From);
        }
        foreach (var group in linked)
        {
            foreach (var id in group) Absorb(group.Key, id);
        }
        return (MasterOf, absorb);
    }

    /// <summary>Runs a PostgreSQL step the folding can do without for a while; an outage is logged and counted, not thrown.</summary>
    private async Task WithPostgresAsync(string step, Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (NpgsqlException e) when (e is not PostgresException || e.IsTransient)
        {
            telemetry.PostgresUnavailable.Add(1, new KeyValuePair<string, object?>("step", step));
            var now = Environment.TickCount64;
            var last = Interlocked.Read(ref _lastUnavailableLog);
            if (now - last >= 30_000 && Interlocked.CompareExchange(ref _lastUnavailableLog, now, last) == last)
            {
                LogPostgresUnavailable(logger, step, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "PostgreSQL unavailable for the {Step}; events are folded without it meanwhile: {Reason}")]
    private static partial void LogPostgresUnavailable(ILogger logger, string step, string reason);

    /// <summary>The heartbeat arrived: how long it took from the collector to here, as a metric and for profile-query's health.</summary>
    private async Task RecordHeartbeatAsync(CollectedEvent beat, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var latency = (now - beat.ReceivedAt).TotalMilliseconds;
        telemetry.HeartbeatLatency.Record(latency);
        await dapr.SaveStateAsync(StateKeys.Store, StateKeys.Heartbeat, new PipelineHeartbeat(beat.ReceivedAt, now, latency), cancellationToken: ct);
    }

    /// <summary>
    /// One profile (a master: see <see cref="IdentityRules"/>), folded through the events of a delivery that were not
    /// folded before, after taking in the profiles of the ids linked to it that were not merged yet.
    /// <para>A merge is one transaction: the master's profile and seen set (joined with the merged ones', so a
    /// redelivered event of a merged id is still recognized), and under each merged id a redirect
    /// (<see cref="UserProfile.MergedInto"/>) guarded by the etag its profile was read with — written also where no
    /// profile was yet, so a replica that has not seen the link cannot start one there: its write conflicts, it reads
    /// the redirect, and its events are retried and go to the master. A profile found to be a redirect itself is not
    /// folded (<see cref="Failed"/>): its events are retried and resolve to its new master.</para>
    /// </summary>
    private sealed class ProfileFold(
        string profileId, IReadOnlyCollection<string> absorb, AggregationOptions settings, IReadOnlyList<CompiledSegment> segments,
        UserIdHasher hasher, TimeProvider clock, IReadOnlyDictionary<string, string> seenMetadata)
        : KeyUpdate(StateKeys.Profile(profileId))
    {
        private readonly string _seenKey = StateKeys.Seen(profileId);

        public string ProfileId => profileId;
        public IReadOnlyCollection<string> Absorbed => absorb;
        public List<EnrichedEvent> Events { get; } = [];
        public List<EnrichedEvent> Folded { get; } = [];
        public int Duplicates { get; private set; }
        /// <summary>Events not folded, per reason: "erased", or the purpose revoked.</summary>
        public Dictionary<string, int> Withheld { get; } = new(StringComparer.Ordinal);
        public long Version { get; private set; }
        public DateTimeOffset UpdatedAt { get; private set; }
        /// <summary>Folded events that were behind the profile's watermark (lifetime counters only).</summary>
        public int Late { get; private set; }
        /// <summary>The segments the profile entered or left, and those a merged profile left.</summary>
        public List<SegmentsChanged> Changes { get; } = [];
        /// <summary>When the profile's evaluation can next change without an event (<see cref="InsightsEvaluator.NextChange"/>).</summary>
        public DateTimeOffset? DueAt { get; private set; }
        /// <summary>The segments the profile is a member of, as written.</summary>
        public IReadOnlyCollection<string> Segments { get; private set; } = [];
        /// <summary>The ids whose profiles were merged in, each with the version of the redirect left there.</summary>
        public List<(string Id, long Version)> Redirected { get; } = [];
        /// <summary>The profile this one was merged into meanwhile, when it was.</summary>
        private string? _mergedInto;

        /// <summary>Why this fold's events must be retried, when they must.</summary>
        public string? Failed => Failure ?? (_mergedInto is { } master ? $"profile {profileId} was merged into {master} meanwhile" : null);

        public override IReadOnlyList<string> AlsoRead =>
            [_seenKey, .. ConsentCheck.Keys(profileId, hasher), .. absorb.SelectMany(id => new[] { StateKeys.Profile(id), StateKeys.Seen(id) })];

        public override IReadOnlyList<StateTransactionRequest> Plan(Stored stored, IReadOnlyDictionary<string, Stored> others)
        {
            var current = Read(stored);
            var now = clock.GetUtcNow();
            Folded.Clear();
            Withheld.Clear();
            Changes.Clear();
            Redirected.Clear();
            Duplicates = 0;
            Late = 0;
            DueAt = null;
            Version = current?.Version ?? 0;
            UpdatedAt = current?.UpdatedAt ?? now;
            _mergedInto = current?.MergedInto;
            if (_mergedInto is not null) return [];

            var seen = ReadSeen(others.GetValueOrDefault(_seenKey));
            var operations = new List<StateTransactionRequest>();
            var merging = new List<UserProfile>();
            foreach (var id in absorb)
            {
                var key = StateKeys.Profile(id);
                var linked = others.GetValueOrDefault(key);
                var profile = Read(linked);
                if (profile?.MergedInto is not null) continue; // merged already (here, or into the master it had before)
                if (profile is { Version: > 0 })
                {
                    merging.Add(profile);
                    seen = seen.Join(ReadSeen(others.GetValueOrDefault(StateKeys.Seen(id))));
                    operations.Add(new StateTransactionRequest(StateKeys.Seen(id), null, StateOperationType.Delete));
                    if (profile.Segments.Count > 0)
                    {
                        var exited = profile.Segments.Select(m => new SegmentChange(m.Key, m.Value.Name, $"merged into {profileId}")).ToList();
                        Changes.Add(new SegmentsChanged(id, [], exited, now));
                    }
                }
                var redirect = ProfileMerger.Redirect(id, profileId, profile?.Version ?? 0, now);
                operations.Add(Write(key, linked, JsonSerializer.SerializeToUtf8Bytes(redirect, ContractsJsonContext.Default.UserProfile)));
                Redirected.Add((id, redirect.Version));
            }

            var check = ConsentCheck.Read(profileId, hasher, others);
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
            if (Folded.Count == 0 && merging.Count == 0) return operations;

            var merged = current;
            foreach (var profile in merging)
            {
                merged = ProfileMerger.Merge(merged ?? ProfileFolder.Empty(profileId), profile, now, settings.AllowedLateness);
            }
            if (Folded.Count > 0)
            {
                merged = ProfileFolder.FoldAll(merged, Folded, now, settings.AllowedLateness, out var late);
                Late = late;
            }
            var (evaluated, changes) = ProfileEvaluation.Apply(merged!, segments, settings.Flags, now);
            if (changes is not null) Changes.Add(changes);
            Version = evaluated.Version;
            UpdatedAt = evaluated.UpdatedAt;
            DueAt = InsightsEvaluator.NextChange(evaluated, now);
            Segments = [.. evaluated.Segments.Keys];

            var nextSeen = seen.With(Folded.Select(e => e.Event.MessageId), now, settings.DeduplicationWindow, settings.MaxSeenPerProfile);
            operations.Add(Write(stored, JsonSerializer.SerializeToUtf8Bytes(evaluated, ContractsJsonContext.Default.UserProfile)));
            operations.Add(new StateTransactionRequest(_seenKey, JsonSerializer.SerializeToUtf8Bytes(nextSeen, AggregationJsonContext.Default.SeenSet),
                StateOperationType.Upsert, metadata: seenMetadata));
            return operations;
        }

        private static UserProfile? Read(Stored stored) =>
            stored.Json is null ? null : JsonSerializer.Deserialize(stored.Json, ContractsJsonContext.Default.UserProfile);

        private static SeenSet ReadSeen(Stored stored) =>
            stored.Json is null ? SeenSet.Empty() : JsonSerializer.Deserialize(stored.Json, AggregationJsonContext.Default.SeenSet) ?? SeenSet.Empty();
    }
}
