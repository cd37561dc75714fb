using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapr.Client;
using Microsoft.Extensions.Options;
using Personalization.Contracts;
using Personalization.Enrichment.Extensions;
using Personalization.Enrichment.Model;
using Personalization.Enrichment.ThirdParty;
using Personalization.Streaming;

namespace Personalization.Enrichment.IntegrationEvents;

/// <summary>
/// <c>events.consented</c> → <c>events.enriched</c>: each event gets its session (from the profile's
/// <see cref="StateKeys.Session"/> state, see <see cref="Sessionizer"/>), its device from <c>context.userAgent</c>, its
/// place (<see cref="GeoResolver"/>: <c>context.location</c>, a configured network, the IP database), its bot verdict
/// (<see cref="BotDetector"/>: user agent, and the profile's rate), the profile's current traits, and what the
/// third-party provider knows of it (<see cref="ProviderClient"/>), when one is configured.
/// <para>Per delivery: the sessions of every profile in it are read in one bulk get, advanced through all of that
/// profile's events, and written back in one etag-guarded transaction (<see cref="StateBatch"/>); then one bulk publish
/// with one message per consented message. The same bulk get reads each profile's consent and suppression marker, and its
/// materialized profile (<see cref="StateKeys.Profile"/>) for the traits: an event whose user was erased, or that relied
/// on a purpose revoked since consent let it through, is dropped here (<see cref="ConsentCheck"/>) and gets no session.
/// The rate counts of bot detection live in the session state, so they cost nothing more. A profile merged into another
/// (its stored profile says <c>mergedInto</c>) takes the traits of that one, read for all such profiles of the delivery in
/// one more bulk get. A redelivered event finds its message id among the profile's recent ones and gets the same session
/// and rate verdict again. A message is retried alone when its profile's session could not be written or its publish was
/// refused.</para>
/// <para>The provider is called once per delivery, with every event that goes on (after the consent check, so no
/// dropped event is sent to a third party), and only then are the events published: its timeout bounds how long the
/// stream waits, and any failure of it leaves the events without its data, never retried for it.</para>
/// </summary>
public sealed class EventEnricher(
    DaprClient dapr, Sessionizer sessionizer, GeoResolver geo, BotDetector bots, ProviderClient provider, IOptions<EnrichmentOptions> options,
    UserIdHasher hasher, EnrichmentTelemetry telemetry) : IEventBatchHandler<CollectedEvent>
{
    /// <summary>A session state unused this long is gone; any next event would open a new session anyway.</summary>
    public static readonly TimeSpan SessionStateTtl = TimeSpan.FromDays(7);

    private static readonly Dictionary<string, string> SessionMetadata = new()
    {
        ["ttlInSeconds"] = ((long)SessionStateTtl.TotalSeconds).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>The verdict of an event that looks human, when bot detection is on.</summary>
    private static readonly BotVerdict Human = new(false, null, null);

    private readonly ProfileTraitsOptions _traits = options.Value.ProfileTraits;
    private readonly HashSet<string> _traitNames = new(options.Value.ProfileTraits.Names, StringComparer.Ordinal);

    public async Task HandleAsync(IReadOnlyList<Delivery<CollectedEvent>> deliveries, CancellationToken ct)
    {
        var byProfile = new Dictionary<string, SessionUpdate>(StringComparer.Ordinal);
        foreach (var delivery in deliveries)
        {
            foreach (var e in delivery.Events)
            {
                if (!byProfile.TryGetValue(e.ProfileId, out var update))
                {
                    byProfile[e.ProfileId] = update = new SessionUpdate(e.ProfileId, sessionizer, bots, hasher, _traits.Enabled ? _traitNames : null);
                }
                update.Events.Add(e);
            }
        }
        var updates = byProfile.Values.ToList();
        var redone = await StateBatch.UpdateAsync(dapr, StateKeys.Store, updates, ct);
        await ReadMergedTraitsAsync(updates, ct);

        var enrichedByDelivery = new List<(Delivery<CollectedEvent> Delivery, List<EnrichedEvent> Events)>(deliveries.Count);
        var devices = new Dictionary<string, long>(StringComparer.Ordinal);
        var places = new Dictionary<string, long>(StringComparer.Ordinal);
        var botSignals = new Dictionary<string, long>(StringComparer.Ordinal);
        var toProvider = provider.IsConfigured ? new List<CollectedEvent>() : null;
        long withTraits = 0;
        foreach (var delivery in deliveries)
        {
            var enriched = new List<EnrichedEvent>(delivery.Events.Count);
            foreach (var e in delivery.Events)
            {
                var update = byProfile[e.ProfileId];
                if (update.Failure is { } failure)
                {
                    delivery.Fail(failure);
                    break;
                }
                if (!update.Sessions.TryGetValue(e.MessageId, out var session)) continue; // dropped: see ConsentCheck
                var userAgent = e.Context?["userAgent"] is JsonValue ua && ua.GetValueKind() == JsonValueKind.String ? ua.GetValue<string>() : null;
                var device = UserAgentParser.Parse(userAgent);
                var place = geo.Resolve(e.Context);
                var bot = bots.FromUserAgent(userAgent) ?? update.RateVerdicts.GetValueOrDefault(e.MessageId) ?? (bots.Options.Enabled ? Human : null);
                devices[device.DeviceType] = devices.GetValueOrDefault(device.DeviceType) + 1;
                var source = place?.Source ?? "none";
                places[source] = places.GetValueOrDefault(source) + 1;
                if (bot is { IsBot: true, Signal: { } signal }) botSignals[signal] = botSignals.GetValueOrDefault(signal) + 1;
                if (update.Traits is not null) withTraits++;
                enriched.Add(new EnrichedEvent(e, session, device, place) { Bot = bot, ProfileTraits = update.Traits });
                if (e.ProfileId != Heartbeat.ProfileId) toProvider?.Add(e);
            }
            if (delivery.Failure is null && enriched.Count > 0) enrichedByDelivery.Add((delivery, enriched));
        }

        // Only the events that go on are sent; whatever happens there, they go on (with or without its data).
        var answers = toProvider is { Count: > 0 } ? await provider.EnrichAsync(toProvider, ct) : null;
        var outgoing = new OutgoingMessages<CollectedEvent, EnrichedEventBatch>(enrichedByDelivery.Count);
        foreach (var (delivery, enriched) in enrichedByDelivery)
        {
            if (answers is { Count: > 0 })
            {
                for (var i = 0; i < enriched.Count; i++)
                {
                    if (answers.TryGetValue(enriched[i].Event.MessageId, out var data)) enriched[i] = enriched[i] with { Provider = data };
                }
            }
            outgoing.Add(delivery, new EnrichedEventBatch(enriched));
        }
        await outgoing.PublishAsync(dapr, Topics.EventsEnriched, ct);

        foreach (var (deviceType, count) in devices) telemetry.Enriched.Add(count, new KeyValuePair<string, object?>("device.type", deviceType));
        foreach (var (source, count) in places) telemetry.Geo.Add(count, new KeyValuePair<string, object?>("geo.source", source));
        foreach (var (signal, count) in botSignals) telemetry.Bots.Add(count, new KeyValuePair<string, object?>("signal", signal));
        if (withTraits > 0) telemetry.ProfileTraits.Add(withTraits);
        long sessions = 0, late = 0, redeliveries = 0;
        var dropped = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var update in updates)
        {
            if (update.Failure is not null) continue;
            (sessions, late, redeliveries) = (sessions + update.NewSessions, late + update.Late, redeliveries + update.Redeliveries);
            foreach (var (reason, count) in update.Dropped) dropped[reason] = dropped.GetValueOrDefault(reason) + count;
        }
        foreach (var (reason, count) in dropped) telemetry.Dropped.Add(count, new KeyValuePair<string, object?>("reason", reason));
        if (sessions > 0) telemetry.Sessions.Add(sessions);
        if (late > 0) telemetry.Late.Add(late);
        if (redeliveries > 0) telemetry.Redeliveries.Add(redeliveries);
        if (redone > 0) telemetry.Conflicts.Add(redone);
    }

    /// <summary>
    /// The traits of the profiles that were merged into others: one bulk get of those others (one hop: a merge target is
    /// a profile of its own), only when the delivery has such profiles.
    /// </summary>
    private async Task ReadMergedTraitsAsync(List<SessionUpdate> updates, CancellationToken ct)
    {
        List<SessionUpdate>? merged = null;
        foreach (var update in updates)
        {
            if (update.Failure is null && update.MergedInto is not null) (merged ??= []).Add(update);
        }
        if (merged is null) return;
        var keys = merged.Select(u => StateKeys.Profile(u.MergedInto!)).Distinct(StringComparer.Ordinal).ToList();
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in await dapr.GetBulkStateAsync(StateKeys.Store, keys, parallelism: null, cancellationToken: ct))
        {
            if (!string.IsNullOrEmpty(item.Value)) found[item.Key] = item.Value;
        }
        foreach (var update in merged)
        {
            update.Traits = ProfileTraitsReader.Read(found.GetValueOrDefault(StateKeys.Profile(update.MergedInto!)), _traitNames).Traits;
        }
    }

    /// <summary>One profile's session state, advanced through the profile's events of a delivery, in their order.</summary>
    private sealed class SessionUpdate(string profileId, Sessionizer sessionizer, BotDetector bots, UserIdHasher hasher, IReadOnlyCollection<string>? traitNames)
        : KeyUpdate(StateKeys.Session(profileId))
    {
        private readonly string[] _alsoRead = traitNames is null
            ? ConsentCheck.Keys(profileId, hasher)
            : [.. ConsentCheck.Keys(profileId, hasher), StateKeys.Profile(profileId)];

        public List<CollectedEvent> Events { get; } = [];

        /// <summary>Events dropped by <see cref="ConsentCheck"/>, per reason.</summary>
        public Dictionary<string, int> Dropped { get; } = new(StringComparer.Ordinal);

        public override IReadOnlyList<string> AlsoRead => _alsoRead;

        /// <summary>The session each event got, by message id (a message twice in a delivery gets the same answer).</summary>
        public Dictionary<string, SessionContext> Sessions { get; } = new(StringComparer.Ordinal);

        /// <summary>The events found over the profile's rate, by message id.</summary>
        public Dictionary<string, BotVerdict> RateVerdicts { get; } = new(StringComparer.Ordinal);

        /// <summary>The profile's traits as stored; null when there are none, or traits are not added.</summary>
        public JsonObject? Traits { get; set; }

        /// <summary>The profile this one was merged into, whose traits it takes.</summary>
        public string? MergedInto { get; private set; }

        public int NewSessions { get; private set; }
        public int Late { get; private set; }
        public int Redeliveries { get; private set; }

        public override IReadOnlyList<StateTransactionRequest> Plan(Stored stored, IReadOnlyDictionary<string, Stored> others)
        {
            var state = stored.Json is null ? null : JsonSerializer.Deserialize(stored.Json, EnrichmentJsonContext.Default.SessionState);
            var changed = false;
            (NewSessions, Late, Redeliveries) = (0, 0, 0);
            Sessions.Clear();
            RateVerdicts.Clear();
            Dropped.Clear();
            (Traits, MergedInto) = traitNames is null ? (null, null) : ProfileTraitsReader.Read(others.GetValueOrDefault(StateKeys.Profile(profileId)).Json, traitNames);
            var check = ConsentCheck.Read(profileId, hasher, others);
            foreach (var e in Events)
            {
                if (check.Refusal(e) is { } refusal)
                {
                    Dropped[refusal] = Dropped.GetValueOrDefault(refusal) + 1;
                    continue;
                }
                var assignment = sessionizer.Assign(state, profileId, e.MessageId, e.Timestamp);
                Sessions[e.MessageId] = assignment.Session;
                if (assignment.IsRedelivery)
                {
                    Redeliveries++;
                    if (state!.Recent.FirstOrDefault(r => r.MessageId == e.MessageId)?.Bot is { } earlier) RateVerdicts[e.MessageId] = earlier;
                    continue;
                }
                var next = assignment.Next!;
                var (rate, verdict) = bots.Count(next.Rate, e.Timestamp);
                state = next with { Rate = rate, Recent = verdict is null ? next.Recent : RememberVerdict(next.Recent, verdict) };
                if (verdict is not null) RateVerdicts[e.MessageId] = verdict;
                changed = true;
                if (assignment.Session.IsNewSession) NewSessions++;
                if (assignment.IsLate) Late++;
            }
            return changed ? [Write(stored, JsonSerializer.SerializeToUtf8Bytes(state!, EnrichmentJsonContext.Default.SessionState), SessionMetadata)] : [];
        }

        /// <summary>The recent messages with the verdict on the newest (the one just remembered).</summary>
        private static List<RecentMessage> RememberVerdict(IReadOnlyList<RecentMessage> recent, BotVerdict verdict)
        {
            var marked = new List<RecentMessage>(recent);
            marked[^1] = marked[^1] with { Bot = verdict };
            return marked;
        }
    }
}
