using Personalization.Contracts;

namespace Personalization.Collector.Model;

/// <summary>
/// Which events of a request to publish: those whose messageId has no marker yet, each messageId once
/// (a batch repeating a messageId publishes its first copy only).
/// </summary>
public sealed record DedupePlan(IReadOnlyList<CollectedEvent> ToPublish, IReadOnlyList<CollectedEvent> Duplicates)
{
    public static DedupePlan Create(IReadOnlyList<CollectedEvent> events, IReadOnlySet<string> alreadySeen)
    {
        var toPublish = new List<CollectedEvent>(events.Count);
        var duplicates = new List<CollectedEvent>();
        var inThisRequest = new HashSet<string>(events.Count, StringComparer.Ordinal);
        foreach (var collected in events)
        {
            if (alreadySeen.Contains(collected.MessageId) || !inThisRequest.Add(collected.MessageId))
            {
                duplicates.Add(collected);
            }
            else
            {
                toPublish.Add(collected);
            }
        }
        return new DedupePlan(toPublish, duplicates);
    }

    /// <summary>The distinct messageIds of a request, in order: what to look markers up for.</summary>
    public static IReadOnlyList<string> DistinctIds(IReadOnlyList<CollectedEvent> events)
    {
        var ids = new List<string>(events.Count);
        var seen = new HashSet<string>(events.Count, StringComparer.Ordinal);
        foreach (var collected in events)
        {
            if (seen.Add(collected.MessageId))
            {
                ids.Add(collected.MessageId);
            }
        }
        return ids;
    }
}

/// <summary>
/// The three things ingestion needs from outside: look markers up, publish with the broker's
/// confirmation, write markers. The Dapr implementation calls DaprClient directly.
/// </summary>
public interface IEventSink
{
    /// <summary>The messageIds among <paramref name="messageIds"/> that already have a marker.</summary>
    Task<IReadOnlySet<string>> FindSeenAsync(IReadOnlyList<string> messageIds, CancellationToken cancellationToken);

    /// <summary>Publishes all events in one call; returns the messageIds the broker did not take.</summary>
    Task<IReadOnlyList<string>> PublishAsync(IReadOnlyList<CollectedEvent> events, CancellationToken cancellationToken);

    Task MarkSeenAsync(IReadOnlyList<string> messageIds, DateTimeOffset receivedAt, TimeSpan ttl, CancellationToken cancellationToken);
}

/// <summary>The sidecar, the broker or the state store cannot be reached: the client should retry later.</summary>
public sealed class EventSinkUnavailableException(string message, Exception? innerException = null)
    : Exception(message, innerException);
