using System.Text;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using RabbitMQ.Client;

namespace Personalization.EndToEndTests;

/// <summary>The platform's RabbitMQ spoken to directly, as a producer other than the collector would.</summary>
public sealed class Broker : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;

    private Broker(IConnection connection, IChannel channel) => (_connection, _channel) = (connection, channel);

    public static async Task<Broker> ConnectAsync(DistributedApplication app)
    {
        var factory = new ConnectionFactory { Uri = new Uri((await app.GetConnectionStringAsync("rabbitmq"))!) };
        var connection = await factory.CreateConnectionAsync();
        var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        return new Broker(connection, channel);
    }

    /// <summary>A private queue bound to a topic's exchange: every message published there from now on lands in it.</summary>
    public async Task<string> WatchAsync(string topic)
    {
        await _channel.ExchangeDeclareAsync(topic, ExchangeType.Fanout, durable: true, autoDelete: false);
        var queue = (await _channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await _channel.QueueBindAsync(queue, topic, "");
        return queue;
    }

    /// <summary>Publishes a CloudEvent as a Dapr sidecar would (persistent, confirmed); returns its id.</summary>
    public async Task<string> PublishAsync(string topic, JsonNode data)
    {
        var id = Guid.NewGuid().ToString();
        var cloudEvent = new JsonObject
        {
            ["specversion"] = "1.0", ["id"] = id, ["source"] = "test-producer", ["type"] = "com.dapr.event.sent",
            ["datacontenttype"] = "application/json", ["topic"] = topic, ["pubsubname"] = "pubsub", ["data"] = data.DeepClone(),
        };
        await _channel.BasicPublishAsync(topic, "", mandatory: false,
            new BasicProperties { ContentType = "application/cloudevents+json", DeliveryMode = DeliveryModes.Persistent },
            Encoding.UTF8.GetBytes(cloudEvent.ToJsonString()));
        return id;
    }

    /// <summary>The bodies of the messages waiting in <paramref name="queue"/>, taken off it.</summary>
    public async Task<List<string>> TakeAllAsync(string queue)
    {
        var bodies = new List<string>();
        while (await _channel.BasicGetAsync(queue, autoAck: true) is { } message)
        {
            bodies.Add(Encoding.UTF8.GetString(message.Body.Span));
        }
        return bodies;
    }

    /// <summary>Waits until a message containing <paramref name="text"/> arrives in <paramref name="queue"/>; returns all taken meanwhile.</summary>
    public async Task<List<string>> WaitForAsync(string queue, string text, TimeSpan timeout)
    {
        var taken = new List<string>();
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            taken.AddRange(await TakeAllAsync(queue));
            if (taken.Any(body => body.Contains(text, StringComparison.Ordinal))) return taken;
            await Task.Delay(250);
        }
        Assert.Fail($"no message containing {text} arrived within {timeout.TotalSeconds:0} s; {taken.Count} others did");
        return taken;
    }

    public async Task<uint> ConsumerCountAsync(string queue) => (await _channel.QueueDeclarePassiveAsync(queue)).ConsumerCount;

    public async ValueTask DisposeAsync()
    {
        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
