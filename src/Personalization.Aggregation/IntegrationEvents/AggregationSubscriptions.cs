using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Dapr;
using Dapr.Client;
using Microsoft.Extensions.Options;
using Personalization.Aggregation.Extensions;
using Personalization.Aggregation.Model;
using Personalization.Contracts;

namespace Personalization.Aggregation.IntegrationEvents;

/// <summary>The value of a <see cref="StateKeys.Seen"/> marker: which profile version the event produced.</summary>
public sealed record SeenMarker(long Version, DateTimeOffset UpdatedAt);

/// <summary>
/// <c>events.enriched</c> → the profile in the state store, then <c>profiles.updated</c>.
/// <para>Exactly-once in effect: one bulk get reads the profile (with its etag) and the event's seen-marker
/// (<c>seen:{profileId}:{messageId}</c>). A marker means the event was folded already: nothing is written and the
/// <see cref="ProfileUpdated"/> of that fold is published again (the first publish may be what failed). Otherwise one
/// state transaction writes the folded profile, guarded by its etag, together with the marker (TTL
/// <c>Aggregation:DeduplicationWindow</c>); an etag conflict re-reads and folds again. A profile not in the store yet is
/// first created empty with first-write concurrency, so two replicas creating it at once cannot both win.</para>
/// <para>Answers 200 when done; an exception (500) otherwise, so the sidecar retries per resiliency and then moves the
/// message to <c>events.enriched.dead-letter</c>, which this service counts (<c>aggregation.dead_lettered</c>), logs
/// and acknowledges.</para>
/// </summary>
public static class AggregationSubscriptions
{
    private const int MaxAttempts = 10;

    public static IEndpointRouteBuilder MapAggregationSubscriptions(this IEndpointRouteBuilder app)
    {
        app.MapPost("/events/enriched", OnEnrichedAsync)
            .WithTopic(new TopicOptions
            {
                PubsubName = Topics.PubSub,
                Name = Topics.EventsEnriched,
                DeadLetterTopic = Topics.DeadLetterOf(Topics.EventsEnriched),
            })
            .ExcludeFromDescription();

        app.MapPost("/dead-letters/events-enriched", OnDeadLetter)
            .WithTopic(Topics.PubSub, Topics.DeadLetterOf(Topics.EventsEnriched))
            .ExcludeFromDescription();
        return app;
    }

    public static async Task<IResult> OnEnrichedAsync(
        JsonElement data, DaprClient dapr, IOptions<AggregationOptions> options, TimeProvider clock,
        AggregationTelemetry telemetry, ILogger<AggregationOptions> logger, CancellationToken ct)
    {
        var enriched = data.Deserialize(AggregationJsonContext.Default.EnrichedEvent)
            ?? throw new JsonException("the event is JSON null");
        var e = enriched.Event;
        var profileId = e.ProfileId;
        using var activity = AggregationTelemetry.ActivitySource.StartActivity("aggregation.fold");
        activity?.SetTag("message.id", e.MessageId);
        activity?.SetTag("profile.id", profileId);

        var profileKey = StateKeys.Profile(profileId);
        var seenKey = StateKeys.Seen(profileId, e.MessageId);
        IReadOnlyList<string> keys = [profileKey, seenKey];
        var markerMetadata = new Dictionary<string, string>
        {
            ["ttlInSeconds"] = ((long)options.Value.DeduplicationWindow.TotalSeconds).ToString(CultureInfo.InvariantCulture),
        };

        for (var attempt = 1; ; attempt++)
        {
            var items = await dapr.GetBulkStateAsync(StateKeys.Store, keys, parallelism: null, cancellationToken: ct);
            string? profileJson = null, profileETag = null, seenJson = null;
            foreach (var item in items)
            {
                if (item.Key == profileKey) (profileJson, profileETag) = (item.Value, item.ETag);
                else if (item.Key == seenKey) seenJson = item.Value;
            }

            if (!string.IsNullOrEmpty(seenJson))
            {
                var marker = JsonSerializer.Deserialize(seenJson, AggregationJsonContext.Default.SeenMarker)!;
                telemetry.Duplicates.Add(1);
                AggregationTelemetry.Duplicate(logger, e.MessageId, profileId, marker.Version);
                await PublishAsync(dapr, profileId, marker.Version, marker.UpdatedAt, e, ct);
                return TypedResults.Ok();
            }

            if (string.IsNullOrEmpty(profileETag))
            {
                if (attempt >= MaxAttempts) throw new InvalidOperationException($"profile {profileId} could not be created in {MaxAttempts} attempts");
                await CreateEmptyAsync(dapr, profileKey, profileId, ct);
                continue;
            }

            var current = string.IsNullOrEmpty(profileJson)
                ? null
                : JsonSerializer.Deserialize(profileJson, AggregationJsonContext.Default.UserProfile);
            var now = clock.GetUtcNow();
            var next = ProfileFolder.Fold(current, enriched, now);
            var seen = new SeenMarker(next.Version, now);
            StateTransactionRequest[] operations =
            [
                new(profileKey, JsonSerializer.SerializeToUtf8Bytes(next, AggregationJsonContext.Default.UserProfile), StateOperationType.Upsert, profileETag),
                new(seenKey, JsonSerializer.SerializeToUtf8Bytes(seen, AggregationJsonContext.Default.SeenMarker), StateOperationType.Upsert, metadata: markerMetadata),
            ];
            try
            {
                await dapr.ExecuteStateTransactionAsync(StateKeys.Store, operations, cancellationToken: ct);
            }
            catch (DaprException conflict) when (attempt < MaxAttempts)
            {
                // An etag mismatch (another event of this profile won the race), or a store hiccup: both are safe to
                // redo, because the marker and the profile are written together or not at all.
                telemetry.Conflicts.Add(1);
                AggregationTelemetry.Conflict(logger, profileId, e.MessageId, attempt, conflict.InnerException?.Message ?? conflict.Message);
                continue;
            }

            telemetry.Freshness.Record((clock.GetUtcNow() - e.ReceivedAt).TotalMilliseconds);
            telemetry.Folded.Add(1, new KeyValuePair<string, object?>("event.type", e.Type));
            activity?.SetTag("profile.version", next.Version);
            await PublishAsync(dapr, profileId, next.Version, now, e, ct);
            return TypedResults.Ok();
        }
    }

    private static async Task CreateEmptyAsync(DaprClient dapr, string profileKey, string profileId, CancellationToken ct)
    {
        try
        {
            await dapr.SaveStateAsync(StateKeys.Store, profileKey, ProfileFolder.Empty(profileId),
                new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }, cancellationToken: ct);
        }
        catch (DaprException)
        {
            // Another delivery created it first; the next read sees it with its etag.
        }
    }

    private static Task PublishAsync(DaprClient dapr, string profileId, long version, DateTimeOffset updatedAt, CollectedEvent cause, CancellationToken ct) =>
        dapr.PublishEventAsync(Topics.PubSub, Topics.ProfilesUpdated,
            new ProfileUpdated(profileId, version, updatedAt, cause.MessageId, cause.ReceivedAt), ct);

    public static IResult OnDeadLetter(HttpRequest request, AggregationTelemetry telemetry, ILogger<AggregationOptions> logger)
    {
        var topic = Topics.DeadLetterOf(Topics.EventsEnriched);
        telemetry.DeadLettered.Add(1, new KeyValuePair<string, object?>("topic", topic));
        AggregationTelemetry.DeadLetter(logger, request.Headers["Cloudevent.id"].FirstOrDefault(), topic);
        Activity.Current?.SetTag("dead_letter.topic", topic);
        return TypedResults.Ok();
    }
}
