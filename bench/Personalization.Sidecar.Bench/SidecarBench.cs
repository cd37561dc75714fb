using System.Diagnostics;
using System.Text.Json;
using Dapr.Client;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using StackExchange.Redis;

namespace Personalization.Sidecar.Bench;

public sealed record BenchMessage(long Seq, long SentAt, string Pad);

/// <summary>The scenarios. Each measures the direct client first, then the same work through the sidecar.</summary>
public sealed class SidecarBench : IAsyncDisposable
{
    private const string AppId = "bench";
    private const string PubSub = "pubsub";
    private const string Store = "statestore";
    private const string DeliverTopic = "bench-deliver";
    private const string LatencyTopic = "bench-latency";
    private const string BulkDeliverTopic = "bench-bulk-deliver";
    private const string PublishTopic = "bench-publish";
    private const int Window = 100;
    private static readonly string Pad = new('x', 980);
    private static readonly TimeSpan ScenarioTimeout = TimeSpan.FromSeconds(90);

    private readonly string _resources;
    private readonly Receiver _receiver;
    private readonly SidecarProcess _sidecar;
    private readonly DaprClient _dapr;
    private readonly IConnection _rabbit;
    private readonly ConnectionMultiplexer _redis;

    private SidecarBench(string resources, Receiver receiver, SidecarProcess sidecar, DaprClient dapr, IConnection rabbit, ConnectionMultiplexer redis)
    {
        _resources = resources;
        _receiver = receiver;
        _sidecar = sidecar;
        _dapr = dapr;
        _rabbit = rabbit;
        _redis = redis;
    }

    public static async Task<SidecarBench> StartAsync(BenchInfrastructure infra, CancellationToken cancellationToken)
    {
        var resources = Directory.CreateTempSubdirectory("sidecar-bench-resources-").FullName;
        await File.WriteAllTextAsync(Path.Combine(resources, "pubsub.yaml"), $"""
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: {PubSub}
            spec:
              type: pubsub.rabbitmq
              version: v1
              metadata:
              - name: connectionString
                value: "{infra.RabbitMq}"
              - name: durable
                value: "true"
              - name: deletedWhenUnused
                value: "false"
              - name: deliveryMode
                value: "2"
              - name: prefetchCount
                value: "200"
            """, cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(resources, "statestore.yaml"), $"""
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: {Store}
            spec:
              type: state.redis
              version: v1
              metadata:
              - name: redisHost
                value: "{infra.RedisHost}"
              - name: redisPassword
                value: "{infra.RedisPassword}"
            """, cancellationToken);

        var receiver = await Receiver.StartAsync(PubSub, [(DeliverTopic, "deliver", false), (LatencyTopic, "latency", false), (BulkDeliverTopic, "bulk-deliver", true)]);
        var sidecar = await SidecarProcess.StartAsync(AppId, resources, receiver.Port, cancellationToken);
        var dapr = new DaprClientBuilder()
            .UseGrpcEndpoint($"http://127.0.0.1:{sidecar.GrpcPort}")
            .UseHttpEndpoint($"http://127.0.0.1:{sidecar.HttpPort}")
            .Build();
        var rabbit = await new ConnectionFactory { Uri = infra.RabbitMq }.CreateConnectionAsync(cancellationToken);
        var redis = await ConnectionMultiplexer.ConnectAsync(infra.Redis);

        // The sidecar declares its queues when it subscribes; wait for them so nothing is published into the void.
        {
            foreach (var topic in new[] { DeliverTopic, LatencyTopic, BulkDeliverTopic })
            {
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (true)
                {
                    try
                    {
                        await using var channel = await rabbit.CreateChannelAsync(cancellationToken: cancellationToken);
                        await channel.QueueDeclarePassiveAsync($"{AppId}-{topic}", cancellationToken);
                        break;
                    }
                    catch (RabbitMQ.Client.Exceptions.OperationInterruptedException) when (DateTime.UtcNow < deadline)
                    {
                        await Task.Delay(100, cancellationToken);
                    }
                }
            }
        }

        return new SidecarBench(resources, receiver, sidecar, dapr, rabbit, redis);
    }

