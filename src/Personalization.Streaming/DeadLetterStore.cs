using System.Text.Json;

namespace Personalization.Streaming;

/// <summary>Keeps what lands in a dead-letter topic; the one service that registers it subscribes to every dead-letter topic.</summary>
public interface IDeadLetterStore
{
    /// <param name="topic">The topic the message failed on (not its dead-letter topic).</param>
    /// <param name="cloudEventId">The message's CloudEvent id: the same on every redelivery.</param>
    /// <param name="data">The message's data, as it was published.</param>
    Task StoreAsync(string topic, string cloudEventId, JsonElement data, CancellationToken ct);
}
