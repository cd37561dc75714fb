using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Dapr;
using Dapr.AspNetCore;
using Dapr.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Personalization.Contracts;

namespace Personalization.Streaming;

/// <summary>
/// Subscribing the way every consuming service does: Dapr bulk subscribe (the sidecar gathers up to
/// <c>Streaming:MaxMessages</c> messages, or what arrived within <c>Streaming:MaxAwaitMs</c> of the first, into one
/// request), an answer per message, and a dead-letter topic (<c>&lt;topic&gt;.dead-letter</c>) whose arrivals are
/// counted (<c>stream.dead_lettered</c>) and logged.
/// <para>A message that cannot be read — not a CloudEvent, no events, an event of the wrong shape or without ids — is
/// answered RETRY on its own, so it is retried and then dead-lettered alone while the rest of its delivery goes on.
/// What the handler marks failed is retried the same way; when the handler throws, every message of the delivery is.</para>
/// </summary>
public static class EventSubscriptions
{
    public const int DefaultMaxMessages = 100;

    /// <summary>
    /// Short: under load messages pile up while the previous delivery is handled, so deliveries grow by themselves; at a
    /// low rate a message waits at most this long per stage.
    /// </summary>
    public const int DefaultMaxAwaitMs = 5;

    /// <summary>The largest message a delivery is expected to hold: a 512 KB collector request with its envelope and enrichment.</summary>
    public const int MaxMessageBytes = 2 * 1024 * 1024;

    private sealed class RequestSizeLimit(long bytes) : IRequestSizeLimitMetadata
    {
        public long? MaxRequestBodySize { get; } = bytes;
    }

    /// <summary>CloudEvents unwrapped for non-bulk handlers; the CloudEvent id stays readable as header <c>Cloudevent.id</c>.</summary>
    public static CloudEventsMiddlewareOptions CloudEvents { get; } = new()
    {
        ForwardCloudEventPropertiesAsHeaders = true,
        IncludedCloudEventPropertiesAsHeaders = ["id"],
    };

