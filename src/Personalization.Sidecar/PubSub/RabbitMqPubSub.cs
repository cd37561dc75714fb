using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Personalization.Sidecar.Components;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Personalization.Sidecar.PubSub;

/// <summary>
/// <c>pubsub.rabbitmq</c> v1 as components-contrib lays it out: one exchange per topic (named as the topic, kind
/// <c>exchangeKind</c>, default fanout), a queue per subscriber <c>{consumerID}-{topic}</c> (or <c>queueName</c>) bound
/// with <c>routingKey</c>; publishes wait for publisher confirms; consumers ack manually after the handler.
/// </summary>
public sealed partial class RabbitMqPubSub : IPubSub
{
    private const int PublishChannels = 4;
    private readonly Settings _settings;
    private readonly IConnection _connection;
    private readonly ILogger _logger;
    private readonly IChannel?[] _publishers = new IChannel?[PublishChannels];
    private readonly SemaphoreSlim _publisherLock = new(1, 1);
    private static readonly TimeSpan ConfirmTimeout = TimeSpan.FromSeconds(15);
    private readonly ConcurrentDictionary<string, Task> _declaredExchanges = new();
    private readonly PublisherState[] _slots = [.. Enumerable.Range(0, PublishChannels).Select(_ => new PublisherState())];
    private readonly Timer _confirmWatch;
    private int _next;

    /// <summary>What the confirm watch needs to know about one publisher slot.</summary>
    private sealed class PublisherState
    {
        public int InFlight;
        public long LastConfirmAt;
        public IChannel? TimedOut;
    }

    private sealed record Settings(
        string Name, string ConsumerId, string? QueueName, string ExchangeKind, bool Durable, bool DeleteWhenUnused,
        DeliveryModes DeliveryMode, bool RequeueInFailure, ushort PrefetchCount, bool EnableDeadLetter, string RoutingKey,
        int? MaxLen, int? MaxLenBytes, int? QueueTtlSeconds, int? MaxPriority, bool SingleConcurrency);

