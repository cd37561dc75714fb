using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
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
    SubscriptionDefinition subscription, IPubSub pubsub, InboundPolicy policy, AppChannel app, SidecarTracing tracing, ILogger logger, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, BulkBatcher> _batchers = new();
    private readonly TagList _tags = SidecarTelemetry.Tags(subscription.PubsubName, subscription.Topic);

    // When the first rule has no match expression every event goes to its path, and the envelope need not be parsed
    // into a document to be routed (the common case: one route per topic).
    private readonly string? _alwaysPath = subscription.Rules is [{ Expression: null } first, ..] ? first.Path : null;

    public SubscriptionDefinition Subscription => subscription;

    public async Task<MessageOutcome> HandleAsync(BrokerMessage message, CancellationToken ct)
    {
        var started = time.GetTimestamp();
        // The broker message owns its bytes for as long as this delivery runs, so the envelope is not copied again.
        ReadOnlyMemory<byte> envelope = subscription.RawPayload
            ? CloudEvents.FromRawPayload(message.Body.Span, subscription.PubsubName, subscription.Topic)
            : message.Body;

        string? path;
        EnvelopeFields fields;
        try
        {
            fields = EnvelopeFields.Read(envelope.Span);
            path = _alwaysPath ?? RouteByRules(envelope);
        }
        catch (JsonException e)
        {
            LogNotCloudEvent(logger, subscription.PubsubName, subscription.Topic, e.Message);
            return await GiveUpAsync(message, ct);
        }
        if (path is null)
        {
            LogNoRoute(logger, fields.Id, subscription.PubsubName, subscription.Topic);
            return await GiveUpAsync(message, ct);
        }

        ActivityContext.TryParse(fields.TraceParent, fields.TraceState, isRemote: true, out var parent);
        using var activity = tracing.StartDelivery(subscription.Topic, parent);
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", subscription.Topic);
        activity?.SetTag("messaging.message.id", fields.Id);
        activity?.SetTag("url.path", path);

        // Bulk deliveries carry their metadata inside the batch body; only single deliveries need request headers. Without
        // a span here the app gets the message's own trace context, so its trace still continues the publisher's.
        var headers = subscription.Bulk.Enabled ? null : Headers(message.Metadata, (activity?.Id ?? fields.TraceParent), fields.TraceState);
        var result = await RunWithPolicyAsync(path, envelope, message.Metadata, headers, fields.Id, ct);

        if (result == DeliveryResult.Success)
        {
            SidecarTelemetry.Delivered.Add(1, _tags);
            SidecarTelemetry.DeliveryDuration.Record(time.GetElapsedTime(started).TotalMilliseconds, _tags);
            return MessageOutcome.Ack;
        }
        activity?.SetStatus(ActivityStatusCode.Error, result == DeliveryResult.Drop ? "dropped by the app" : "delivery failed");
        LogGaveUp(logger, fields.Id, subscription.PubsubName, subscription.Topic, result);
        return await GiveUpAsync(message, ct);
    }

    private string? RouteByRules(ReadOnlyMemory<byte> envelope)
    {
        using var doc = JsonDocument.Parse(envelope);
        return subscription.Route(doc.RootElement);
    }

    private List<KeyValuePair<string, string>> Headers(IReadOnlyDictionary<string, string> metadata, string? traceParent, string? traceState)
    {
        var headers = new List<KeyValuePair<string, string>>(metadata.Count + 3);
        foreach (var pair in metadata)
        {
            if (pair.Key is not ("traceparent" or "tracestate" or "pubsubname")) headers.Add(pair);
        }
        headers.Add(new("pubsubname", subscription.PubsubName));
        if (traceParent is { Length: > 0 }) headers.Add(new("traceparent", traceParent));
        if (traceState is { Length: > 0 }) headers.Add(new("tracestate", traceState));
        return headers;
    }

    private async Task<DeliveryResult> AttemptAsync(string path, ReadOnlyMemory<byte> envelope, IReadOnlyDictionary<string, string> metadata,
        List<KeyValuePair<string, string>>? headers, CancellationToken ct)
    {
        if (headers is null) return await Batcher(path).SendAsync(envelope, metadata, ct);
        var (status, body) = await app.SendAsync(HttpMethod.Post, path, envelope, CloudEvents.ContentType, headers, ct);
        return AppAnswer.Classify(status, body);
    }

    /// <summary>Attempts until success, a drop, or the retry policy gives up; a failed or timed-out call counts as retry.</summary>
    private async Task<DeliveryResult> RunWithPolicyAsync(string path, ReadOnlyMemory<byte> envelope, IReadOnlyDictionary<string, string> metadata,
        List<KeyValuePair<string, string>>? headers, string? id, CancellationToken ct)
    {
        var loggedDown = false;
        for (var retries = 0; ; retries++)
        {
            DeliveryResult result;
            var appDown = false;
            if (policy.Breaker is { } breaker && !breaker.TryEnter())
            {
                result = DeliveryResult.Retry;
            }
            else
            {
                // A linked token only when the policy has a timeout to put on each attempt.
                using var timeout = policy.Timeout is { } limit ? CancellationTokenSource.CreateLinkedTokenSource(ct) : null;
                timeout?.CancelAfter(policy.Timeout!.Value);
                try
                {
                    result = await AttemptAsync(path, envelope, metadata, headers, timeout?.Token ?? ct);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    result = DeliveryResult.Retry; // the policy's timeout
                }
                catch (HttpRequestException e)
                {
                    if (!loggedDown) LogAppUnreachable(logger, id, e.Message);
                    (result, appDown, loggedDown) = (DeliveryResult.Retry, true, true);
                }
                if (!appDown) policy.Breaker?.Record(result != DeliveryResult.Retry);
            }
            if (appDown)
            {
                // The app is down (crashed, restarting), not the message bad: hold the message until the app answers
                // again, without spending a retry, so it is neither dead-lettered nor dropped meanwhile.
                await app.WaitUntilReachableAsync(ct);
                retries--;
                continue;
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

    /// <summary>
    /// The CloudEvent fields delivery needs, read in one forward pass without building a document. Throws
    /// <see cref="JsonException"/> for what <see cref="JsonDocument.Parse(ReadOnlyMemory{byte}, JsonDocumentOptions)"/>
    /// would refuse, and when the envelope is not an object. A repeated property counts once, the last one winning, as
    /// <see cref="JsonElement.TryGetProperty(string, out JsonElement)"/> reads it.
    /// </summary>
    internal readonly record struct EnvelopeFields(string? Id, string? TraceParent, string? TraceState)
    {
        public static EnvelopeFields Read(ReadOnlySpan<byte> json)
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw new JsonException("not a JSON object");
            string? id = null, traceParent = null, traceState = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var field = reader.ValueTextEquals("id"u8) ? 1 : reader.ValueTextEquals("traceparent"u8) ? 2 : reader.ValueTextEquals("tracestate"u8) ? 3 : 0;
                reader.Read();
                var value = field != 0 && reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                switch (field)
                {
                    case 1: id = value; break;
                    case 2: traceParent = value; break;
                    case 3: traceState = value; break;
                }
                reader.Skip();
            }
            if (reader.TokenType != JsonTokenType.EndObject) throw new JsonException("the CloudEvent object is not closed");
            if (reader.Read()) throw new JsonException("content after the CloudEvent object");
            return new EnvelopeFields(id, traceParent, traceState);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pub/sub {PubSub} topic {Topic}: message is not a CloudEvent ({Problem})")]
    private static partial void LogNotCloudEvent(ILogger logger, string pubSub, string topic, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event {EventId} of pub/sub {PubSub} topic {Topic} matches no route")]
    private static partial void LogNoRoute(ILogger logger, string? eventId, string pubSub, string topic);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event {EventId} of pub/sub {PubSub} topic {Topic} not delivered: {Result}")]
    private static partial void LogGaveUp(ILogger logger, string? eventId, string pubSub, string topic, DeliveryResult result);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Event {EventId}: the app is not reachable ({Problem}); the event waits until it is")]
    private static partial void LogAppUnreachable(ILogger logger, string? eventId, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "Publishing to dead-letter topic {Topic} failed; the message goes back to the broker")]
    private static partial void LogDeadLetterFailed(ILogger logger, string topic, Exception error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Bulk delivery to {Path}: the app is not reachable ({Problem}); its events wait until it is")]
    private static partial void LogBulkUnreachable(ILogger logger, string path, string problem);

    /// <summary>
    /// Bulk subscribe: collects entries for one app path until <c>maxMessagesCount</c> are waiting or
    /// <c>maxAwaitDurationMs</c> passed since the first, POSTs them as one <c>application/cloudevents-batch+json</c>
    /// request, and completes each entry with its own status.
    /// </summary>
    private sealed class BulkBatcher
    {
        private sealed class Entry(string id, ReadOnlyMemory<byte> envelope, IReadOnlyDictionary<string, string> metadata)
        {
            public string Id { get; } = id;
            public ReadOnlyMemory<byte> Event { get; } = envelope;
            public IReadOnlyDictionary<string, string> Metadata { get; } = metadata;
            public TaskCompletionSource<DeliveryResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        private static readonly JsonEncodedText EntryIdName = JsonEncodedText.Encode("entryId");
        private static readonly JsonEncodedText EventName = JsonEncodedText.Encode("event");
        private static readonly JsonEncodedText ContentTypeName = JsonEncodedText.Encode("contentType");
        private static readonly JsonEncodedText MetadataName = JsonEncodedText.Encode("metadata");
        private static readonly JsonEncodedText CloudEventType = JsonEncodedText.Encode(CloudEvents.ContentType);

        private readonly Channel<Entry> _queue = Channel.CreateUnbounded<Entry>(new UnboundedChannelOptions { SingleReader = true });
        private readonly string _path;
        private readonly SubscriptionDefinition _subscription;
        private readonly AppChannel _app;
        private readonly ILogger _logger;
        // Written only by the batch loop, one batch at a time: the request body of a batch reuses it.
        private readonly ArrayBufferWriter<byte> _body = new(64 * 1024);
        private long _nextId;

        public BulkBatcher(string path, SubscriptionDefinition subscription, AppChannel app, ILogger logger)
        {
            (_path, _subscription, _app, _logger) = (path, subscription, app, logger);
            _ = Task.Run(LoopAsync);
        }

        public async Task<DeliveryResult> SendAsync(ReadOnlyMemory<byte> envelope, IReadOnlyDictionary<string, string> metadata, CancellationToken ct)
        {
            // Entry ids only need to be unique within a batch; a counter is cheaper than a uuid.
            var entry = new Entry(Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture), envelope, metadata);
            // An attempt given up (its timeout) leaves its entry completed, and the batch loop skips it.
            using var abandon = ct.UnsafeRegister(static state => ((TaskCompletionSource<DeliveryResult>)state!).TrySetCanceled(), entry.Result);
            _queue.Writer.TryWrite(entry); // unbounded: never refused
            return await entry.Result.Task;
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
                            if (_queue.Reader.TryRead(out var entry))
                            {
                                if (!entry.Result.Task.IsCompleted) batch.Add(entry);
                            }
                            else if (!await _queue.Reader.WaitToReadAsync(deadline.Token)) break;
                        }
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
                if (batch.Count > 0) await DeliverAsync(batch);
            }
        }

        private async Task DeliverAsync(List<Entry> batch)
        {
            IReadOnlyDictionary<string, DeliveryResult> results;
            try
            {
                var (status, body) = await _app.SendAsync(HttpMethod.Post, _path, Serialize(batch), CloudEvents.BatchContentType,
                    [new("pubsubname", _subscription.PubsubName)], CancellationToken.None);
                var ids = new string[batch.Count];
                for (var i = 0; i < ids.Length; i++) ids[i] = batch[i].Id;
                results = AppAnswer.ClassifyBulk(status, body, ids);
            }
            catch (HttpRequestException e)
            {
                // Each message's own delivery loop sees the app is down and waits for it.
                LogBulkUnreachable(_logger, _path, e.Message);
                foreach (var entry in batch) entry.Result.TrySetException(e);
                return;
            }
            foreach (var entry in batch) entry.Result.TrySetResult(results[entry.Id]);
        }

        private ReadOnlyMemory<byte> Serialize(List<Entry> batch)
        {
            _body.ResetWrittenCount();
            using (var json = new Utf8JsonWriter(_body))
            {
                json.WriteStartObject();
                Span<char> id = stackalloc char[36];
                Guid.NewGuid().TryFormat(id, out _);
                json.WriteString("id", id);
                json.WriteString("pubsubname", _subscription.PubsubName);
                json.WriteString("topic", _subscription.Topic);
                json.WriteString("type", CloudEvents.DefaultType);
                json.WriteStartObject(MetadataName);
                json.WriteEndObject();
                json.WriteStartArray("entries");
                foreach (var entry in batch)
                {
                    json.WriteStartObject();
                    json.WriteString(EntryIdName, entry.Id);
                    json.WritePropertyName(EventName);
                    json.WriteRawValue(entry.Event.Span, skipInputValidation: true);
                    json.WriteString(ContentTypeName, CloudEventType);
                    json.WriteStartObject(MetadataName);
                    foreach (var (key, value) in entry.Metadata) json.WriteString(key, value);
                    json.WriteEndObject();
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            return _body.WrittenMemory;
        }
    }
}