    /// <summary>
    /// The telemetry every consuming service needs, the <see cref="UserIdHasher"/> its privacy checks use, and its DaprClient and HTTP JSON: the service's own generated
    /// types (<paramref name="own"/>), then the contracts', then reflection for anything else.
    /// </summary>
    public static IHostApplicationBuilder AddEventStreaming(this IHostApplicationBuilder builder, IJsonTypeInfoResolver? own = null)
    {
        builder.Services.AddSingleton<StreamingTelemetry>();
        builder.AddUserIdHasher();
        builder.Services.AddDaprClient(dapr => dapr.UseJsonSerializationOptions(ContractsJsonContext.OptionsWith(own)));
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            if (own is not null) json.SerializerOptions.TypeInfoResolverChain.Insert(0, own);
            json.SerializerOptions.TypeInfoResolverChain.Insert(own is null ? 0 : 1, ContractsJsonContext.Default);
        });
        return builder;
    }

    public static IEndpointRouteBuilder MapEventSubscription<T, THandler>(this IEndpointRouteBuilder app, EventTopic<T> topic)
        where THandler : IEventBatchHandler<T>
    {
        var configuration = app.ServiceProvider.GetRequiredService<IConfiguration>();
        var maxMessages = configuration.GetValue("Streaming:MaxMessages", DefaultMaxMessages);
        var spanName = topic.Name + " process";
        app.MapPost("/" + topic.Name.Replace('.', '/'), (HttpContext http, THandler handler, StreamingTelemetry telemetry, ILogger<THandler> logger) =>
                HandleAsync(http, topic, spanName, handler, telemetry, logger))
            .WithTopic(new TopicOptions { PubsubName = Topics.PubSub, Name = topic.Name, DeadLetterTopic = Topics.DeadLetterOf(topic.Name) })
            .WithBulkSubscribe(new BulkSubscribeTopicOptions
            {
                TopicName = topic.Name,
                MaxMessagesCount = maxMessages,
                MaxAwaitDurationMs = configuration.GetValue("Streaming:MaxAwaitMs", DefaultMaxAwaitMs),
            })
            // A delivery of full messages is far over Kestrel's 30 MB default (a hundred 500 KB Segment batches, each
            // grown by its enrichment): the limit follows the delivery's size instead.
            .WithMetadata(new RequestSizeLimit((long)maxMessages * MaxMessageBytes))
            .ExcludeFromDescription();

        return app.MapDeadLetters(topic.Name);
    }

    /// <summary>
    /// The subscription to the dead-letter topic of <paramref name="topic"/>: what lands there is logged, counted
    /// (<c>stream.dead_lettered</c>, by the service whose subscription it failed, <paramref name="count"/>) and, in the
    /// service that registers an <see cref="IDeadLetterStore"/>, kept.
    /// </summary>
    public static IEndpointRouteBuilder MapDeadLetters(this IEndpointRouteBuilder app, string topic, bool count = true)
    {
        var deadLetterTopic = Topics.DeadLetterOf(topic);
        app.MapPost("/dead-letters/" + topic.Replace('.', '-'), async (HttpRequest request, StreamingTelemetry telemetry, ILoggerFactory loggers, CancellationToken ct) =>
            {
                var cloudEventId = request.Headers["Cloudevent.id"].FirstOrDefault();
                if (count)
                {
                    telemetry.DeadLettered.Add(1, new KeyValuePair<string, object?>("topic", deadLetterTopic));
                    StreamingTelemetry.DeadLetter(loggers.CreateLogger(typeof(EventSubscriptions)), cloudEventId, deadLetterTopic);
                }
                Activity.Current?.SetTag("dead_letter.topic", deadLetterTopic);
                if (request.HttpContext.RequestServices.GetService<IDeadLetterStore>() is { } store)
                {
                    using var data = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
                    await store.StoreAsync(topic, cloudEventId ?? Guid.NewGuid().ToString(), data.RootElement, ct);
                }
                return TypedResults.Ok();
            })
            .WithTopic(Topics.PubSub, deadLetterTopic)
            .ExcludeFromDescription();
        return app;
    }

    /// <summary>
    /// Consumes <c>consent.changed</c> for a service that keeps data derived for personalization: when a user's
    /// <see cref="Purposes.Personalization"/> is revoked, the keys <paramref name="derivedKeys"/> names for them are
    /// deleted (and the stage's <see cref="ConsentCheck"/> keeps new ones from being made). Idempotent: a redelivery
    /// deletes nothing more. A store that cannot be reached answers 500, so the message is retried.
    /// </summary>
    public static IEndpointRouteBuilder MapPersonalizationWithdrawal(this IEndpointRouteBuilder app, Func<string, IEnumerable<string>> derivedKeys)
    {
        app.MapPost("/" + Topics.ConsentChanged.Replace('.', '/'), async (ConsentChanged changed, DaprClient dapr, ILogger<ConsentChanged> logger, CancellationToken ct) =>
            {
                if (!changed.Purposes.TryGetValue(Purposes.Personalization, out var granted) || granted) return TypedResults.Ok();
                var deletes = derivedKeys(changed.UserId).Select(key => new StateTransactionRequest(key, null, StateOperationType.Delete)).ToList();
                await dapr.ExecuteStateTransactionAsync(StateKeys.Store, deletes, cancellationToken: ct);
                StreamingTelemetry.PersonalizationWithdrawn(logger, deletes.Count);
                return TypedResults.Ok();
            })
            .WithTopic(new TopicOptions { PubsubName = Topics.PubSub, Name = Topics.ConsentChanged, DeadLetterTopic = Topics.DeadLetterOf(Topics.ConsentChanged) })
            .ExcludeFromDescription();
        return app.MapDeadLetters(Topics.ConsentChanged);
    }

    private static async Task<IResult> HandleAsync<T>(
        HttpContext http, EventTopic<T> topic, string spanName, IEventBatchHandler<T> handler, StreamingTelemetry telemetry, ILogger logger)
    {
        var ct = http.RequestAborted;
        using var body = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: ct);
        if (body.RootElement.ValueKind != JsonValueKind.Object || Json.Property(body.RootElement, "entries") is not { ValueKind: JsonValueKind.Array } entries)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Not a bulk delivery",
                detail: $"{topic.Name} is bulk-subscribed: the body must be an application/cloudevents-batch+json object with 'entries'");
        }

        var answers = new List<BulkAnswerEntry>(entries.GetArrayLength());
        var deliveries = new List<Delivery<T>>(answers.Capacity);
        var cloudEventIds = new Dictionary<string, string>(StringComparer.Ordinal);
        List<(string CloudEventId, string Reason)>? retried = null;
        var events = 0;
        foreach (var entry in entries.EnumerateArray())
        {
            var entryId = Json.String(entry, "entryId") ?? "";
            if (Json.Property(entry, "event") is { ValueKind: JsonValueKind.Object } envelope && Json.String(envelope, "id") is { } cloudEventId)
            {
                cloudEventIds[entryId] = cloudEventId;
            }
            try
            {
                var delivery = EventBatchReader.Read(entryId, entry, topic);
                deliveries.Add(delivery);
                events += delivery.Events.Count;
            }
            catch (Exception e) when (e is JsonException or FormatException or NotSupportedException or InvalidOperationException)
            {
                var reason = "unreadable: " + e.Message;
                StreamingTelemetry.MessageRetried(logger, entryId, topic.Name, reason);
                answers.Add(new BulkAnswerEntry(entryId, Retry));
                if (cloudEventIds.TryGetValue(entryId, out var id)) (retried ??= []).Add((id, reason));
            }
        }

        if (deliveries.Count > 0)
        {
            using var activity = StartActivity(spanName, topic.Name, deliveries);
            activity?.SetTag("messaging.batch.message_count", deliveries.Count);
            try
            {
                await handler.HandleAsync(deliveries, ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // Nothing of it is known to be done: every message is retried (each stage is idempotent on message id).
                StreamingTelemetry.DeliveryFailed(logger, deliveries.Count, topic.Name, e);
                activity?.SetStatus(ActivityStatusCode.Error, e.Message);
                foreach (var delivery in deliveries) delivery.Fail(e.Message);
            }
            foreach (var delivery in deliveries)
            {
                if (delivery.Failure is { } reason)
                {
                    StreamingTelemetry.MessageRetried(logger, delivery.EntryId, topic.Name, reason);
                    if (cloudEventIds.TryGetValue(delivery.EntryId, out var id)) (retried ??= []).Add((id, reason));
                }
                answers.Add(new BulkAnswerEntry(delivery.EntryId, delivery.Failure is null ? Success : Retry));
            }
        }
        if (retried is not null) await RetryRecords.RecordAsync(http.RequestServices.GetRequiredService<DaprClient>(), topic.Name, retried, logger, ct);

        var retries = answers.Count(a => a.Status == Retry);
        var tags = new KeyValuePair<string, object?>("topic", topic.Name);
        telemetry.BatchMessages.Record(answers.Count, tags);
        telemetry.Events.Add(events, tags);
        if (retries < answers.Count) telemetry.Messages.Add(answers.Count - retries, tags, new("outcome", "success"));
        if (retries > 0) telemetry.Messages.Add(retries, tags, new("outcome", "retry"));
        return TypedResults.Json(new BulkAnswer(answers), ContractsJsonContext.Default.BulkAnswer);
    }

    private const string Success = "SUCCESS";
    private const string Retry = "RETRY";

    /// <summary>
    /// One span per delivery, in the trace of its first message (so at a low rate, one message per delivery, a trace
    /// follows an event through every stage), linked to the traces of the others.
    /// </summary>
    private static Activity? StartActivity<T>(string spanName, string topic, List<Delivery<T>> deliveries)
    {
        if (!StreamingTelemetry.ActivitySource.HasListeners()) return null;
        List<ActivityLink>? links = null;
        for (var i = 1; i < deliveries.Count; i++)
        {
            if (deliveries[i].Trace != default) (links ??= []).Add(new ActivityLink(deliveries[i].Trace));
        }
        var activity = StreamingTelemetry.ActivitySource.StartActivity(spanName, ActivityKind.Consumer, deliveries[0].Trace, links: links);
        activity?.SetTag("messaging.destination.name", topic);
        activity?.SetTag("messaging.operation.type", "process");
        return activity;
    }
}
