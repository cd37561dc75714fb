using Dapr.Client;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Personalization.Contracts;

namespace Personalization.ProfileQuery.Extensions;

/// <summary>
/// The pipeline's freshness as a health signal: Degraded when the last heartbeat aggregation saw
/// (<see cref="StateKeys.Heartbeat"/>) is older than <c>Heartbeat:StaleAfter</c> (30 s), so the dashboard and a
/// Kubernetes probe show a stalled pipeline while profiles are still served (Degraded still answers 200). During its
/// first <c>StaleAfter</c> the service reports Healthy without a heartbeat: the pipeline may still be starting.
/// </summary>
public sealed class HeartbeatHealthCheck(DaprClient dapr, IConfiguration configuration, TimeProvider time) : IHealthCheck
{
    public const string Name = "pipeline-heartbeat";

    private readonly DateTimeOffset _started = time.GetUtcNow();

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var staleAfter = configuration.GetValue("Heartbeat:StaleAfter", TimeSpan.FromSeconds(30));
        var now = time.GetUtcNow();
        var last = await dapr.GetStateAsync<PipelineHeartbeat?>(StateKeys.Store, StateKeys.Heartbeat, cancellationToken: cancellationToken);
        if (last is null)
        {
            return now - _started < staleAfter
                ? HealthCheckResult.Healthy("no heartbeat through the pipeline yet; starting")
                : HealthCheckResult.Degraded($"no heartbeat has crossed the pipeline in the {(now - _started).TotalSeconds:0} s since start");
        }
        var age = now - last.ArrivedAt;
        var description = $"last heartbeat crossed the pipeline in {last.LatencyMs:0} ms, {age.TotalSeconds:0} s ago";
        return age < staleAfter || now - _started < staleAfter ? HealthCheckResult.Healthy(description) : HealthCheckResult.Degraded(description);
    }
}
