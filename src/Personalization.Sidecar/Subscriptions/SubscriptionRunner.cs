using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Personalization.Sidecar.PubSub;

namespace Personalization.Sidecar.Subscriptions;

/// <summary>
/// Delivers one subscription's messages to the app: routes each CloudEvent, POSTs it (or batches it for bulk
/// subscriptions), retries under the component's inbound resiliency policy, and decides the broker outcome — ack only
/// after the app acknowledged, or after the message went to the dead-letter topic; otherwise nack.
/// </summary>
public sealed partial class SubscriptionRunner(
    SubscriptionDefinition subscription, IPubSub pubsub, InboundPolicy policy, AppChannel app, ILogger logger, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, BulkBatcher> _batchers = new();
    private readonly TagList _tags = SidecarTelemetry.Tags(subscription.PubsubName, subscription.Topic);

    public SubscriptionDefinition Subscription => subscription;

    public async Task<MessageOutcome> HandleAsync(BrokerMessage message, CancellationToken ct)
    {
        var started = time.GetTimestamp();
        var envelope = subscription.RawPayload
            ? CloudEvents.FromRawPayload(message.Body.Span, subscription.PubsubName, subscription.Topic)
            : message.Body.ToArray();

        string? path, id, traceParent, traceState;
        try
        {
            using var doc = JsonDocument.Parse(envelope);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new JsonException("not a JSON object");
            path = subscription.Route(doc.RootElement);
            id = Field(doc.RootElement, "id");
            traceParent = Field(doc.RootElement, "traceparent");
            traceState = Field(doc.RootElement, "tracestate");
        }
        catch (JsonException e)
        {
            LogNotCloudEvent(logger, subscription.PubsubName, subscription.Topic, e.Message);
            return await GiveUpAsync(message, ct);
        }
        if (path is null)
        {
            LogNoRoute(logger, id, subscription.PubsubName, subscription.Topic);
            return await GiveUpAsync(message, ct);
        }

        ActivityContext.TryParse(traceParent, traceState, out var parent);
        using var activity = SidecarTelemetry.Source.StartActivity($"{subscription.Topic} deliver", ActivityKind.Consumer, parent);
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", subscription.Topic);
        activity?.SetTag("messaging.message.id", id);
        activity?.SetTag("url.path", path);

        var headers = new List<KeyValuePair<string, string>>(message.Metadata.Count + 3);
        foreach (var pair in message.Metadata)
        {
            if (pair.Key is not ("traceparent" or "tracestate" or "pubsubname")) headers.Add(pair);
        }
        headers.Add(new("pubsubname", subscription.PubsubName));
        if ((activity?.Id ?? traceParent) is { Length: > 0 } tp) headers.Add(new("traceparent", tp));
        if (traceState is { Length: > 0 }) headers.Add(new("tracestate", traceState));

        var result = await RunWithPolicyAsync(attemptCt => subscription.Bulk.Enabled
            ? Batcher(path).SendAsync(envelope, message.Metadata, attemptCt)
            : SendAsync(path, envelope, headers, attemptCt), id, ct);

        if (result == DeliveryResult.Success)
        {
            SidecarTelemetry.Delivered.Add(1, _tags);
            SidecarTelemetry.DeliveryDuration.Record(time.GetElapsedTime(started).TotalMilliseconds, _tags);
            return MessageOutcome.Ack;
        }
        activity?.SetStatus(ActivityStatusCode.Error, result == DeliveryResult.Drop ? "dropped by the app" : "delivery failed");
        LogGaveUp(logger, id, subscription.PubsubName, subscription.Topic, result);
        return await GiveUpAsync(message, ct);
    }

    private async Task<DeliveryResult> SendAsync(string path, byte[] envelope, List<KeyValuePair<string, string>> headers, CancellationToken ct)
    {
        var (status, body) = await app.SendAsync(HttpMethod.Post, path, envelope, CloudEvents.ContentType, headers, ct);
        return AppAnswer.Classify(status, body);
    }

    /// <summary>Attempts until success, a drop, or the retry policy gives up; a failed or timed-out call counts as retry.</summary>
    private async Task<DeliveryResult> RunWithPolicyAsync(Func<CancellationToken, Task<DeliveryResult>> attempt, string? id, CancellationToken ct)
    {
        for (var retries = 0; ; retries++)
        {
            DeliveryResult result;
            if (policy.Breaker is { } breaker && !breaker.TryEnter())
            {
                result = DeliveryResult.Retry;
            }
            else
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                if (policy.Timeout is { } limit) timeout.CancelAfter(limit);
                try
                {
                    result = await attempt(timeout.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    result = DeliveryResult.Retry; // the policy's timeout
                }
                catch (HttpRequestException e)
                {
                    LogAppUnreachable(logger, id, e.Message);
                    result = DeliveryResult.Retry;
                }
                policy.Breaker?.Record(result != DeliveryResult.Retry);
            }
            if (result != DeliveryResult.Retry) return result;
            if (policy.Retry is not { } retry || !retry.MayRetry(retries)) return result;
            SidecarTelemetry.Retried.Add(1, _tags);
            await Task.Delay(retry.Delay(retries + 1), time, ct);
        }
    }

    /// <summary>After the last failure, a drop or no route: to the dead-letter topic (then ack), else back to the broker.</summary>
    private async Task<MessageOutcome> GiveUpAsync(BrokerMessage message, CancellationToken ct)
    {
        if (subscription.DeadLetterTopic is not { Length: > 0 } deadLetterTopic)
        {
            SidecarTelemetry.Failed.Add(1, _tags);
            return MessageOutcome.Nack;
        }
        try
        {
            await pubsub.PublishAsync(deadLetterTopic, message.Body, message.ContentType ?? CloudEvents.ContentType, message.Metadata, ct);
            SidecarTelemetry.DeadLettered.Add(1, _tags);
            return MessageOutcome.Ack;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not in the dead-letter topic and not acknowledged by the app: the broker must keep it (a nack without
            // requeue would discard it when the queue has no dead-letter exchange). It comes back and is tried again.
            LogDeadLetterFailed(logger, deadLetterTopic, e);
            SidecarTelemetry.Failed.Add(1, _tags);
            return MessageOutcome.Requeue;
        }
    }

    private BulkBatcher Batcher(string path) => _batchers.GetOrAdd(path, p => new BulkBatcher(p, subscription, app, logger));

    private static string? Field(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pub/sub {PubSub} topic {Topic}: message is not a CloudEvent ({Problem})")]
    private static partial void LogNotCloudEvent(ILogger logger, string pubSub, string topic, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event {EventId} of pub/sub {PubSub} topic {Topic} matches no route")]
    private static partial void LogNoRoute(ILogger logger, string? eventId, string pubSub, string topic);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event {EventId} of pub/sub {PubSub} topic {Topic} not delivered: {Result}")]
    private static partial void LogGaveUp(ILogger logger, string? eventId, string pubSub, string topic, DeliveryResult result);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Event {EventId}: app call failed: {Problem}")]
    private static partial void LogAppUnreachable(ILogger logger, string? eventId, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "Publishing to dead-letter topic {Topic} failed; the message goes back to the broker")]
    private static partial void LogDeadLetterFailed(ILogger logger, string topic, Exception error);

    /// <summary>
    /// Bulk subscribe: collects entries for one app path until <c>maxMessagesCount</c> are waiting or
    /// <c>maxAwaitDurationMs</c> passed since the first, POSTs them as one <c>application/cloudevents-batch+json</c>
    /// request, and completes each entry with its own status.
    /// </summary>
    private sealed class BulkBatcher
    {
        private sealed record Entry(string Id, byte[] Event, IReadOnlyDictionary<string, string> Metadata, TaskCompletionSource<DeliveryResult> Result);

        private readonly Channel<Entry> _queue = Channel.CreateUnbounded<Entry>();
        private readonly string _path;
        private readonly SubscriptionDefinition _subscription;
        private readonly AppChannel _app;
        private readonly ILogger _logger;

        public BulkBatcher(string path, SubscriptionDefinition subscription, AppChannel app, ILogger logger)
        {
            (_path, _subscription, _app, _logger) = (path, subscription, app, logger);
            _ = Task.Run(LoopAsync);
        }

        public async Task<DeliveryResult> SendAsync(byte[] envelope, IReadOnlyDictionary<string, string> metadata, CancellationToken ct)
        {
            var entry = new Entry(Guid.NewGuid().ToString(), envelope, metadata, new(TaskCreationOptions.RunContinuationsAsynchronously));
            await _queue.Writer.WriteAsync(entry, ct);
            return await entry.Result.Task.WaitAsync(ct);
        }

        private async Task LoopAsync()
        {
            var max = Math.Max(1, _subscription.Bulk.MaxMessagesCount);
            var wait = TimeSpan.FromMilliseconds(Math.Max(1, _subscription.Bulk.MaxAwaitDurationMs));
            var batch = new List<Entry>(max);
            while (await _queue.Reader.WaitToReadAsync())
            {
                batch.Clear();
                using (var deadline = new CancellationTokenSource(wait))
                {
                    try
                    {
                        while (batch.Count < max)
                        {
                            if (_queue.Reader.TryRead(out var entry)) batch.Add(entry);
                            else if (!await _queue.Reader.WaitToReadAsync(deadline.Token)) break;
                        }
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
                await DeliverAsync(batch);
            }
        }

        private async Task DeliverAsync(List<Entry> batch)
        {
            IReadOnlyDictionary<string, DeliveryResult> results;
            try
            {
                var (status, body) = await _app.SendAsync(HttpMethod.Post, _path, Serialize(batch), CloudEvents.BatchContentType,
                    [new("pubsubname", _subscription.PubsubName)], CancellationToken.None);
                results = AppAnswer.ClassifyBulk(status, body, batch.Select(e => e.Id).ToList());
            }
            catch (HttpRequestException e)
            {
                _logger.LogDebug("Bulk delivery to {Path} failed: {Problem}", _path, e.Message);
                results = batch.ToDictionary(e => e.Id, _ => DeliveryResult.Retry);
            }
            foreach (var entry in batch) entry.Result.TrySetResult(results[entry.Id]);
        }

        private byte[] Serialize(List<Entry> batch)
        {
            using var stream = new MemoryStream();
            using (var json = new Utf8JsonWriter(stream))
            {
                json.WriteStartObject();
                json.WriteString("id", Guid.NewGuid().ToString());
                json.WriteString("pubsubname", _subscription.PubsubName);
                json.WriteString("topic", _subscription.Topic);
                json.WriteString("type", CloudEvents.DefaultType);
                json.WriteStartObject("metadata");
                json.WriteEndObject();
                json.WriteStartArray("entries");
                foreach (var entry in batch)
                {
                    json.WriteStartObject();
                    json.WriteString("entryId", entry.Id);
                    json.WritePropertyName("event");
                    json.WriteRawValue(entry.Event, skipInputValidation: true);
                    json.WriteString("contentType", CloudEvents.ContentType);
                    json.WriteStartObject("metadata");
                    foreach (var (key, value) in entry.Metadata) json.WriteString(key, value);
                    json.WriteEndObject();
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            return stream.ToArray();
        }
    }
}