    private RabbitMqPubSub(Settings settings, IConnection connection, ILogger logger)
    {
        (_settings, _connection, _logger) = (settings, connection, logger);
        _confirmWatch = new Timer(WatchConfirms, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        connection.ConnectionShutdownAsync += (_, e) =>
        {
            LogConnectionLost(_logger, Name, e.ReplyText);
            return Task.CompletedTask;
        };
        connection.RecoverySucceededAsync += (_, _) =>
        {
            LogConnectionRecovered(_logger, Name);
            return Task.CompletedTask;
        };
        connection.ConnectionRecoveryErrorAsync += (_, e) =>
        {
            LogRecoveryFailed(_logger, Name, e.Exception.Message);
            return Task.CompletedTask;
        };
    }

    public string Name => _settings.Name;

    /// <summary>True when the component's concurrencyMode is "single": one delivery at a time, in order.</summary>
    public bool SingleConcurrency => _settings.SingleConcurrency;

    public ushort PrefetchCount => _settings.PrefetchCount;

    public static async Task<RabbitMqPubSub> ConnectAsync(ComponentDefinition c, string appId, ILogger logger, CancellationToken ct)
    {
        var uri = c.Get("connectionString", c.Get("host"));
        if (uri.Length == 0) throw new ResourceException($"component '{c.Name}': metadata 'connectionString' (amqp://user:pass@host:port/vhost) is required");
        var deliveryMode = c.GetInt("deliveryMode", 0);
        if (deliveryMode is < 0 or > 2) throw new ResourceException($"component '{c.Name}': metadata 'deliveryMode' must be 0, 1 or 2");
        var exchangeKind = c.Get("exchangeKind", "fanout");
        if (exchangeKind is not ("fanout" or "topic" or "direct" or "headers"))
            throw new ResourceException($"component '{c.Name}': metadata 'exchangeKind' '{exchangeKind}' is not fanout, topic, direct or headers");
        var concurrencyMode = c.Get("concurrencyMode", "parallel");
        if (concurrencyMode is not ("parallel" or "single"))
            throw new ResourceException($"component '{c.Name}': metadata 'concurrencyMode' must be parallel or single, not '{concurrencyMode}'");
        var prefetch = c.GetInt("prefetchCount", 0);
        if (prefetch is < 0 or > ushort.MaxValue) throw new ResourceException($"component '{c.Name}': metadata 'prefetchCount' is out of range");

        var settings = new Settings(
            c.Name, c.Get("consumerID", appId), c.Get("queueName") is { Length: > 0 } q ? q : null, exchangeKind,
            c.GetBool("durable", true), c.GetBool("deletedWhenUnused", true),
            deliveryMode == 2 ? DeliveryModes.Persistent : DeliveryModes.Transient, c.GetBool("requeueInFailure", false),
            (ushort)prefetch, c.GetBool("enableDeadLetter", false), c.Get("routingKey"),
            Optional(c, "maxLen"), Optional(c, "maxLenBytes"), Optional(c, "ttlInSeconds"), Optional(c, "maxPriority"),
            concurrencyMode == "single");

        var factory = new ConnectionFactory
        {
            Uri = new Uri(uri),
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = c.GetDuration("reconnectWait") ?? TimeSpan.FromSeconds(3),
            ClientProvidedName = c.Get("clientName", $"dapr-sidecar-{appId}"),
        };
        if (c.Get("username") is { Length: > 0 } user) factory.UserName = user;
        if (c.Get("password") is { Length: > 0 } password) factory.Password = password;
        if (c.GetDuration("heartBeat") is { } heartbeat) factory.RequestedHeartbeat = heartbeat;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(c.InitTimeout);
        var connection = await factory.CreateConnectionAsync(timeout.Token);
        return new RabbitMqPubSub(settings, connection, logger);
    }

    private static int? Optional(ComponentDefinition c, string key) => c.Metadata.ContainsKey(key) ? c.GetInt(key, 0) : null;

    public async Task PublishAsync(string topic, ReadOnlyMemory<byte> body, string contentType, IReadOnlyDictionary<string, string> metadata, CancellationToken ct)
    {
        ThrowIfDisconnected();
        await EnsureExchangeAsync(topic, ct);
        var (slot, channel) = TryPublisher() ?? await OpenPublisherAsync(ct);
        await ConfirmedAsync(slot, channel, topic, Properties(metadata, contentType), RoutingKey(metadata), body);
    }

    /// <summary>
    /// All messages of a batch go out on one channel, back to back, before any confirm is awaited, so the broker confirms
    /// them together (one <c>basic.ack</c> with <c>multiple</c> usually covers the batch). Element i of the result is
    /// null when message i was confirmed, else why it was not.
    /// </summary>
    public async Task<IReadOnlyList<Exception?>> PublishBatchAsync(string topic, IReadOnlyList<OutgoingMessage> messages, CancellationToken ct)
    {
        ThrowIfDisconnected();
        await EnsureExchangeAsync(topic, ct);
        var (slot, channel) = TryPublisher() ?? await OpenPublisherAsync(ct);
        var confirms = new Task[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            confirms[i] = ConfirmedAsync(slot, channel, topic, Properties(m.Metadata, m.ContentType), RoutingKey(m.Metadata), m.Body);
        }
        var failures = new Exception?[messages.Count];
        for (var i = 0; i < confirms.Length; i++)
        {
            try
            {
                await confirms[i];
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failures[i] = e;
            }
        }
        return failures;
    }

    // Fail fast while the broker is away: the caller answers "unavailable" and retries later.
    private void ThrowIfDisconnected()
    {
        if (!_connection.IsOpen)
            throw new RabbitMQ.Client.Exceptions.AlreadyClosedException(_connection.CloseReason
                ?? new ShutdownEventArgs(ShutdownInitiator.Library, 0, "the connection to the broker is not open"));
    }

    private string RoutingKey(IReadOnlyDictionary<string, string> metadata) =>
        metadata.Count > 0 && metadata.TryGetValue("routingKey", out var key) ? key : _settings.RoutingKey;

    private BasicProperties Properties(IReadOnlyDictionary<string, string> metadata, string contentType)
    {
        var properties = new BasicProperties { ContentType = contentType, DeliveryMode = _settings.DeliveryMode };
        if (metadata.Count == 0) return properties;
        if (metadata.TryGetValue("contentType", out var type)) properties.ContentType = type;
        properties.MessageId = metadata.GetValueOrDefault("messageID") ?? metadata.GetValueOrDefault("messageId");
        properties.CorrelationId = metadata.GetValueOrDefault("correlationID");
        properties.Type = metadata.GetValueOrDefault("type");
        if (metadata.TryGetValue("ttlInSeconds", out var ttl) && int.TryParse(ttl, out var seconds) && seconds > 0)
            properties.Expiration = (seconds * 1000L).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (metadata.TryGetValue("priority", out var p) && byte.TryParse(p, out var priority)) properties.Priority = priority;
        return properties;
    }

    /// <summary>
    /// Publishes on a confirm-tracking channel: RabbitMQ.Client completes the call only when the broker confirmed the
    /// message, and fails it when the broker nacks or the channel closes first. No token reaches that wait: a cancellable
    /// one costs a timer and a cancellation promise per message, and the wait is bounded instead by
    /// <see cref="WatchConfirms"/>, which closes a channel whose confirms stopped coming.
    /// </summary>
    private async Task ConfirmedAsync(int slot, IChannel channel, string topic, BasicProperties properties, string routingKey, ReadOnlyMemory<byte> body)
    {
        var publisher = _slots[slot];
        if (Interlocked.Increment(ref publisher.InFlight) == 1) Volatile.Write(ref publisher.LastConfirmAt, Environment.TickCount64);
        try
        {
            await channel.BasicPublishAsync(topic, routingKey, false, properties, body, CancellationToken.None);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Whatever the reason, the next publish gets a healthy channel and re-checks the exchange.
            if (!channel.IsOpen) Forget(slot, channel);
            _declaredExchanges.TryRemove(topic, out _);
            if (ReferenceEquals(Volatile.Read(ref publisher.TimedOut), channel))
                throw new TimeoutException($"the broker did not confirm the message to '{topic}' within {ConfirmTimeout.TotalSeconds:0} s", e);
            throw;
        }
        finally
        {
            Volatile.Write(ref publisher.LastConfirmAt, Environment.TickCount64);
            Interlocked.Decrement(ref publisher.InFlight);
        }
    }

    /// <summary>
    /// Once a second: a publisher channel with messages in flight and no confirm for <see cref="ConfirmTimeout"/> is
    /// closed, which fails every publish waiting on it (as a timeout) and gives the slot a new channel on the next publish.
    /// </summary>
    private void WatchConfirms(object? state)
    {
        var now = Environment.TickCount64;
        for (var slot = 0; slot < PublishChannels; slot++)
        {
            var publisher = _slots[slot];
            if (Volatile.Read(ref publisher.InFlight) == 0 || now - Volatile.Read(ref publisher.LastConfirmAt) < (long)ConfirmTimeout.TotalMilliseconds) continue;
            if (Volatile.Read(ref _publishers[slot]) is not { } channel || ReferenceEquals(publisher.TimedOut, channel)) continue;
            Volatile.Write(ref publisher.TimedOut, channel);
            LogConfirmsStalled(_logger, Name, slot, (int)ConfirmTimeout.TotalSeconds);
            Forget(slot, channel);
        }
    }

    /// <summary>
    /// Declares the topic's exchange once per process; a failed declaration is forgotten (the caller's publish fails)
    /// and tried again by the next publish. Concurrent publishes to a new topic share one declaration.
    /// </summary>
    private Task EnsureExchangeAsync(string topic, CancellationToken ct) =>
        _declaredExchanges.TryGetValue(topic, out var declared) && declared.IsCompletedSuccessfully ? Task.CompletedTask : DeclareOnceAsync(topic, ct);

    private async Task DeclareOnceAsync(string topic, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConfirmTimeout);
        var pending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var declaration = _declaredExchanges.GetOrAdd(topic, pending.Task);
        if (declaration == pending.Task)
        {
            try
            {
                await DeclareExchangeAsync(topic, timeout.Token);
                pending.SetResult();
            }
            catch (Exception e)
            {
                _declaredExchanges.TryRemove(new KeyValuePair<string, Task>(topic, pending.Task));
                pending.SetException(e);
                throw;
            }
            return;
        }
        try
        {
            await declaration.WaitAsync(timeout.Token);
        }
        catch (Exception) when (!timeout.IsCancellationRequested)
        {
            _declaredExchanges.TryRemove(new KeyValuePair<string, Task>(topic, declaration));
            throw;
        }
    }

