using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Personalization.Sidecar.Bench;

/// <summary>
/// Counts the distinct sequence numbers of one run and records publish → receive latency from the
/// Stopwatch timestamp the publisher put into each message (same process, so the clocks agree).
/// </summary>
public sealed class DeliveryCounter
{
    private readonly bool[] _seen;
    private readonly double[] _latencyMs;
    private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _count;

    public DeliveryCounter(int expected)
    {
        _seen = new bool[expected];
        _latencyMs = new double[expected];
    }

    public int Count => Volatile.Read(ref _count);

    public Task All => _all.Task;

    public IReadOnlyList<double> LatenciesMs => _latencyMs.AsSpan(0, Math.Min(Count, _latencyMs.Length)).ToArray();

    public void Record(ReadOnlySpan<byte> json)
    {
        var now = Stopwatch.GetTimestamp();
        var reader = new Utf8JsonReader(json);
        long seq = -1, sentAt = 0;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.ValueTextEquals("seq"u8))
            {
                reader.Read();
                seq = reader.GetInt64();
            }
            else if (reader.ValueTextEquals("sentAt"u8))
            {
                reader.Read();
                sentAt = reader.GetInt64();
            }
        }

        if (seq < 0 || seq >= _seen.Length)
        {
            return;
        }

        lock (_seen)
        {
            if (_seen[seq])
            {
                return;
            }

            _seen[seq] = true;
            _latencyMs[_count] = Stopwatch.GetElapsedTime(sentAt, now).TotalMilliseconds;
            _count++;
            if (_count == _seen.Length)
            {
                _all.TrySetResult();
            }
        }
    }
}

/// <summary>The subscriber app beside the sidecar: one route per topic, each feeding the counter of the current run.</summary>
public sealed class Receiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, DeliveryCounter?> _counters = [];

    private Receiver(WebApplication app) => _app = app;

    public int Port { get; private set; }

    public void Expect(string route, DeliveryCounter counter)
    {
        lock (_counters)
        {
            _counters[route] = counter;
        }
    }

    /// <summary>
    /// Subscriptions are (topic, route, bulk): a bulk one asks for <c>bulkSubscribe</c> (up to 100 entries or 20 ms) and
    /// answers every entry SUCCESS, as the services' batch handlers do.
    /// </summary>
    public static async Task<Receiver> StartAsync(string pubsub, IReadOnlyList<(string Topic, string Route, bool Bulk)> subscriptions)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new Receiver(app);
        var subscribeJson = JsonSerializer.Serialize(subscriptions.Select(s => s.Bulk
            ? (object)new { pubsubName = pubsub, topic = s.Topic, route = s.Route, bulkSubscribe = new { enabled = true, maxMessagesCount = 100, maxAwaitDurationMs = 20 } }
            : new { pubsubName = pubsub, topic = s.Topic, route = s.Route }));
        app.MapGet("/dapr/subscribe", () => Results.Text(subscribeJson, "application/json"));
        foreach (var (_, route, bulk) in subscriptions)
        {
            var r = route;
            app.MapPost("/" + r, async context =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body, context.RequestAborted);
                DeliveryCounter? counter;
                lock (receiver._counters)
                {
                    receiver._counters.TryGetValue(r, out counter);
                }

                context.Response.StatusCode = StatusCodes.Status200OK;
                if (!bulk)
                {
                    counter?.Record(body.GetBuffer().AsSpan(0, (int)body.Length));
                    await context.Response.WriteAsync("""{"status":"SUCCESS"}""");
                    return;
                }

                using var batch = JsonDocument.Parse(body.GetBuffer().AsMemory(0, (int)body.Length));
                var answer = new System.Text.StringBuilder("""{"statuses":[""");
                foreach (var entry in batch.RootElement.GetProperty("entries").EnumerateArray())
                {
                    counter?.Record(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(entry.GetProperty("event")));
                    answer.Append(answer.Length > 13 ? "," : "").Append("""{"entryId":""").Append(entry.GetProperty("entryId").GetRawText()).Append(""","status":"SUCCESS"}""");
                }

                await context.Response.WriteAsync(answer.Append("]}").ToString());
            });
        }

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Port = new Uri(address).Port;
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
