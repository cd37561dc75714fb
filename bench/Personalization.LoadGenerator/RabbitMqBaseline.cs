using System.Buffers.Binary;
using System.Diagnostics;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Personalization.LoadGenerator;

/// <summary>One publish + consume measurement against a broker. Rates are messages/s; 0 = as fast as the publishers go.</summary>
public sealed record BrokerRun(
    int TargetPerSecond, int MessageBytes, long Published, long Consumed, double ConsumedPerSecond,
    LatencySummary PublishToConsume, LatencySummary Confirm, double? BrokerMicrosecondsPerMessage);

/// <summary>
/// The broker's own floor, as the pipeline uses it: persistent messages to a durable fanout exchange and durable classic
/// queue, publisher confirms (each publish awaits its confirm, on 4 channels, like the sidecar), one consumer with
/// manual acks and a prefetch of 64. Each message carries the time it was published; the consumer records publish →
/// consume. The exchange and queue are this run's own and are deleted at the end.
/// </summary>
public sealed class RabbitMqBaseline : IAsyncDisposable
{
    private const int PublishChannels = 4;
    private readonly IConnection _connection;
    private readonly IChannel _consumer;
    private readonly IChannel[] _publishers;
    private readonly string _name;
    private readonly int _messageBytes;
    private RunState _run = new(0);
    private int _next;

    private RabbitMqBaseline(IConnection connection, IChannel consumer, IChannel[] publishers, string name, int messageBytes) =>
        (_connection, _consumer, _publishers, _name, _messageBytes) = (connection, consumer, publishers, name, messageBytes);

    public static async Task<RabbitMqBaseline> OpenAsync(Uri address, int messageBytes, CancellationToken ct)
    {
        var factory = new ConnectionFactory { Uri = address, ClientProvidedName = "load-generator (baseline)", AutomaticRecoveryEnabled = false };
        var connection = await factory.CreateConnectionAsync(ct);
        var name = $"loadgen-baseline-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
        var consumer = await connection.CreateChannelAsync(cancellationToken: ct);
        await consumer.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
        await consumer.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false,
            new Dictionary<string, object?> { ["x-queue-type"] = "classic" }, cancellationToken: ct);
        await consumer.QueueBindAsync(name, name, "", cancellationToken: ct);
        await consumer.BasicQosAsync(0, 64, false, ct);
        var publishers = new IChannel[PublishChannels];
        for (var i = 0; i < publishers.Length; i++)
        {
            publishers[i] = await connection.CreateChannelAsync(
                new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct);
        }
        var baseline = new RabbitMqBaseline(connection, consumer, publishers, name, Math.Max(16, messageBytes));
        var receiver = new AsyncEventingBasicConsumer(consumer);
        receiver.ReceivedAsync += baseline.OnReceivedAsync;
        await consumer.BasicConsumeAsync(name, autoAck: false, receiver, ct);
        return baseline;
    }

    /// <summary>Publishes for <paramref name="duration"/>, then waits (at most 30 s) until the consumer has every message.</summary>
    public async Task<BrokerRun> RunAsync(int perSecond, TimeSpan duration, int inFlight, int? brokerPid, CancellationToken ct)
    {
        var run = new RunState(_run.Id + 1);
        _run = run;
        var cpuBefore = brokerPid is { } pid ? ProcFs.Stat(pid)?.CpuTicks : null;
        var start = Stopwatch.GetTimestamp();
        if (perSecond > 0)
        {
            await FixedRate.RunAsync(perSecond, duration, 64, token => PublishAsync(run, token), ct);
        }
        else
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            stop.CancelAfter(duration);
            await Task.WhenAll(Enumerable.Range(0, inFlight).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested) await PublishAsync(run, ct);
            }, CancellationToken.None)));
        }

        var wait = Stopwatch.StartNew();
        while (Interlocked.Read(ref run.Consumed) < Interlocked.Read(ref run.Published) && wait.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(20, ct);
        }
        var cpuAfter = brokerPid is { } p ? ProcFs.Stat(p)?.CpuTicks : null;
        var consumed = Interlocked.Read(ref run.Consumed);
        var last = Interlocked.Read(ref run.LastConsumed);
        var seconds = last > 0 ? Stopwatch.GetElapsedTime(start, last).TotalSeconds : double.NaN;
        return new BrokerRun(
            perSecond, _messageBytes, run.Published, consumed, consumed / seconds,
            run.Latency.Summarize(), run.Confirms.Summarize(),
            cpuBefore is { } b && cpuAfter is { } a && consumed > 0 ? (a - b) * 1e6 / ProcFs.TicksPerSecond / consumed : null);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _consumer.QueueDeleteAsync(_name, cancellationToken: CancellationToken.None);
            await _consumer.ExchangeDeleteAsync(_name, cancellationToken: CancellationToken.None);
        }
        finally
        {
            foreach (var channel in _publishers) await channel.DisposeAsync();
            await _consumer.DisposeAsync();
            await _connection.CloseAsync();
            _connection.Dispose();
        }
    }

    private async Task PublishAsync(RunState run, CancellationToken ct)
    {
        // The body is the pipeline's message size; its first bytes carry the publish time and the run.
        var body = new byte[_messageBytes];
        body.AsSpan(16).Fill((byte)'x');
        var start = Stopwatch.GetTimestamp();
        BinaryPrimitives.WriteInt64LittleEndian(body, start);
        BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(8), run.Id);
        var properties = new BasicProperties { DeliveryMode = DeliveryModes.Persistent, ContentType = "application/cloudevents+json" };
        var channel = _publishers[(int)((uint)Interlocked.Increment(ref _next) % PublishChannels)];
        Interlocked.Increment(ref run.Published);
        // With confirmation tracking on, this completes when the broker has confirmed the message.
        await channel.BasicPublishAsync(_name, "", false, properties, body, ct);
        run.Confirms.RecordSince(start);
    }

    private async Task OnReceivedAsync(object sender, BasicDeliverEventArgs delivery)
    {
        var now = Stopwatch.GetTimestamp();
        var body = delivery.Body.Span;
        var run = _run;
        if (body.Length >= 12 && BinaryPrimitives.ReadInt32LittleEndian(body[8..]) == run.Id)
        {
            run.Latency.Record(Stopwatch.GetElapsedTime(BinaryPrimitives.ReadInt64LittleEndian(body), now).TotalMilliseconds);
            Interlocked.Increment(ref run.Consumed);
            Interlocked.Exchange(ref run.LastConsumed, now);
        }
        await _consumer.BasicAckAsync(delivery.DeliveryTag, multiple: false);
    }

    private sealed class RunState(int id)
    {
        public int Id { get; } = id;
        public long Published;
        public long Consumed;
        public long LastConsumed;
        public LatencyRecorder Latency { get; } = new();
        public LatencyRecorder Confirms { get; } = new();
    }
}