    private async Task DeclareExchangeAsync(string topic, CancellationToken ct)
    {
        var channel = await _connection.CreateChannelAsync(cancellationToken: ct);
        try
        {
            await channel.ExchangeDeclareAsync(topic, _settings.ExchangeKind, _settings.Durable, _settings.DeleteWhenUnused, cancellationToken: ct);
        }
        finally
        {
            await CloseQuietlyAsync(channel);
        }
    }

    /// <summary>The next slot's channel when it is open (the common case, without awaiting anything).</summary>
    private (int Slot, IChannel Channel)? TryPublisher()
    {
        var slot = (int)((uint)Interlocked.Increment(ref _next) % PublishChannels);
        return Volatile.Read(ref _publishers[slot]) is { IsOpen: true } open ? (slot, open) : null;
    }

    /// <summary>
    /// A confirm-enabled channel for a slot whose channel is missing or closed (the broker went away, a channel error,
    /// stalled confirms): the closed one is dropped rather than waited on.
    /// </summary>
    private async Task<(int Slot, IChannel Channel)> OpenPublisherAsync(CancellationToken ct)
    {
        var slot = (int)((uint)Interlocked.Increment(ref _next) % PublishChannels);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConfirmTimeout);
        await _publisherLock.WaitAsync(timeout.Token);
        try
        {
            var current = _publishers[slot];
            if (current is { IsOpen: true }) return (slot, current);
            if (current is not null) Forget(slot, current);
            // No outstanding-confirmation limiter (this constructor leaves it null): the confirms are awaited by the
            // callers, and a library-side throttle would only add delay in front of the broker.
            var channel = await _connection.CreateChannelAsync(
                new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), timeout.Token);
            Volatile.Write(ref _publishers[slot], channel);
            return (slot, channel);
        }
        finally
        {
            _publisherLock.Release();
        }
    }

    /// <summary>Takes a closed publisher channel out of its slot and disposes it in the background.</summary>
    private void Forget(int slot, IChannel channel)
    {
        if (Interlocked.CompareExchange(ref _publishers[slot], null, channel) != channel) return;
        LogPublisherDropped(_logger, Name, slot, channel.CloseReason?.ReplyText ?? "closed");
        _ = CloseQuietlyAsync(channel);
    }

    private static async Task CloseQuietlyAsync(IChannel channel)
    {
        try
        {
            if (channel.IsOpen) await channel.CloseAsync();
        }
        catch (Exception e) when (e is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException
            or ObjectDisposedException or OperationCanceledException or TimeoutException or IOException)
        {
        }
        try
        {
            await channel.DisposeAsync();
        }
        catch (Exception e) when (e is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException
            or ObjectDisposedException or OperationCanceledException or TimeoutException or IOException)
        {
        }
    }

    public async Task<IAsyncDisposable> SubscribeAsync(
        string topic, ConsumeOptions options, Func<BrokerMessage, CancellationToken, Task<MessageOutcome>> handler, CancellationToken ct)
    {
        var concurrency = (ushort)Math.Clamp(_settings.SingleConcurrency ? 1 : options.Concurrency, 1, ushort.MaxValue);
        var channel = await _connection.CreateChannelAsync(new CreateChannelOptions(false, false, consumerDispatchConcurrency: concurrency), ct);
        var queue = _settings.QueueName ?? $"{_settings.ConsumerId}-{topic}";

        await channel.ExchangeDeclareAsync(topic, _settings.ExchangeKind, _settings.Durable, _settings.DeleteWhenUnused, cancellationToken: ct);
        var args = new Dictionary<string, object?> { ["x-queue-type"] = "classic" };
        if (_settings.EnableDeadLetter)
        {
            var dlx = "dlx-" + queue;
            var dlq = "dlq-" + queue;
            await channel.ExchangeDeclareAsync(dlx, ExchangeType.Fanout, true, false, cancellationToken: ct);
            await channel.QueueDeclareAsync(dlq, true, false, false, new Dictionary<string, object?> { ["x-queue-type"] = "classic" }, cancellationToken: ct);
            await channel.QueueBindAsync(dlq, dlx, "", cancellationToken: ct);
            args["x-dead-letter-exchange"] = dlx;
        }
        if (_settings.MaxLen is { } maxLen) args["x-max-length"] = maxLen;
        if (_settings.MaxLenBytes is { } maxBytes) args["x-max-length-bytes"] = maxBytes;
        if (_settings.QueueTtlSeconds is { } ttl) args["x-message-ttl"] = ttl * 1000;
        if (_settings.MaxPriority is { } priority) args["x-max-priority"] = priority;
        await channel.QueueDeclareAsync(queue, _settings.Durable, false, _settings.DeleteWhenUnused, args, cancellationToken: ct);
        await channel.QueueBindAsync(queue, topic, _settings.RoutingKey, cancellationToken: ct);
        var prefetch = _settings.PrefetchCount > 0 ? _settings.PrefetchCount : (ushort)Math.Min(ushort.MaxValue, concurrency * 2);
        await channel.BasicQosAsync(0, prefetch, false, ct);

        var subscription = new Subscription(this, channel, topic, queue, handler);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += subscription.OnReceivedAsync;
        subscription.ConsumerTag = await channel.BasicConsumeAsync(queue, false, consumer, ct);
        LogSubscribed(_logger, Name, topic, queue, concurrency);
        return subscription;
    }

    private static readonly IReadOnlyDictionary<string, string> NoHeaders = System.Collections.ObjectModel.ReadOnlyDictionary<string, string>.Empty;

    private sealed class Subscription(RabbitMqPubSub owner, IChannel channel, string topic, string queue,
        Func<BrokerMessage, CancellationToken, Task<MessageOutcome>> handler) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _abort = new();
        private volatile bool _stopping;
        private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inFlight;
        public string ConsumerTag { get; set; } = "";

        public async Task OnReceivedAsync(object sender, BasicDeliverEventArgs delivery)
        {
            if (_stopping) return; // not acked: returns to the queue when the channel closes
            Interlocked.Increment(ref _inFlight);
            try
            {
                IReadOnlyDictionary<string, string> metadata = NoHeaders;
                if (delivery.BasicProperties.Headers is { Count: > 0 } headers)
                {
                    var copied = new Dictionary<string, string>(headers.Count);
                    foreach (var (key, value) in headers)
                        copied[key] = value switch { byte[] b => Encoding.UTF8.GetString(b), null => "", _ => value.ToString() ?? "" };
                    metadata = copied;
                }
                // The one copy of the body: the library's buffer goes back to its pool when this handler returns, while
                // the message may still sit in a bulk batch whose attempt was abandoned.
                var message = new BrokerMessage(topic, delivery.Body.ToArray(), delivery.BasicProperties.ContentType, metadata);
                MessageOutcome outcome;
                try
                {
                    outcome = await handler(message, _abort.Token);
                }
                catch (OperationCanceledException) when (_abort.IsCancellationRequested)
                {
                    return; // shutting down: left unacknowledged, the broker redelivers it
                }
                if (!channel.IsOpen) return;
                if (outcome == MessageOutcome.Ack) await channel.BasicAckAsync(delivery.DeliveryTag, false);
                else await channel.BasicNackAsync(delivery.DeliveryTag, false, outcome == MessageOutcome.Requeue || owner._settings.RequeueInFailure);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogConsumeFailed(owner._logger, owner.Name, queue, e);
            }
            finally
            {
                if (Interlocked.Decrement(ref _inFlight) == 0 && _stopping) _drained.TrySetResult();
            }
        }

        /// <summary>Stops pulling, lets in-flight deliveries finish (up to 20 s), then closes the channel.</summary>
        public async ValueTask DisposeAsync()
        {
            try
            {
                if (channel.IsOpen && ConsumerTag.Length > 0) await channel.BasicCancelAsync(ConsumerTag);
            }
            catch (Exception e) when (e is RabbitMQ.Client.Exceptions.OperationInterruptedException or ObjectDisposedException)
            {
            }
            _stopping = true;
            if (Volatile.Read(ref _inFlight) == 0) _drained.TrySetResult();
            try
            {
                await _drained.Task.WaitAsync(TimeSpan.FromSeconds(20));
            }
            catch (TimeoutException)
            {
                await _abort.CancelAsync(); // deliveries still running are abandoned unacknowledged
            }
            try
            {
                await channel.CloseAsync();
            }
            catch (Exception e) when (e is RabbitMQ.Client.Exceptions.AlreadyClosedException or ObjectDisposedException)
            {
            }
            channel.Dispose();
            _abort.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pub/sub {PubSub}: consuming topic {Topic} from queue {Queue} with concurrency {Concurrency}")]
    private static partial void LogSubscribed(ILogger logger, string pubSub, string topic, string queue, int concurrency);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pub/sub {PubSub}: connection to the broker lost ({Reason}); publishes fail until it is recovered")]
    private static partial void LogConnectionLost(ILogger logger, string pubSub, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pub/sub {PubSub}: connection to the broker recovered")]
    private static partial void LogConnectionRecovered(ILogger logger, string pubSub);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Pub/sub {PubSub}: reconnecting to the broker failed ({Problem}); retrying")]
    private static partial void LogRecoveryFailed(ILogger logger, string pubSub, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pub/sub {PubSub}: publisher channel {Slot} dropped ({Reason}); a new one is opened on the next publish")]
    private static partial void LogPublisherDropped(ILogger logger, string pubSub, int slot, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pub/sub {PubSub}: publisher channel {Slot} got no confirm for {Seconds} s; closing it fails the publishes waiting on it")]
    private static partial void LogConfirmsStalled(ILogger logger, string pubSub, int slot, int seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Pub/sub {PubSub}: settling a message from queue {Queue} failed")]
    private static partial void LogConsumeFailed(ILogger logger, string pubSub, string queue, Exception error);

    public async ValueTask DisposeAsync()
    {
        await _confirmWatch.DisposeAsync();
        foreach (var channel in _publishers.OfType<IChannel>())
        {
            try { await channel.CloseAsync(); } catch (Exception e) when (e is RabbitMQ.Client.Exceptions.AlreadyClosedException) { }
            channel.Dispose();
        }
        await _connection.CloseAsync();
        _connection.Dispose();
    }
}
