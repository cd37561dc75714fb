using System.Globalization;
using Dapr.Client;
using Personalization.Contracts;

namespace Personalization.Streaming;

/// <summary>
/// What a stage passes on from one bulk delivery: at most one message per incoming message, all published in one bulk
/// publish. A message the broker refused fails the delivery it came from, so only that one is retried.
/// </summary>
public sealed class OutgoingMessages<TIn, TOut>(int capacity)
{
    private readonly List<Delivery<TIn>> _sources = new(capacity);
    private readonly List<TOut> _messages = new(capacity);

    public void Add(Delivery<TIn> source, TOut message)
    {
        _sources.Add(source);
        _messages.Add(message);
    }

    public async Task PublishAsync(DaprClient dapr, string topic, CancellationToken ct)
    {
        if (_messages.Count == 0) return;
        var response = await dapr.BulkPublishEventAsync(Topics.PubSub, topic, _messages, cancellationToken: ct);
        foreach (var failed in response.FailedEntries)
        {
            // Entry ids are the positions in the published list ("0", "1", …).
            _sources[int.Parse(failed.Entry.EntryId, CultureInfo.InvariantCulture)].Fail("publish refused: " + failed.ErrorMessage);
        }
    }
}
