using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Personalization.Sidecar.ConformanceTests.Infrastructure;

/// <summary>Looks at RabbitMQ directly, to see what the sidecar left in the broker.</summary>
public static class Broker
{
    /// <summary>Dapr's pubsub.rabbitmq queue name when no queueName is set: {consumerID}-{topic}, consumerID = app-id.</summary>
    public static string QueueOf(string appId, string topic) => $"{appId}-{topic}";

    /// <summary>Ready (not un-acked) messages in the queue, or null when the queue does not exist.</summary>
    public static async Task<uint?> ReadyMessagesAsync(Uri amqp, string queue)
    {
        var factory = new ConnectionFactory { Uri = amqp };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            var ok = await channel.QueueDeclarePassiveAsync(queue);
            return ok.MessageCount;
        }
        catch (OperationInterruptedException)
        {
            return null;
        }
    }

    /// <summary>Waits until every queue exists: a subscription is live in the broker only then.</summary>
    public static async Task WaitForQueuesAsync(Uri amqp, IEnumerable<string> queues, Func<string>? diagnostics = null)
    {
        foreach (var queue in queues)
        {
            await Eventually.IsTrueAsync(
                async () => await ReadyMessagesAsync(amqp, queue) is not null,
                $"RabbitMQ queue '{queue}' (the sidecar declares it when it subscribes)",
                TimeSpan.FromSeconds(20),
                diagnostics);
        }
    }
}
