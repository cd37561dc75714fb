using Personalization.Contracts;

namespace Personalization.Collector.Model;

/// <summary>
/// Which events of a request to publish: those whose messageId has no marker yet, each messageId once
/// (a batch repeating a messageId publishes its first copy only), and none of an erased user (on the suppression
/// list): those are dropped at the door and answered like any other, so the answer tells nobody who was erased.
/// </summary>
public sealed record DedupePlan(IReadOnlyList<CollectedEvent> ToPublish, IReadOnlyList<CollectedEvent> Duplicates, int Suppressed = 0)
{
    public static DedupePlan Create(IReadOnlyList<CollectedEvent> events, IReadOnlySet<string> alreadySeen, IReadOnlySet<string>? suppressedProfiles = null)
    {
        var toPublish = new List<CollectedEvent>(events.Count);
        var duplicates = new List<CollectedEvent>();
        var suppressed = 0;
        var inThisRequest = new HashSet<string>(events.Count, StringComparer.Ordinal);
        foreach (var collected in events)
        {
            if (suppressedProfiles is { Count: > 0 } && suppressedProfiles.Contains(collected.ProfileId))
            {
                suppressed++;
            }
            else if (alreadySeen.Contains(collected.MessageId) || !inThisRequest.Add(collected.MessageId))
            {
                duplicates.Add(collected);
            }
            else
            {
                toPublish.Add(collected);
            }
        }
        return new DedupePlan(toPublish, duplicates, suppressed);
    }

    /// <summary>The distinct profile ids of a request: whose suppression markers to look up.</summary>
    public static IReadOnlyList<string> DistinctProfiles(IReadOnlyList<CollectedEvent> events)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var collected in events) ids.Add(collected.ProfileId);
        return [.. ids];
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

/// <summary>What one lookup found: the message ids with a de-duplication marker, the profile ids on the suppression list.</summary>
public sealed record MarkersFound(IReadOnlySet<string> SeenMessageIds, IReadOnlySet<string> SuppressedProfileIds);

/// <summary>
/// What ingestion needs from outside: look markers up, publish with the broker's confirmation (and quarantine what
/// broke its tracking plan), write markers. The Dapr implementation calls DaprClient directly.
/// </summary>
public interface IEventSink
{
    /// <summary>In one lookup: which <paramref name="messageIds"/> have a marker, which <paramref name="profileIds"/> are erased.</summary>
    Task<MarkersFound> FindMarkersAsync(IReadOnlyList<string> messageIds, IReadOnlyList<string> profileIds, CancellationToken cancellationToken);

    /// <summary>Publishes all events in one call; returns the messageIds the broker did not take.</summary>
    Task<IReadOnlyList<string>> PublishAsync(IReadOnlyList<CollectedEvent> events, CancellationToken cancellationToken);

    /// <summary>Publishes the events that broke their tracking plan in one call, all of them or none (then it throws).</summary>
    Task QuarantineAsync(IReadOnlyList<QuarantinedEvent> events, CancellationToken cancellationToken);

    Task MarkSeenAsync(IReadOnlyList<string> messageIds, DateTimeOffset receivedAt, TimeSpan ttl, CancellationToken cancellationToken);
}

/// <summary>The sidecar, the broker or the state store cannot be reached: the client should retry later.</summary>
public sealed class EventSinkUnavailableException(string message, Exception? innerException = null)
    : Exception(message, innerException);
