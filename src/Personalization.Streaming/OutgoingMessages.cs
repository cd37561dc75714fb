using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Dapr;
using Dapr.Client;
using Personalization.Contracts;

namespace Personalization.Streaming;

/// <summary>
/// What a stage passes on from one bulk delivery: at most one message per incoming message, published with as few bulk
/// publishes as the sidecar's request limit allows. A message the broker refused, or a part the sidecar refused, fails
/// the deliveries it came from, so only those are retried.
/// </summary>
public sealed class OutgoingMessages<TIn, TOut>(int capacity)
{
    /// <summary>
    /// Bytes of messages per bulk publish request. daprd refuses a request over its <c>--max-body-size</c> (4 MiB by
    /// default), and a delivery of a hundred 500 KB Segment batches is ten times that: it goes out in parts of at most
    /// this much (a larger single message goes alone). The rest of the 4 MiB is room for the request's own framing.
    /// </summary>
    public const int MaxRequestBytes = 3 * 1024 * 1024;

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
        // Serialized here, once, to know each message's size; the sidecar request carries these bytes as they are.
        var part = new List<RawJson>(_messages.Count);
        var first = 0;
        var bytes = 0;
        for (var i = 0; i < _messages.Count; i++)
        {
            var json = new RawJson(JsonSerializer.SerializeToUtf8Bytes(_messages[i], dapr.JsonSerializerOptions));
            if (part.Count > 0 && bytes + json.Utf8.Length > MaxRequestBytes)
            {
                await PublishPartAsync(dapr, topic, part, first, ct);
                (part, first, bytes) = (new List<RawJson>(_messages.Count - i), i, 0);
            }
            part.Add(json);
            bytes += json.Utf8.Length;
        }
        await PublishPartAsync(dapr, topic, part, first, ct);
    }

    private async Task PublishPartAsync(DaprClient dapr, string topic, List<RawJson> part, int first, CancellationToken ct)
    {
        BulkPublishResponse<RawJson> response;
        try
        {
            response = await dapr.BulkPublishEventAsync(Topics.PubSub, topic, part, cancellationToken: ct);
        }
        catch (DaprException e) when (!ct.IsCancellationRequested)
        {
            var reason = "publish failed: " + (e.InnerException?.Message ?? e.Message);
            for (var i = 0; i < part.Count; i++) _sources[first + i].Fail(reason);
            return;
        }
        foreach (var failed in response.FailedEntries)
        {
            // Entry ids are the positions in the published part ("0", "1", …).
            _sources[first + int.Parse(failed.Entry.EntryId, CultureInfo.InvariantCulture)].Fail("publish refused: " + failed.ErrorMessage);
        }
    }
}

/// <summary>A message serialized already: written into a request as it is.</summary>
[JsonConverter(typeof(RawJsonConverter))]
public readonly record struct RawJson(byte[] Utf8);

public sealed class RawJsonConverter : JsonConverter<RawJson>
{
    public override RawJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new NotSupportedException("RawJson is only written");

    public override void Write(Utf8JsonWriter writer, RawJson value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value.Utf8, skipInputValidation: true);
}