    public async Task RunAsync(Report report, double scale, CancellationToken ct)
    {
        int Scaled(int n) => Math.Max(Window, (int)(n * scale) / Window * Window);
        var publishCount = Scaled(20_000);
        var deliverCount = Scaled(20_000);
        var latencyCount = Scaled(5_000);
        var stateCount = Scaled(5_000);

        report.Detail("message: 1 KB JSON (seq, Stopwatch timestamp, padding), persistent (deliveryMode 2), one durable queue per topic; " +
            $"direct = RabbitMQ.Client 7 with publisher confirms awaited per {Window}; sidecar = Dapr.Client 1.19 over gRPC.");

        var config = Path.Combine(SidecarProcess.FindRepositoryRoot(), "components", "config.yaml");
        var samplingRate = System.Text.RegularExpressions.Regex.Match(await File.ReadAllTextAsync(config, ct), @"samplingRate:\s*""?([0-9.]+)").Groups[1].Value;
        report.Detail($"sidecar configuration: components/config.yaml, tracing samplingRate {samplingRate} (parent-based; the benchmark's calls carry no " +
            "trace context, so that rate decides); no OTLP endpoint, so sampled spans are recorded but not exported.");

        // Warm both paths up (JIT, connections, channels) before anything is measured.
        await DirectPublishAndDeliverAsync(1_000, ct);
        await SidecarPublishAndDeliverAsync(1_000, ct);
        await SidecarPublishAndDeliverAsync(1_000, ct, BulkDeliverTopic, "bulk-deliver");
        await SidecarBulkPublishAsync(1_000, ct);
        await DirectPublishOnlyAsync(1_000, ct);

        // 1. Publish throughput: direct (confirms per 100) vs bulk publish (100 per call) vs single publishes (100 in flight).
        var direct = await DirectPublishOnlyAsync(publishCount, ct);
        var bulk = await SidecarBulkPublishAsync(publishCount, ct);
        var single = await SidecarSinglePublishAsync(publishCount, ct);
        report.Add(new Comparison("bulk-publish throughput (100 per BulkPublishEvent)", "msg/s", direct.PerSecond, bulk.PerSecond,
            "≥ 80 % of direct", bulk.PerSecond >= 0.8 * direct.PerSecond, $"{publishCount} msgs"));
        report.Add(new Comparison("publish throughput (PublishEvent, 100 in flight)", "msg/s", direct.PerSecond, single.PerSecond,
            "— (no target)", null, $"{publishCount} msgs"));

        // 2. Publish + deliver throughput.
        var benchCpu = BenchCpu();
        var directPd = await DirectPublishAndDeliverAsync(deliverCount, ct);
        var directBenchCpu = BenchCpu() - benchCpu;
        var cpuBefore = _sidecar.CpuTime;
        benchCpu = BenchCpu();
        var sidecarPd = await SidecarPublishAndDeliverAsync(deliverCount, ct);
        var sidecarBenchCpu = BenchCpu() - benchCpu;
        var cpu = _sidecar.CpuTime - cpuBefore;
        report.Add(new Comparison("publish + deliver throughput", "msg/s", directPd.PerSecond, sidecarPd.PerSecond,
            "≥ 70 % of direct", sidecarPd.Completed && sidecarPd.PerSecond >= 0.7 * directPd.PerSecond,
            $"{deliverCount} msgs{(sidecarPd.Completed ? "" : ", NOT all delivered in time")}"));
        report.Detail($"publish + deliver at full speed, publish → receive latency: direct p50 {directPd.Latency?.P50Ms:0.0} / p99 {directPd.Latency?.P99Ms:0.0} ms; " +
            $"sidecar p50 {sidecarPd.Latency?.P50Ms:0.0} / p99 {sidecarPd.Latency?.P99Ms:0.0} ms (queueing at saturation, not a target).");
        report.Detail($"publish + deliver: the sidecar process used {cpu.TotalSeconds:0.00} s CPU for {deliverCount} messages " +
            $"({cpu.TotalMilliseconds * 1000 / deliverCount:0} µs per message, publish and delivery together) over {sidecarPd.Elapsed.TotalSeconds:0.00} s wall.");
        report.Detail($"CPU per message, publish + deliver: direct run — benchmark process (publisher + consumer) {directBenchCpu.TotalMilliseconds * 1000 / deliverCount:0} µs; " +
            $"sidecar run — benchmark process (Dapr.Client + subscriber app) {sidecarBenchCpu.TotalMilliseconds * 1000 / deliverCount:0} µs plus sidecar {cpu.TotalMilliseconds * 1000 / deliverCount:0} µs " +
            "(RabbitMQ's own CPU, the same work in both runs, not counted).");

        // 2b. The same through a bulk subscription (how the services consume): the app gets batches of up to 100.
        cpuBefore = _sidecar.CpuTime;
        var sidecarBulkPd = await SidecarPublishAndDeliverAsync(deliverCount, ct, BulkDeliverTopic, "bulk-deliver");
        cpu = _sidecar.CpuTime - cpuBefore;
        report.Add(new Comparison("publish + bulk-subscribe deliver throughput", "msg/s", directPd.PerSecond, sidecarBulkPd.PerSecond,
            "— (no target)", null, $"{deliverCount} msgs{(sidecarBulkPd.Completed ? "" : ", NOT all delivered in time")}"));
        report.Detail($"publish + bulk-subscribe deliver (batches of up to 100, 20 ms): the sidecar process used {cpu.TotalSeconds:0.00} s CPU " +
            $"({cpu.TotalMilliseconds * 1000 / deliverCount:0} µs per message) over {sidecarBulkPd.Elapsed.TotalSeconds:0.00} s wall; " +
            $"publish → receive p50 {sidecarBulkPd.Latency?.P50Ms:0.0} / p99 {sidecarBulkPd.Latency?.P99Ms:0.0} ms.");

        // 3. Latency at a fixed 1,000 msgs/s.
        var (directLatency, directCall) = await DirectLatencyAsync(latencyCount, 1_000, ct);
        cpuBefore = _sidecar.CpuTime;
        var (sidecarLatency, sidecarCall) = await SidecarLatencyAsync(latencyCount, 1_000, ct);
        cpu = _sidecar.CpuTime - cpuBefore;
        report.Add(new Comparison("publish → deliver p99 at 1,000 msgs/s", "ms", directLatency.P99Ms, sidecarLatency.P99Ms,
            "≤ 2× direct", sidecarLatency.Count == latencyCount && sidecarLatency.P99Ms <= 2 * directLatency.P99Ms, $"{latencyCount} msgs"));
        report.Add(new Comparison("publish → deliver p50 at 1,000 msgs/s", "ms", directLatency.P50Ms, sidecarLatency.P50Ms,
            "— (no target)", null, $"{latencyCount} msgs"));
        report.Detail($"latency at 1,000 msgs/s: direct p50 {directLatency.P50Ms:0.000} / p99 {directLatency.P99Ms:0.000} / max {directLatency.MaxMs:0.0} ms; " +
            $"sidecar p50 {sidecarLatency.P50Ms:0.000} / p99 {sidecarLatency.P99Ms:0.000} / max {sidecarLatency.MaxMs:0.0} ms " +
            $"({sidecarLatency.Count}/{latencyCount} delivered); sidecar CPU {cpu.TotalSeconds / (latencyCount / 1000.0) * 100:0} % of one core at that rate.");

        report.Detail($"publish call alone at 1,000 msgs/s (until the broker confirmed / the sidecar answered): direct p50 {directCall.P50Ms:0.000} / p99 {directCall.P99Ms:0.000} ms; " +
            $"sidecar p50 {sidecarCall.P50Ms:0.000} / p99 {sidecarCall.P99Ms:0.000} ms. The rest of the end-to-end figure is broker → consumer (direct) or broker → sidecar → HTTP POST to the app (sidecar).");

        // 4. State get / save.
        var (directGet, directSet) = await DirectRedisAsync(stateCount);
        var (sidecarGet, sidecarSave) = await SidecarStateAsync(stateCount, ct);
        report.Add(new Comparison("state get p99", "ms", directGet.P99Ms, sidecarGet.P99Ms,
            "≤ direct + 1 ms", sidecarGet.P99Ms <= directGet.P99Ms + 1.0, $"{stateCount} sequential gets"));
        report.Add(new Comparison("state get p50", "ms", directGet.P50Ms, sidecarGet.P50Ms, "— (no target)", null, $"{stateCount} sequential gets"));
        report.Add(new Comparison("state save p99", "ms", directSet.P99Ms, sidecarSave.P99Ms, "— (no target)", null, $"{stateCount} sequential saves"));
        report.Add(new Comparison("state save p50", "ms", directSet.P50Ms, sidecarSave.P50Ms, "— (no target)", null, $"{stateCount} sequential saves"));
        report.Detail("state: direct = StackExchange.Redis GET / SET of a 1 KB string; sidecar = DaprClient.GetStateAsync / SaveStateAsync " +
            "(gRPC → sidecar → Redis HGETALL / Lua EVAL on a HASH), one call at a time.");
        report.Detail($"load average at the end (1/5/15 min): {MachineInfo.LoadAverage()} — the 2 cores are shared with other work, so absolute figures move between runs; the ratios are same-run.");
    }

