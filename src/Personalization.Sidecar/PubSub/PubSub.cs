namespace Personalization.Sidecar.PubSub;

/// <summary>A message as the broker delivered it: the bytes published (usually a CloudEvent) and its metadata.</summary>
public sealed record BrokerMessage(string Topic, ReadOnlyMemory<byte> Body, string? ContentType, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// What the broker should do with a delivered message once the sidecar is done with it: Ack (done), Nack (final failure:
/// the component's requeueInFailure decides), Requeue (not settled, e.g. the dead-letter topic could not take it: the
/// broker must keep it and deliver it again).
/// </summary>
public enum MessageOutcome { Ack, Nack, Requeue }

/// <summary>One message of a batch publish: the bytes to send (usually a CloudEvent), their content type, the publish metadata.</summary>
public sealed record OutgoingMessage(ReadOnlyMemory<byte> Body, string ContentType, IReadOnlyDictionary<string, string> Metadata);

/// <summary>How a subscription consumes: in-flight message limit and whether the component's queue is dead-lettered.</summary>
public sealed record ConsumeOptions(int Concurrency);

/// <summary>A Dapr pub/sub component.</summary>
public interface IPubSub : IAsyncDisposable
{
    string Name { get; }

    /// <summary>Returns once the broker has the message (publisher confirms).</summary>
    Task PublishAsync(string topic, ReadOnlyMemory<byte> body, string contentType, IReadOnlyDictionary<string, string> metadata, CancellationToken ct);

    /// <summary>
    /// Publishes every message and returns once the broker confirmed or refused each: element i is null when message i
    /// was confirmed, else the reason it was not. Throws only when nothing could be sent (no connection, no exchange).
    /// </summary>
    Task<IReadOnlyList<Exception?>> PublishBatchAsync(string topic, IReadOnlyList<OutgoingMessage> messages, CancellationToken ct);

    /// <summary>
    /// Starts consuming <paramref name="topic"/>; <paramref name="handler"/> decides each message's outcome and the component
    /// acks or nacks only after it returns. Disposing the result stops pulling, waits for in-flight handlers, then
    /// closes the consumer so unacknowledged messages go back to the broker.
    /// </summary>
    Task<IAsyncDisposable> SubscribeAsync(string topic, ConsumeOptions options, Func<BrokerMessage, CancellationToken, Task<MessageOutcome>> handler, CancellationToken ct);
}
