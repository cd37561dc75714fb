using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapr.Client;
using Personalization.Contracts;
using Personalization.Enrichment.Extensions;
using Personalization.Enrichment.Model;
using Personalization.Streaming;

namespace Personalization.Enrichment.IntegrationEvents;

/// <summary>
/// <c>events.consented</c> → <c>events.enriched</c>: each event gets its session (from the profile's
/// <see cref="StateKeys.Session"/> state, see <see cref="Sessionizer"/>), its device from <c>context.userAgent</c> and
/// its place from <c>context.location</c> / <c>context.ip</c>.
/// <para>Per delivery: the sessions of every profile in it are read in one bulk get, advanced through all of that
/// profile's events, and written back in one etag-guarded transaction (<see cref="StateBatch"/>); then one bulk publish
/// with one message per consented message. The same bulk get reads each profile's consent and suppression marker: an
/// event whose user was erased, or that relied on a purpose revoked since consent let it through, is dropped here
/// (<see cref="ConsentCheck"/>) and gets no session. A redelivered event finds its message id among the profile's recent ones
/// and gets the same session again. A message is retried alone when its profile's session could not be written or its
/// publish was refused.</para>
/// </summary>
public sealed class EventEnricher(
    DaprClient dapr, Sessionizer sessionizer, GeoResolver geo, UserIdHasher hasher, EnrichmentTelemetry telemetry) : IEventBatchHandler<CollectedEvent>
{
    /// <summary>A session state unused this long is gone; any next event would open a new session anyway.</summary>
    public static readonly TimeSpan SessionStateTtl = TimeSpan.FromDays(7);

    private static readonly Dictionary<string, string> SessionMetadata = new()
    {
        ["ttlInSeconds"] = ((long)SessionStateTtl.TotalSeconds).ToString(CultureInfo.InvariantCulture),
    };

    public async Task HandleAsync(IReadOnlyList<Delivery<CollectedEvent>> deliveries, CancellationToken ct)
    {
        var byProfile = new Dictionary<string, SessionUpdate>(StringComparer.Ordinal);
        foreach (var delivery in deliveries)
        {
            foreach (var e in delivery.Events)
            {
                if (!byProfile.TryGetValue(e.ProfileId, out var update)) byProfile[e.ProfileId] = update = new SessionUpdate(e.ProfileId, sessionizer, hasher);
                update.Events.Add(e);
            }
        }
        var updates = byProfile.Values.ToList();
        var redone = await StateBatch.UpdateAsync(dapr, StateKeys.Store, updates, ct);

        var outgoing = new OutgoingMessages<CollectedEvent, EnrichedEventBatch>(deliveries.Count);
        var devices = new Dictionary<string, long>(StringComparer.Ordinal);
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
                devices[device.DeviceType] = devices.GetValueOrDefault(device.DeviceType) + 1;
                enriched.Add(new EnrichedEvent(e, session, device, geo.Resolve(e.Context)));
            }
            if (delivery.Failure is null && enriched.Count > 0) outgoing.Add(delivery, new EnrichedEventBatch(enriched));
        }
        await outgoing.PublishAsync(dapr, Topics.EventsEnriched, ct);

        foreach (var (deviceType, count) in devices) telemetry.Enriched.Add(count, new KeyValuePair<string, object?>("device.type", deviceType));
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

    /// <summary>One profile's session state, advanced through the profile's events of a delivery, in their order.</summary>
    private sealed class SessionUpdate(string profileId, Sessionizer sessionizer, UserIdHasher hasher) : KeyUpdate(StateKeys.Session(profileId))
    {
        public List<CollectedEvent> Events { get; } = [];

        /// <summary>Events dropped by <see cref="ConsentCheck"/>, per reason.</summary>
        public Dictionary<string, int> Dropped { get; } = new(StringComparer.Ordinal);

        public override IReadOnlyList<string> AlsoRead => ConsentCheck.Keys(profileId, hasher);

        /// <summary>The session each event got, by message id (a message twice in a delivery gets the same answer).</summary>
        public Dictionary<string, SessionContext> Sessions { get; } = new(StringComparer.Ordinal);

        public int NewSessions { get; private set; }
        public int Late { get; private set; }
        public int Redeliveries { get; private set; }

        public override IReadOnlyList<StateTransactionRequest> Plan(Stored stored, IReadOnlyDictionary<string, Stored> others)
        {
            var state = stored.Json is null ? null : JsonSerializer.Deserialize(stored.Json, EnrichmentJsonContext.Default.SessionState);
            var changed = false;
            (NewSessions, Late, Redeliveries) = (0, 0, 0);
            Sessions.Clear();
            Dropped.Clear();
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
                    continue;
                }
                state = assignment.Next;
                changed = true;
                if (assignment.Session.IsNewSession) NewSessions++;
                if (assignment.IsLate) Late++;
            }
            return changed ? [Write(stored, JsonSerializer.SerializeToUtf8Bytes(state!, EnrichmentJsonContext.Default.SessionState), SessionMetadata)] : [];
        }
    }
}
