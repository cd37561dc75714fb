using System.Diagnostics;

namespace Personalization.Streaming;

/// <summary>
/// One broker message of a bulk delivery, as a handler sees it: its events, read and checked. A handler marks it
/// failed when any of its work failed; the sidecar then retries that message alone and, after the last retry, moves
/// it to the dead-letter topic, while the other messages of the delivery are acknowledged.
/// </summary>
public sealed class Delivery<T>(string entryId, IReadOnlyList<T> events, ActivityContext trace)
{
    public string EntryId { get; } = entryId;
    public IReadOnlyList<T> Events { get; } = events;

    /// <summary>The trace the message was published in (its CloudEvent's traceparent), when it has one.</summary>
    public ActivityContext Trace { get; } = trace;

    /// <summary>Why this message must be retried; null while it is fine.</summary>
    public string? Failure { get; private set; }

    public void Fail(string reason) => Failure ??= reason;
}

/// <summary>Handles the deliveries of one bulk subscription; registered in DI and resolved per request.</summary>
public interface IEventBatchHandler<T>
{
    /// <summary>
    /// Does the work of every delivery, batched: one round trip per store and one bulk publish for all of them.
    /// Marks a delivery failed (<see cref="Delivery{T}.Fail"/>) when its part failed; throws only when nothing of the
    /// batch can have been done (the store or broker is unreachable), which retries every message.
    /// </summary>
    Task HandleAsync(IReadOnlyList<Delivery<T>> deliveries, CancellationToken ct);
}
