using System.Collections.Concurrent;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Personalization.AppHost.Infrastructure;

namespace Personalization.AppHost.Supervision;

/// <summary>
/// What Kubernetes does for a pod, for local runs: the orchestrator (DCP) leaves an executable that exits for good, so
/// a crashed service, sidecar or server would stay down, its dependents waiting in silence. This watches every
/// process resource and, when one exits or fails to start without having been asked to stop:
/// <list type="bullet">
/// <item>logs an error naming it, its exit code and its last output lines, so the cause is on screen at once;</item>
/// <item>starts it again after a backoff of 1, 2, 4 … up to 30 s, reset once it has run for a minute. Its messages wait
/// in the broker meanwhile (their queues are durable).</item>
/// </list>
/// A resource stopped on purpose (the dashboard's or a test's stop command) goes through "Stopping" first and is left
/// alone. It also reports, every 30 s, the resources that are still not running and healthy a minute after the start,
/// with their state, so a start that cannot finish says what it waits for. <c>Supervision:Restart=false</c> turns the
/// restarts off.
/// </summary>
public sealed partial class ProcessSupervisor(
    DistributedApplicationModel model,
    ResourceNotificationService notifications,
    ResourceLoggerService logs,
    ResourceCommandService commands,
    IConfiguration configuration,
    IHostApplicationLifetime lifetime,
    ILogger<ProcessSupervisor> logger) : BackgroundService, IHostedLifecycleService
{
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan StableAfter = TimeSpan.FromMinutes(1);
    private const int LinesKept = 12;

    private readonly ConcurrentDictionary<string, Supervised> _supervised = new();

    private sealed class Supervised
    {
        public string? LastState;
        public DateTimeOffset RunningSince = DateTimeOffset.MaxValue;
        public int Restarts;
        public bool Restarting;
        public readonly Queue<string> LastLines = new();
    }

    /// <summary>Processes of the platform: services, sidecars and local servers (not parameters or databases).</summary>
    private static bool IsProcess(IResource resource) => resource is ProjectResource or ExecutableResource;

    /// <summary>
    /// Starts watching before any hosted service starts: the orchestrator's own start does not return until every
    /// resource it waits for is up, so a server that fails at every start would otherwise never be reported.
    /// </summary>
    public Task StartingAsync(CancellationToken cancellationToken) => base.StartAsync(cancellationToken);

    /// <summary>Already started in <see cref="StartingAsync"/>.</summary>
    public override Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var restart = configuration.GetValue("Supervision:Restart", true);
        foreach (var resource in model.Resources.Where(IsProcess))
        {
            _supervised[resource.Name] = new Supervised();
            _ = KeepLastLinesAsync(resource, stoppingToken);
        }
        _ = ReportWaitingAsync(stoppingToken);

        try
        {
            await foreach (var change in notifications.WatchAsync(stoppingToken))
            {
                // Hidden helpers (Aspire's rebuilders) run only on request and end by design.
                if (!_supervised.TryGetValue(change.Resource.Name, out var supervised) || !IsProcess(change.Resource) || change.Snapshot.IsHidden) continue;
                var state = change.Snapshot.State?.Text;
                var previous = supervised.LastState;
                supervised.LastState = state;
                if (state == KnownResourceStates.Running && previous != KnownResourceStates.Running)
                {
                    supervised.RunningSince = DateTimeOffset.UtcNow;
                }
                var ended = state == KnownResourceStates.Exited || state == KnownResourceStates.Finished || state == KnownResourceStates.FailedToStart;
                if (!ended || previous == state || previous == KnownResourceStates.Stopping || lifetime.ApplicationStopping.IsCancellationRequested) continue;

                var lines = LastLines(supervised);
                if (!restart)
                {
                    LogEnded(logger, change.Resource.Name, state!, change.Snapshot.ExitCode, lines);
                    continue;
                }
                if (supervised.Restarting) continue;
                if (DateTimeOffset.UtcNow - supervised.RunningSince >= StableAfter) supervised.Restarts = 0;
                var backoff = TimeSpan.FromSeconds(Math.Min(MaxBackoff.TotalSeconds, Math.Pow(2, supervised.Restarts)));
                supervised.Restarts++;
                LogRestarting(logger, change.Resource.Name, state!, change.Snapshot.ExitCode, lines, backoff.TotalSeconds, supervised.Restarts);
                // A server that fails again and again right after starting may be refusing its own data.
                if (supervised.Restarts >= 2 && change.Resource.Annotations.OfType<DataFolderAnnotation>().FirstOrDefault() is { } data)
                {
                    LogDataFolderHint(logger, change.Resource.Name, supervised.Restarts, data.Path);
                }
                supervised.Restarting = true;
                _ = RestartAsync(change.Resource, supervised, backoff, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RestartAsync(IResource resource, Supervised supervised, TimeSpan backoff, CancellationToken ct)
    {
        try
        {
            await Task.Delay(backoff, ct);
            if (lifetime.ApplicationStopping.IsCancellationRequested) return;
            var result = await commands.ExecuteCommandAsync(resource, KnownResourceCommands.StartCommand, ct);
            if (!result.Success) LogRestartFailed(logger, resource.Name, result.Message ?? "no reason given");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogRestartFailed(logger, resource.Name, e.Message);
        }
        finally
        {
            supervised.Restarting = false;
        }
    }

    private async Task KeepLastLinesAsync(IResource resource, CancellationToken ct)
    {
        var supervised = _supervised[resource.Name];
        try
        {
            await foreach (var batch in logs.WatchAsync(resource).WithCancellation(ct))
            {
                lock (supervised.LastLines)
                {
                    foreach (var line in batch)
                    {
                        supervised.LastLines.Enqueue(line.Content);
                        while (supervised.LastLines.Count > LinesKept) supervised.LastLines.Dequeue();
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private static string LastLines(Supervised supervised)
    {
        lock (supervised.LastLines)
        {
            return supervised.LastLines.Count == 0 ? "    (no output)" : string.Join(Environment.NewLine, supervised.LastLines.Select(l => "    " + l));
        }
    }

    /// <summary>A minute after the start, every 30 s: which processes are not running and healthy yet, and why.</summary>
    private async Task ReportWaitingAsync(CancellationToken ct)
    {
        try
        {
            await Task.Delay(StableAfter, ct);
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(30));
            do
            {
                var waiting = new List<string>();
                foreach (var resource in model.Resources.Where(IsProcess))
                {
                    if (!notifications.TryGetCurrentState(resource.Name, out var current)) continue;
                    var snapshot = current.Snapshot;
                    var state = snapshot.State?.Text ?? "unknown";
                    if (snapshot.IsHidden || state == KnownResourceStates.NotStarted) continue;
                    if (state == KnownResourceStates.Running && snapshot.HealthStatus is null or Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy) continue;
                    var health = snapshot.HealthReports.Where(r => r.Status != Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy)
                        .Select(r => $"{r.Name}: {r.Description ?? r.ExceptionText ?? r.Status?.ToString()}");
                    waiting.Add($"{resource.Name} is {state}{(snapshot.HealthStatus is { } h ? $", {h}" : "")}{string.Concat(health.Select(h => "; " + h))}");
                }
                if (waiting.Count > 0) LogWaiting(logger, string.Join(Environment.NewLine + "  ", waiting));
            }
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Resource} {State} (exit code {ExitCode}); restarting it in {Backoff} s (restart {Restarts}). Its last lines:\n{Lines}")]
    private static partial void LogRestarting(ILogger logger, string resource, string state, int? exitCode, string lines, double backoff, int restarts);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Resource} {State} (exit code {ExitCode}) and is not restarted (Supervision:Restart=false). Its last lines:\n{Lines}")]
    private static partial void LogEnded(ILogger logger, string resource, string state, int? exitCode, string lines);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Resource} failed {Restarts} times in a row. If its last lines say its data is damaged or unreadable, stop the platform and reset that data (this deletes it): rm -rf '{Folder}'")]
    private static partial void LogDataFolderHint(ILogger logger, string resource, int restarts, string folder);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Resource} could not be started again: {Reason}")]
    private static partial void LogRestartFailed(ILogger logger, string resource, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Still not running and healthy:\n  {Waiting}")]
    private static partial void LogWaiting(ILogger logger, string waiting);
}

public static class ProcessSupervisorExtensions
{
    /// <summary>Restarts crashed processes and reports what a start waits for (run mode only).</summary>
    public static IDistributedApplicationBuilder AddProcessSupervisor(this IDistributedApplicationBuilder builder)
    {
        if (builder.ExecutionContext.IsRunMode) builder.Services.AddHostedService<ProcessSupervisor>();
        return builder;
    }
}
