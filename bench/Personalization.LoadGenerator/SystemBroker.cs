using System.Collections.Concurrent;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Personalization.LoadGenerator;

/// <summary>How large the pipeline's messages are on one topic, from copies taken during the warm-up.</summary>
public sealed record TopicMessages(string Topic, int Messages, int MedianBytes, int MaxBytes);

/// <summary>
/// The running system's RabbitMQ, read but never written to: queue depths by passive declare (which creates nothing and
/// fails for a queue that does not exist) and, during the warm-up only, copies of the pipeline's messages through a
/// temporary exclusive queue bound to the topics' fanout exchanges, to learn their size.
/// </summary>
public sealed class SystemBroker : IAsyncDisposable
{
    /// <summary>The topics events flow through, in order; the exchanges are named after them (pubsub.rabbitmq).</summary>
    public static readonly string[] PipelineTopics = ["events.collected", "events.consented", "events.enriched", "profiles.updated"];

    private static readonly string[] OtherTopics = ["consent.changed", "segments.changed", "privacy.erasure-requested"];
    private static readonly string[] KnownApps = ["collector", "consent", "enrichment", "aggregation", "profile-query", "gateway"];

    private readonly IConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IChannel? _channel;

    private SystemBroker(IConnection connection, Uri address, string description) =>
        (_connection, Address, Description) = (connection, address, description);

    public Uri Address { get; }

    public string Description { get; }

    /// <summary>The queues whose depth is read, in pipeline order.</summary>
    public IReadOnlyList<string> Queues { get; private set; } = [];

    /// <summary>
    /// Connects to <paramref name="configured"/>, or to the broker of the running system: the beam.smp among its processes
    /// listens on RABBITMQ_NODE_PORT of its environment, and accepts guest/guest from loopback (the local mode).
    /// </summary>
    public static async Task<(SystemBroker? Broker, string Description)> ConnectAsync(Uri? configured, SystemUnderTest? system, CancellationToken ct)
    {
        Uri address;
        string found;
        if (configured is not null)
        {
            (address, found) = (configured, "given with --rabbitmq");
        }
        else
        {
            var beam = system?.Processes().FirstOrDefault(p => p.Name == "rabbitmq (beam.smp)");
            if (beam is null) return (null, "not measured: no RabbitMQ (beam.smp) among the system's processes; pass --rabbitmq amqp://user:pass@host:port/");
            var environment = ProcFs.Environment(beam.Pid);
            var port = environment.GetValueOrDefault("RABBITMQ_NODE_PORT") ?? "5672";
            address = new Uri($"amqp://guest:guest@127.0.0.1:{port}/");
            found = $"found from RABBITMQ_NODE_PORT of beam.smp (pid {beam.Pid})";
        }

        var display = new UriBuilder(address) { Password = "" }.Uri.ToString();
        try
        {
            var factory = new ConnectionFactory { Uri = address, ClientProvidedName = "load-generator (queue depths)", AutomaticRecoveryEnabled = false };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(15));
            var connection = await factory.CreateConnectionAsync(timeout.Token);
            var description = $"{display} ({found})";
            return (new SystemBroker(connection, address, description), description);
        }
        catch (Exception e) when (e is BrokerUnreachableException or OperationCanceledException or IOException && !ct.IsCancellationRequested)
        {
            return (null, $"not measured: {display} ({found}) did not accept a connection: {e.Message}");
        }
    }

    /// <summary>
    /// The queues to watch: <paramref name="named"/> when given, else every <c>{app-id}-{topic}</c> that exists
    /// (pubsub.rabbitmq's queue per subscriber and topic), for the known and the running apps, over the pipeline's topics,
    /// the other topics and their dead-letter topics.
    /// </summary>
    public async Task DiscoverQueuesAsync(IEnumerable<string> runningApps, IReadOnlyList<string>? named, CancellationToken ct)
    {
        if (named is { Count: > 0 })
        {
            Queues = named;
            return;
        }
        var topics = PipelineTopics.Concat(OtherTopics).SelectMany(t => new[] { t, t + ".dead-letter" }).ToList();
        var apps = KnownApps.Union(runningApps, StringComparer.Ordinal).ToList();
        var found = new List<string>();
        foreach (var topic in topics)
        {
            foreach (var app in apps)
            {
                if (await DepthAsync($"{app}-{topic}", ct) is not null) found.Add($"{app}-{topic}");
            }
        }
        Queues = found;
    }

    /// <summary>Messages ready in each queue (not those delivered and awaiting their ack); null for a queue that is gone.</summary>
    public async Task<IReadOnlyDictionary<string, long?>> DepthsAsync(CancellationToken ct)
    {
        var depths = new Dictionary<string, long?>(StringComparer.Ordinal);
        foreach (var queue in Queues) depths[queue] = await DepthAsync(queue, ct);
        return depths;
    }

    /// <summary>
    /// Copies of every message on the pipeline's topics while <paramref name="traffic"/> runs and for <paramref name="settle"/>
    /// after it: a server-named, exclusive, auto-delete queue bound to each topic's exchange, deleted at the end.
    /// </summary>
    public async Task<IReadOnlyList<TopicMessages>> SampleMessagesAsync(Func<Task> traffic, TimeSpan settle, CancellationToken ct)
    {
        var sizes = new ConcurrentDictionary<string, ConcurrentBag<int>>(StringComparer.Ordinal);
        await using var channel = await _connection.CreateChannelAsync(cancellationToken: ct);
        var queue = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true, cancellationToken: ct)).QueueName;
        try
        {
            foreach (var topic in PipelineTopics)
            {
                if (await ExchangeExistsAsync(topic, ct)) await channel.QueueBindAsync(queue, topic, "", cancellationToken: ct);
            }
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += (_, delivery) =>
            {
                sizes.GetOrAdd(delivery.Exchange, _ => []).Add(delivery.Body.Length);
                return Task.CompletedTask;
            };
            await channel.BasicConsumeAsync(queue, autoAck: true, consumer, ct);
            await traffic();
            await Task.Delay(settle, ct);
        }
        finally
        {
            await channel.QueueDeleteAsync(queue, cancellationToken: CancellationToken.None);
        }

        return [.. PipelineTopics.Where(sizes.ContainsKey).Select(topic =>
        {
            var sorted = sizes[topic].Order().ToArray();
            return new TopicMessages(topic, sorted.Length, sorted[sorted.Length / 2], sorted[^1]);
        })];
    }

    public async ValueTask DisposeAsync()
    {
        if (_channel is not null) await _channel.DisposeAsync();
        await _connection.CloseAsync();
        _connection.Dispose();
        _gate.Dispose();
    }

    private async Task<long?> DepthAsync(string queue, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            if (_channel is not { IsOpen: true })
            {
                if (_channel is not null) await _channel.DisposeAsync();
                _channel = await _connection.CreateChannelAsync(cancellationToken: ct);
            }
            return (await _channel.QueueDeclarePassiveAsync(queue, ct)).MessageCount;
        }
        catch (OperationInterruptedException)
        {
            // 404: no such queue. The broker closed the channel; the next call opens another.
            return null;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<bool> ExchangeExistsAsync(string exchange, CancellationToken ct)
    {
        await using var probe = await _connection.CreateChannelAsync(cancellationToken: ct);
        try
        {
            await probe.ExchangeDeclarePassiveAsync(exchange, ct);
            return true;
        }
        catch (OperationInterruptedException)
        {
            return false;
        }
    }
}
