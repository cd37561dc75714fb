using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapr;
using Dapr.Client;
using Personalization.Contracts;
using Personalization.Enrichment.Extensions;
using Personalization.Enrichment.Model;

namespace Personalization.Enrichment.IntegrationEvents;

/// <summary>
/// <c>events.consented</c> → <c>events.enriched</c>: session (etag-guarded read-modify-write of
/// <see cref="StateKeys.Session"/>), device from <c>context.userAgent</c>, geo from <c>context.location</c> /
/// <c>context.ip</c>. Answers 200 when published; an exception (500) otherwise, so the sidecar retries per resiliency
/// and then moves the message to <c>events.consented.dead-letter</c>, which this service counts
/// (<c>enrichment.dead_lettered</c>), logs and acknowledges.
/// </summary>
public static class EnrichmentSubscriptions
{
    /// <summary>A session state unused this long is gone; any next event would open a new session anyway.</summary>
    public static readonly TimeSpan SessionStateTtl = TimeSpan.FromDays(7);

    private const int MaxAttempts = 10;

    private static readonly Dictionary<string, string> SessionMetadata = new()
    {
        ["ttlInSeconds"] = ((long)SessionStateTtl.TotalSeconds).ToString(CultureInfo.InvariantCulture),
    };

    public static IEndpointRouteBuilder MapEnrichmentSubscriptions(this IEndpointRouteBuilder app)
    {
        app.MapPost("/events/consented", OnConsentedAsync)
            .WithTopic(new TopicOptions
            {
                PubsubName = Topics.PubSub,
                Name = Topics.EventsConsented,
                DeadLetterTopic = Topics.DeadLetterOf(Topics.EventsConsented),
            })
            .ExcludeFromDescription();

        app.MapPost("/dead-letters/events-consented", OnDeadLetter)
            .WithTopic(Topics.PubSub, Topics.DeadLetterOf(Topics.EventsConsented))
            .ExcludeFromDescription();
        return app;
    }

    public static async Task<IResult> OnConsentedAsync(
        JsonElement data, DaprClient dapr, Sessionizer sessionizer, GeoResolver geo, EnrichmentTelemetry telemetry,
        ILogger<Sessionizer> logger, CancellationToken ct)
    {
        var collected = data.Deserialize(EnrichmentJsonContext.Default.CollectedEvent)
            ?? throw new JsonException("the event is JSON null");
        var profileId = collected.ProfileId;
        using var activity = EnrichmentTelemetry.ActivitySource.StartActivity("enrichment.enrich");
        activity?.SetTag("message.id", collected.MessageId);

        var session = await SessionizeAsync(dapr, sessionizer, telemetry, logger, collected, profileId, ct);
        var userAgent = collected.Context?["userAgent"] is JsonValue ua && ua.GetValueKind() == JsonValueKind.String ? ua.GetValue<string>() : null;
        var device = UserAgentParser.Parse(userAgent);
        var enriched = new EnrichedEvent(collected, session, device, geo.Resolve(collected.Context));

        await dapr.PublishEventAsync(Topics.PubSub, Topics.EventsEnriched, enriched, ct);
        telemetry.Enriched.Add(1, new KeyValuePair<string, object?>("device.type", device.DeviceType));
        activity?.SetTag("session.id", session.SessionId);
        return TypedResults.Ok();
    }

    private static async Task<SessionContext> SessionizeAsync(
        DaprClient dapr, Sessionizer sessionizer, EnrichmentTelemetry telemetry, ILogger logger,
        CollectedEvent collected, string profileId, CancellationToken ct)
    {
        var key = StateKeys.Session(profileId);
        for (var attempt = 1; ; attempt++)
        {
            var (state, etag) = await dapr.GetStateAndETagAsync<SessionState?>(StateKeys.Store, key, cancellationToken: ct);
            var assignment = sessionizer.Assign(state, profileId, collected.MessageId, collected.Timestamp);
            if (assignment.IsRedelivery)
            {
                telemetry.Redeliveries.Add(1);
                EnrichmentTelemetry.Redelivered(logger, collected.MessageId, profileId, assignment.Session.SessionId, assignment.Session.Sequence);
                return assignment.Session;
            }

            bool saved;
            if (string.IsNullOrEmpty(etag))
            {
                // First session of the profile: first-write, so of two replicas creating it at once only one wins.
                try
                {
                    await dapr.SaveStateAsync(StateKeys.Store, key, assignment.Next, new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }, SessionMetadata, ct);
                    saved = true;
                }
                catch (DaprException) when (attempt < MaxAttempts)
                {
                    saved = false;
                }
            }
            else
            {
                saved = await dapr.TrySaveStateAsync(StateKeys.Store, key, assignment.Next, etag, metadata: SessionMetadata, cancellationToken: ct);
            }

            if (saved)
            {
                if (assignment.Session.IsNewSession) telemetry.Sessions.Add(1);
                if (assignment.IsLate) telemetry.Late.Add(1);
                return assignment.Session;
            }
            telemetry.Conflicts.Add(1);
            if (attempt >= MaxAttempts) throw new InvalidOperationException($"session of {profileId} kept changing under {MaxAttempts} attempts to save it");
        }
    }

    public static IResult OnDeadLetter(HttpRequest request, EnrichmentTelemetry telemetry, ILogger<Sessionizer> logger)
    {
        var topic = Topics.DeadLetterOf(Topics.EventsConsented);
        telemetry.DeadLettered.Add(1, new KeyValuePair<string, object?>("topic", topic));
        EnrichmentTelemetry.DeadLetter(logger, request.Headers["Cloudevent.id"].FirstOrDefault(), topic);
        Activity.Current?.SetTag("dead_letter.topic", topic);
        return TypedResults.Ok();
    }
}
