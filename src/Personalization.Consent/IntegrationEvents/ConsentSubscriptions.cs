using System.Diagnostics;
using System.Text.Json;
using Dapr;
using Dapr.Client;
using Personalization.Consent.Extensions;
using Personalization.Consent.Model;
using Personalization.Contracts;

namespace Personalization.Consent.IntegrationEvents;

/// <summary>
/// <c>events.collected</c> → <c>events.consented</c>: an event goes on, byte for byte as it came, only when every
/// purpose it needs is granted (see <see cref="ConsentPolicy"/>); the consent is the user's current one from the
/// state store (keyed by the event's profile id: userId, else anonymousId).
/// <para>Answers: 200 when forwarded or deliberately filtered out (a denied event is done, not failed); an exception
/// (500) when the event cannot be read or the store/broker fails, so the sidecar retries per resiliency and then
/// moves it to <c>events.collected.dead-letter</c>. This service also subscribes to that dead-letter topic, counts
/// what lands there (<c>consent.dead_lettered</c>), logs it and acknowledges it: it stays inspectable in the broker
/// only as far as the log and the metric go (replay is a later issue).</para>
/// </summary>
public static class ConsentSubscriptions
{
    public static IEndpointRouteBuilder MapConsentSubscriptions(this IEndpointRouteBuilder app)
    {
        app.MapPost("/events/collected", OnCollectedAsync)
            .WithTopic(new TopicOptions
            {
                PubsubName = Topics.PubSub,
                Name = Topics.EventsCollected,
                DeadLetterTopic = Topics.DeadLetterOf(Topics.EventsCollected),
            })
            .ExcludeFromDescription();

        app.MapPost("/dead-letters/events-collected", OnDeadLetter)
            .WithTopic(Topics.PubSub, Topics.DeadLetterOf(Topics.EventsCollected))
            .ExcludeFromDescription();
        return app;
    }

    public static async Task<IResult> OnCollectedAsync(
        JsonElement data, DaprClient dapr, ConsentPolicy policy, ConsentTelemetry telemetry, ILogger<ConsentPolicy> logger, CancellationToken ct)
    {
        // A body that is no CollectedEvent throws here: retried, then dead-lettered.
        var collected = data.Deserialize(ConsentJsonContext.Default.CollectedEvent)
            ?? throw new JsonException("the event is JSON null");
        var profileId = collected.ProfileId;

        using var activity = ConsentTelemetry.ActivitySource.StartActivity("consent.filter");
        activity?.SetTag("message.id", collected.MessageId);

        var state = await dapr.GetStateAsync<ConsentState?>(StateKeys.Store, StateKeys.Consent(profileId), cancellationToken: ct);
        var decision = policy.Decide(collected, state);
        if (!decision.Allowed)
        {
            var denied = decision.DeniedPurpose!;
            telemetry.Denied.Add(1, new KeyValuePair<string, object?>("purpose", denied));
            activity?.SetTag("consent.denied", denied);
            ConsentTelemetry.EventDenied(logger, collected.MessageId, profileId, denied);
            return TypedResults.Ok();
        }

        await dapr.PublishEventAsync(Topics.PubSub, Topics.EventsConsented, data, ct);
        foreach (var purpose in decision.Purposes)
        {
            telemetry.Allowed.Add(1, new KeyValuePair<string, object?>("purpose", purpose));
        }
        return TypedResults.Ok();
    }

    public static IResult OnDeadLetter(HttpRequest request, ConsentTelemetry telemetry, ILogger<ConsentPolicy> logger)
    {
        var topic = Topics.DeadLetterOf(Topics.EventsCollected);
        telemetry.DeadLettered.Add(1, new KeyValuePair<string, object?>("topic", topic));
        ConsentTelemetry.DeadLetter(logger, request.Headers["Cloudevent.id"].FirstOrDefault(), topic);
        Activity.Current?.SetTag("dead_letter.topic", topic);
        return TypedResults.Ok();
    }
}