    private static TimeSpan BenchCpu() => Process.GetCurrentProcess().TotalProcessorTime;

    private static byte[] Serialize(long seq) =>
        JsonSerializer.SerializeToUtf8Bytes(new BenchMessage(seq, Stopwatch.GetTimestamp(), Pad), JsonSerializerOptions.Web);

    private static BenchMessage Message(long seq) => new(seq, Stopwatch.GetTimestamp(), Pad);

    private static async Task<bool> WaitAsync(DeliveryCounter counter, CancellationToken ct)
    {
        var finished = await Task.WhenAny(counter.All, Task.Delay(ScenarioTimeout, ct));
        return finished == counter.All;
    }

    private async Task<(IChannel Channel, string Exchange, string Queue)> DeclareAsync(string name, bool confirms, CancellationToken ct)
    {
        var channel = await _rabbit.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: confirms, publisherConfirmationTrackingEnabled: confirms), ct);
        await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct);
        var queue = name + "-queue";
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: ct);
        await channel.QueueBindAsync(queue, name, "", cancellationToken: ct);
        await channel.QueuePurgeAsync(queue, ct);
        return (channel, name, queue);
    }

    private static async Task PublishDirectAsync(IChannel channel, string exchange, int count, CancellationToken ct)
    {
        var properties = new BasicProperties { DeliveryMode = DeliveryModes.Persistent, ContentType = "application/json" };
        var pending = new List<Task>(Window);
        for (var i = 0; i < count; i++)
        {
            pending.Add(channel.BasicPublishAsync(exchange, "", false, properties, Serialize(i), ct).AsTask());
            if (pending.Count == Window)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }

        await Task.WhenAll(pending);
    }

    private async Task<Throughput> DirectPublishOnlyAsync(int count, CancellationToken ct)
    {
        var (channel, exchange, queue) = await DeclareAsync("direct-publish", confirms: true, ct);
        await using (channel)
        {
            var watch = Stopwatch.StartNew();
            await PublishDirectAsync(channel, exchange, count, ct);
            var elapsed = watch.Elapsed;
            await channel.QueuePurgeAsync(queue, ct);
            return new Throughput(count, elapsed, true);
        }
    }

    private async Task<Throughput> SidecarBulkPublishAsync(int count, CancellationToken ct)
    {
        // Same topology as the direct run: the topic's exchange with one durable queue bound, nobody consuming.
        var (channel, _, queue) = await DeclareAsync(PublishTopic, confirms: false, ct);
        await using (channel)
        {
            var watch = Stopwatch.StartNew();
            for (var start = 0; start < count; start += Window)
            {
                var batch = new List<BenchMessage>(Window);
                for (var i = start; i < start + Window && i < count; i++)
                {
                    batch.Add(Message(i));
                }

                var response = await _dapr.BulkPublishEventAsync(PubSub, PublishTopic, batch, cancellationToken: ct);
                if (response.FailedEntries.Count > 0)
                {
                    throw new InvalidOperationException($"bulk publish failed for {response.FailedEntries.Count} entries: {response.FailedEntries[0].ErrorMessage}");
                }
            }

            var elapsed = watch.Elapsed;
            await channel.QueuePurgeAsync(queue, ct);
            return new Throughput(count, elapsed, true);
        }
    }

    private async Task<Throughput> SidecarSinglePublishAsync(int count, CancellationToken ct)
    {
        var (channel, _, queue) = await DeclareAsync(PublishTopic, confirms: false, ct);
        await using (channel)
        {
            var watch = Stopwatch.StartNew();
            var pending = new List<Task>(Window);
            for (var i = 0; i < count; i++)
            {
                pending.Add(_dapr.PublishEventAsync(PubSub, PublishTopic, Message(i), ct));
                if (pending.Count == Window)
                {
                    await Task.WhenAll(pending);
                    pending.Clear();
                }
            }

            await Task.WhenAll(pending);
            var elapsed = watch.Elapsed;
            await channel.QueuePurgeAsync(queue, ct);
            return new Throughput(count, elapsed, true);
        }
    }

    private async Task<(IChannel Consumer, DeliveryCounter Counter)> ConsumeDirectAsync(string queue, int count, CancellationToken ct)
    {
        var counter = new DeliveryCounter(count);
        var channel = await _rabbit.CreateChannelAsync(cancellationToken: ct);
        await channel.BasicQosAsync(0, 200, false, ct);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            counter.Record(delivery.Body.Span);
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
        };
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer, ct);
        return (channel, counter);
    }

    private async Task<Throughput> DirectPublishAndDeliverAsync(int count, CancellationToken ct)
    {
        var (publisher, exchange, queue) = await DeclareAsync("direct-deliver", confirms: true, ct);
        await using (publisher)
        {
            var (consumer, counter) = await ConsumeDirectAsync(queue, count, ct);
            await using (consumer)
            {
                var watch = Stopwatch.StartNew();
                await PublishDirectAsync(publisher, exchange, count, ct);
                var completed = await WaitAsync(counter, ct);
                return new Throughput(counter.Count, watch.Elapsed, completed) { Latency = LatencyStats.From(counter.LatenciesMs) };
            }
        }
    }

    private async Task<Throughput> SidecarPublishAndDeliverAsync(int count, CancellationToken ct, string topic = DeliverTopic, string route = "deliver")
    {
        var counter = new DeliveryCounter(count);
        _receiver.Expect(route, counter);
        var watch = Stopwatch.StartNew();
        var pending = new List<Task>(Window);
        for (var i = 0; i < count; i++)
        {
            pending.Add(_dapr.PublishEventAsync(PubSub, topic, Message(i), ct));
            if (pending.Count == Window)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }

        await Task.WhenAll(pending);
        var completed = await WaitAsync(counter, ct);
        return new Throughput(counter.Count, watch.Elapsed, completed) { Latency = LatencyStats.From(counter.LatenciesMs) };
    }

    private static async Task PacedAsync(int count, int perSecond, Func<int, Task> send, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var sends = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            var wait = TimeSpan.FromSeconds((double)i / perSecond) - clock.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait, ct);
            }

            sends.Add(send(i));
        }

        await Task.WhenAll(sends);
    }

    /// <summary>Runs the send and records how long the call took (publish → broker confirm, or → sidecar answer).</summary>
    private static async Task Timed(Func<Task> send, double[] callMs, int index)
    {
        var start = Stopwatch.GetTimestamp();
        await send();
        callMs[index] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    private async Task<(LatencyStats EndToEnd, LatencyStats Call)> DirectLatencyAsync(int count, int perSecond, CancellationToken ct)
    {
        var (publisher, exchange, queue) = await DeclareAsync("direct-latency", confirms: true, ct);
        await using (publisher)
        {
            var (consumer, counter) = await ConsumeDirectAsync(queue, count, ct);
            await using (consumer)
            {
                var properties = new BasicProperties { DeliveryMode = DeliveryModes.Persistent, ContentType = "application/json" };
                var callMs = new double[count];
                await PacedAsync(count, perSecond, i => Timed(() => publisher.BasicPublishAsync(exchange, "", false, properties, Serialize(i), ct).AsTask(), callMs, i), ct);
                await WaitAsync(counter, ct);
                return (LatencyStats.From(counter.LatenciesMs), LatencyStats.From(callMs));
            }
        }
    }

    private async Task<(LatencyStats EndToEnd, LatencyStats Call)> SidecarLatencyAsync(int count, int perSecond, CancellationToken ct)
    {
        var counter = new DeliveryCounter(count);
        _receiver.Expect("latency", counter);
        var callMs = new double[count];
        await PacedAsync(count, perSecond, i => Timed(() => _dapr.PublishEventAsync(PubSub, LatencyTopic, Message(i), ct), callMs, i), ct);
        await WaitAsync(counter, ct);
        return (LatencyStats.From(counter.LatenciesMs), LatencyStats.From(callMs));
    }

    private async Task<(LatencyStats Get, LatencyStats Set)> DirectRedisAsync(int count)
    {
        var db = _redis.GetDatabase();
        var value = Serialize(0);
        var keys = Enumerable.Range(0, 100).Select(i => (RedisKey)$"bench-direct-{i}").ToArray();
        var sets = new double[count];
        var gets = new double[count];
        for (var i = 0; i < count + 500; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await db.StringSetAsync(keys[i % keys.Length], value);
            var set = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            start = Stopwatch.GetTimestamp();
            await db.StringGetAsync(keys[i % keys.Length]);
            var get = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (i >= 500)
            {
                sets[i - 500] = set;
                gets[i - 500] = get;
            }
        }

        return (LatencyStats.From(gets), LatencyStats.From(sets));
    }

    private async Task<(LatencyStats Get, LatencyStats Save)> SidecarStateAsync(int count, CancellationToken ct)
    {
        var value = Message(0);
        var keys = Enumerable.Range(0, 100).Select(i => $"bench-sidecar-{i}").ToArray();
        var saves = new double[count];
        var gets = new double[count];
        for (var i = 0; i < count + 500; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await _dapr.SaveStateAsync(Store, keys[i % keys.Length], value, cancellationToken: ct);
            var save = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            start = Stopwatch.GetTimestamp();
            var read = await _dapr.GetStateAsync<BenchMessage>(Store, keys[i % keys.Length], cancellationToken: ct);
            var get = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (read is null)
            {
                throw new InvalidOperationException($"the sidecar returned no value for {keys[i % keys.Length]} right after saving it");
            }

            if (i >= 500)
            {
                saves[i - 500] = save;
                gets[i - 500] = get;
            }
        }

        return (LatencyStats.From(gets), LatencyStats.From(saves));
    }

    public async ValueTask DisposeAsync()
    {
        _dapr.Dispose();
        await _sidecar.DisposeAsync();
        await _receiver.DisposeAsync();
        await _rabbit.DisposeAsync();
        await _redis.DisposeAsync();
        try
        {
            Directory.Delete(_resources, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
