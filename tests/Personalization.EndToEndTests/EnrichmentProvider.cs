using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Personalization.EndToEndTests;

/// <summary>
/// A third-party enrichment provider the tests run on loopback, which the platform's enrichment service is pointed at
/// (<c>Enrichment:Provider:Url</c>). It answers each event with <c>{"company": "Company of &lt;context.ip&gt;", "userId": …}</c>
/// from the fields it was sent, or, as a test sets <see cref="Behaviour"/>, hangs or fails.
/// </summary>
public sealed class EnrichmentProvider : IAsyncDisposable
{
    public enum Mode { Answer, Hang, Fail }

    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stopping = new();
    private int _calls;

    private EnrichmentProvider(WebApplication app) => _app = app;

    public volatile Mode Behaviour = Mode.Answer;

    public Uri Url { get; private set; } = null!;

    /// <summary>Requests received, whatever was answered.</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>The events of every request received, in order: what the platform sent a third party.</summary>
    public List<JsonObject> Received { get; } = [];

    public static async Task<EnrichmentProvider> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var provider = new EnrichmentProvider(app);
        app.MapPost("/enrich", provider.AnswerAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        provider.Url = new Uri(new Uri(address), "/enrich");
        return provider;
    }

    private async Task<IResult> AnswerAsync(HttpRequest request)
    {
        Interlocked.Increment(ref _calls);
        var body = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        var events = body?["events"] as JsonArray ?? [];
        lock (Received) Received.AddRange(events.OfType<JsonObject>().Select(e => (JsonObject)e.DeepClone()));
        switch (Behaviour)
        {
            case Mode.Hang:
                using (var stop = CancellationTokenSource.CreateLinkedTokenSource(request.HttpContext.RequestAborted, _stopping.Token))
                {
                    await Task.Delay(TimeSpan.FromMinutes(5), stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                }
                return Results.StatusCode((int)HttpStatusCode.GatewayTimeout);
            case Mode.Fail:
                return Results.StatusCode((int)HttpStatusCode.ServiceUnavailable);
        }
        var results = new JsonObject();
        foreach (var e in events.OfType<JsonObject>())
        {
            var fields = e["fields"] as JsonObject;
            results[e["messageId"]!.GetValue<string>()] = new JsonObject
            {
                ["company"] = $"Company of {fields?["context.ip"]?.GetValue<string>() ?? "nobody"}",
                ["userId"] = fields?["userId"]?.DeepClone(),
            };
        }
        return Results.Json(new JsonObject { ["results"] = results });
    }

    /// <summary>What the provider was sent for one message; null when it never was.</summary>
    public JsonObject? SentFor(string messageId)
    {
        lock (Received) return Received.LastOrDefault(e => e["messageId"]?.GetValue<string>() == messageId);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}
