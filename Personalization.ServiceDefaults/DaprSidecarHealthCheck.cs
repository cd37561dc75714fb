using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Readiness includes the Dapr sidecar: its outbound health (components loaded, broker and stores
/// reachable) answers 2xx. Outbound, not <c>/v1.0/healthz</c>, because the sidecar's own health
/// waits for the app, and the app must not wait for it in turn.
/// </summary>
public static class DaprSidecarHealthCheckExtensions
{
    public static TBuilder AddDaprSidecarHealthCheck<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var endpoint = builder.Configuration["DAPR_HTTP_ENDPOINT"]
            ?? $"http://127.0.0.1:{builder.Configuration["DAPR_HTTP_PORT"] ?? "3500"}";
        builder.Services.AddHttpClient(nameof(DaprSidecarHealthCheck), client =>
        {
            client.BaseAddress = new Uri(endpoint);
            client.Timeout = TimeSpan.FromSeconds(3);
        });
        builder.Services.AddHealthChecks().AddCheck<DaprSidecarHealthCheck>("dapr-sidecar");
        return builder;
    }
}

internal sealed class DaprSidecarHealthCheck(IHttpClientFactory clients) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var client = clients.CreateClient(nameof(DaprSidecarHealthCheck));
        try
        {
            using var response = await client.GetAsync("/v1.0/healthz/outbound", cancellationToken);
            return response.IsSuccessStatusCode
                ? HealthCheckResult.Healthy($"sidecar at {client.BaseAddress} ready")
                : HealthCheckResult.Unhealthy($"sidecar at {client.BaseAddress} answered {(int)response.StatusCode}");
        }
        catch (HttpRequestException e)
        {
            return HealthCheckResult.Unhealthy($"sidecar at {client.BaseAddress} unreachable: {e.Message}");
        }
    }
}
