using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Personalization.Sidecar.ConformanceTests.Infrastructure;

/// <summary>How the test app answers one delivery.</summary>
public enum AppAnswer
{
    /// <summary>200 with {"status":"SUCCESS"}.</summary>
    Success,

    /// <summary>200 with {"status":"RETRY"}.</summary>
    Retry,

    /// <summary>200 with {"status":"DROP"}.</summary>
    Drop,

    /// <summary>404 Not Found.</summary>
    NotFound,

    /// <summary>The handler throws: 500.</summary>
    Throw,

    /// <summary>Never answers (until the connection goes away or 60 s pass): the message stays un-acked.</summary>
    Hang,
}

/// <summary>One programmatic subscription of the test app, and how its handler answers.</summary>
public sealed record TopicSubscription(string PubSub, string Topic, string Route)
{
    public string? DeadLetterTopic { get; init; }

    public bool RawPayload { get; init; }

    public bool BulkSubscribe { get; init; }

    public int BulkMaxMessages { get; init; } = 20;

    public int BulkMaxAwaitMs { get; init; } = 300;

    public Func<Delivery, AppAnswer> Answer { get; init; } = _ => AppAnswer.Success;
}

/// <summary>One CloudEvent the app received. Attempt counts deliveries of the same marker to the same route, from 1.</summary>
public sealed record Delivery(
    string Route,
    string? ContentType,
    IReadOnlyDictionary<string, string> Headers,
    JsonObject Event,
    string? Marker,
    int Attempt,
    bool InBulk);

