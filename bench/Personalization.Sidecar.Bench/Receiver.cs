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

    public static async Task<Receiver> StartAsync(string pubsub, IReadOnlyList<(string Topic, string Route)> subscriptions)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new Receiver(app);
        var subscribeJson = JsonSerializer.Serialize(subscriptions.Select(s => new { pubsubName = pubsub, topic = s.Topic, route = s.Route }));
        app.MapGet("/dapr/subscribe", () => Results.Text(subscribeJson, "application/json"));
        foreach (var (_, route) in subscriptions)
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

                counter?.Record(body.GetBuffer().AsSpan(0, (int)body.Length));
                context.Response.StatusCode = StatusCodes.Status200OK;
                await context.Response.WriteAsync("""{"status":"SUCCESS"}""");
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
