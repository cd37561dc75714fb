using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Personalization.Sidecar.Components;
using Personalization.Sidecar.Options;
using Personalization.Sidecar.PubSub;

namespace Personalization.Sidecar.Subscriptions;

/// <summary>Whether the sidecar is ready: components loaded (outbound) and the app's subscriptions running (healthz).</summary>
public sealed class Readiness
{
    public volatile bool Outbound;
    public volatile bool App;
}

/// <summary>
/// Waits for the app (its port accepts TCP, and its health check passes when enabled), asks it for
/// <c>GET /dapr/config</c> and <c>GET /dapr/subscribe</c>, adds the declarative subscriptions, and starts consuming.
/// A subscription the sidecar cannot honour (unknown pub/sub, unsupported match) stops the sidecar with exit code 1.
/// On shutdown it stops pulling and drains in-flight deliveries.
/// </summary>
public sealed partial class SubscriptionHost(
    SidecarOptions options, ComponentRegistry components, IReadOnlyList<SubscriptionDefinition> declarative,
    ResiliencyConfig resiliency, AppChannel app, SidecarTracing tracing, Readiness readiness, IHostApplicationLifetime lifetime,
    ILogger<SubscriptionHost> logger) : BackgroundService
{
    private readonly List<IAsyncDisposable> _running = [];
    private readonly List<SubscriptionDefinition> _active = [];

    public IReadOnlyList<SubscriptionDefinition> Active => _active;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        if (app.BaseAddress is null)
        {
            if (declarative.Count > 0) LogNoAppPort(logger, declarative.Count);
            readiness.App = true;
            return;
        }
        try
        {
            await WaitForAppAsync(stoppingToken);
            var subscriptions = new List<SubscriptionDefinition>(await DiscoverAsync(stoppingToken));
            subscriptions.AddRange(declarative);
            var duplicate = subscriptions.GroupBy(s => (s.PubsubName, s.Topic)).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
                throw new ResourceException($"topic '{duplicate.Key.Topic}' of pub/sub '{duplicate.Key.PubsubName}' is subscribed more than once");

            foreach (var subscription in subscriptions)
            {
                if (!components.PubSubs.TryGetValue(subscription.PubsubName, out var pubsub))
                    throw new ResourceException($"subscription to topic '{subscription.Topic}' names pub/sub '{subscription.PubsubName}', which is not loaded");
                var runner = new SubscriptionRunner(subscription, pubsub, resiliency.InboundFor(subscription.PubsubName), app, tracing, logger, TimeProvider.System);
                var concurrency = pubsub is RabbitMqPubSub rabbit && rabbit.PrefetchCount > 0 ? rabbit.PrefetchCount : 64;
                if (subscription.Bulk.Enabled) concurrency = Math.Max(concurrency, subscription.Bulk.MaxMessagesCount);
                _running.Add(await pubsub.SubscribeAsync(subscription.Topic, new ConsumeOptions(concurrency), runner.HandleAsync, stoppingToken));
                _active.Add(subscription);
            }
            readiness.App = true;
            LogReady(logger, subscriptions.Count);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is ResourceException or FormatException or CelException or System.Text.Json.JsonException)
        {
            LogFatal(logger, e.Message);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }

    private async Task WaitForAppAsync(CancellationToken ct)
    {
        LogWaiting(logger, app.BaseAddress!);
        while (!await app.PortOpenAsync(ct)) await Task.Delay(100, ct);
        if (!options.EnableAppHealthCheck) return;
        while (true)
        {
            try
            {
                var (status, _) = await app.SendAsync(HttpMethod.Get, options.AppHealthCheckPath, null, null, null, ct);
                if (status is >= 200 and < 300) return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(options.AppHealthProbeInterval, ct);
        }
    }

    private async Task<IReadOnlyList<SubscriptionDefinition>> DiscoverAsync(CancellationToken ct)
    {
        var (configStatus, _) = await app.SendAsync(HttpMethod.Get, "/dapr/config", null, null, null, ct);
        LogConfig(logger, configStatus);
        var (status, body) = await app.SendAsync(HttpMethod.Get, "/dapr/subscribe", null, null, null, ct);
        if (status == 404 || body.Length == 0) return [];
        if (status is < 200 or > 299) throw new ResourceException($"the app answered GET /dapr/subscribe with HTTP {status}");
        try
        {
            return SubscriptionDefinition.FromProgrammatic(body);
        }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or CelException)
        {
            throw new ResourceException($"the app's GET /dapr/subscribe answer cannot be used: {e.Message}");
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        readiness.App = false;
        await base.StopAsync(cancellationToken);
        await Task.WhenAll(_running.Select(r => r.DisposeAsync().AsTask()));
        LogDrained(logger);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} declarative subscriptions ignored: no --app-port to deliver to")]
    private static partial void LogNoAppPort(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Waiting for the app at {Address}")]
    private static partial void LogWaiting(ILogger logger, Uri address);

    [LoggerMessage(Level = LogLevel.Debug, Message = "GET /dapr/config answered {Status}")]
    private static partial void LogConfig(ILogger logger, int status);

    [LoggerMessage(Level = LogLevel.Information, Message = "App connected; {Count} subscriptions running")]
    private static partial void LogReady(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Cannot start subscriptions: {Problem}")]
    private static partial void LogFatal(ILogger logger, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Subscriptions stopped; in-flight deliveries drained")]
    private static partial void LogDrained(ILogger logger);
}