/// <summary>
/// The subscriber test app: a small ASP.NET Core app on a free loopback port serving /dapr/subscribe and one
/// handler per route that records every delivery and answers as the test configured.
/// </summary>
public sealed class SubscriberApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly IReadOnlyList<TopicSubscription> _subscriptions;
    private readonly ConcurrentQueue<Delivery> _deliveries = new();
    private readonly ConcurrentDictionary<string, int> _attempts = new();
    private readonly ConcurrentQueue<int> _bulkBatchSizes = new();
    private int _subscribeCalls;

    private SubscriberApp(WebApplication app, IReadOnlyList<TopicSubscription> subscriptions)
    {
        _app = app;
        _subscriptions = subscriptions;
    }

    public int Port { get; private set; }

    public int SubscribeCalls => Volatile.Read(ref _subscribeCalls);

    public IReadOnlyCollection<int> BulkBatchSizes => _bulkBatchSizes.ToArray();

    public static async Task<SubscriberApp> StartAsync(IReadOnlyList<TopicSubscription> subscriptions, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        var subscriber = new SubscriberApp(app, subscriptions);
        subscriber.Map();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        subscriber.Port = new Uri(address).Port;
        return subscriber;
    }

    public IReadOnlyList<Delivery> DeliveriesTo(string route, string? marker = null) =>
        _deliveries.Where(d => d.Route == route && (marker is null || d.Marker == marker)).ToList();

    /// <summary>Waits until at least <paramref name="count"/> deliveries of the marker reached the route.</summary>
    public async Task<IReadOnlyList<Delivery>> WaitForAsync(
        string route, string? marker, int count = 1, TimeSpan? timeout = null, Func<string>? diagnostics = null)
    {
        return await Eventually.ReturnsAsync(
            () =>
            {
                var found = DeliveriesTo(route, marker);
                return Task.FromResult(found.Count >= count ? found : null);
            },
            $"{count} delivery(ies) of marker {marker ?? "(any)"} to route '{route}' (got {DeliveriesTo(route, marker).Count})",
            timeout,
            diagnostics);
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _app.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await _app.DisposeAsync();
    }

    private void Map()
    {
        _app.MapGet("/dapr/subscribe", () =>
        {
            Interlocked.Increment(ref _subscribeCalls);
            var array = new JsonArray();
            foreach (var s in _subscriptions)
            {
                var entry = new JsonObject
                {
                    ["pubsubName"] = s.PubSub,
                    ["topic"] = s.Topic,
                    ["route"] = s.Route,
                };
                if (s.DeadLetterTopic is not null)
                {
                    entry["deadLetterTopic"] = s.DeadLetterTopic;
                }

                if (s.RawPayload)
                {
                    entry["metadata"] = new JsonObject { ["rawPayload"] = "true" };
                }

                if (s.BulkSubscribe)
                {
                    entry["bulkSubscribe"] = new JsonObject
                    {
                        ["enabled"] = true,
                        ["maxMessagesCount"] = s.BulkMaxMessages,
                        ["maxAwaitDurationMs"] = s.BulkMaxAwaitMs,
                    };
                }

                array.Add(entry);
            }

            return Results.Text(array.ToJsonString(), "application/json");
        });

        foreach (var subscription in _subscriptions)
        {
            var s = subscription;
            _app.MapPost("/" + s.Route, context => s.BulkSubscribe ? HandleBulkAsync(s, context) : HandleAsync(s, context));
        }
    }

    private async Task HandleAsync(TopicSubscription s, HttpContext context)
    {
        var body = await ReadJsonAsync(context);
        var delivery = Record(s, context, body, inBulk: false);
        switch (s.Answer(delivery))
        {
            case AppAnswer.Success:
                await context.Response.WriteAsJsonAsync(new { status = "SUCCESS" });
                break;
            case AppAnswer.Retry:
                await context.Response.WriteAsJsonAsync(new { status = "RETRY" });
                break;
            case AppAnswer.Drop:
                await context.Response.WriteAsJsonAsync(new { status = "DROP" });
                break;
            case AppAnswer.NotFound:
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                break;
            case AppAnswer.Throw:
                throw new InvalidOperationException("The test handler failed on purpose.");
            case AppAnswer.Hang:
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(60), context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                break;
        }
    }

    private async Task HandleBulkAsync(TopicSubscription s, HttpContext context)
    {
        var body = await ReadJsonAsync(context);
        var statuses = new JsonArray();
        var entries = body["entries"] as JsonArray ?? [];
        _bulkBatchSizes.Enqueue(entries.Count);
        foreach (var entry in entries.OfType<JsonObject>())
        {
            var ev = entry["event"] switch
            {
                JsonObject o => o,
                JsonValue v when v.TryGetValue<string>(out var text) => JsonNode.Parse(text) as JsonObject ?? [],
                _ => [],
            };
            var delivery = Record(s, context, (JsonObject)ev.DeepClone(), inBulk: true);
            var status = s.Answer(delivery) switch
            {
                AppAnswer.Success => "SUCCESS",
                AppAnswer.Drop => "DROP",
                _ => "RETRY",
            };
            statuses.Add(new JsonObject { ["entryId"] = entry["entryId"]?.DeepClone(), ["status"] = status });
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(new JsonObject { ["statuses"] = statuses }.ToJsonString());
    }

    private Delivery Record(TopicSubscription s, HttpContext context, JsonObject ev, bool inBulk)
    {
        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
        var marker = MarkerOf(ev);
        var attempt = _attempts.AddOrUpdate($"{s.Route}\n{marker ?? ev["id"]?.ToString()}", 1, (_, n) => n + 1);
        var delivery = new Delivery(s.Route, context.Request.ContentType, headers, ev, marker, attempt, inBulk);
        _deliveries.Enqueue(delivery);
        return delivery;
    }

    private static async Task<JsonObject> ReadJsonAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(context.RequestAborted);
        return JsonNode.Parse(text) as JsonObject ?? [];
    }

    /// <summary>Tests put a "marker" into each message's data; raw payloads carry it base64-encoded.</summary>
    public static string? MarkerOf(JsonObject ev)
    {
        if (ev["data"] is JsonObject data && data["marker"] is JsonValue marker)
        {
            return marker.ToString();
        }

        if (ev["data_base64"] is JsonValue base64 && base64.TryGetValue<string>(out var encoded))
        {
            try
            {
                var decoded = JsonNode.Parse(Convert.FromBase64String(encoded)) as JsonObject;
                return decoded?["marker"]?.ToString();
            }
            catch (Exception ex) when (ex is FormatException or JsonException)
            {
                return null;
            }
        }

        return null;
    }
}
