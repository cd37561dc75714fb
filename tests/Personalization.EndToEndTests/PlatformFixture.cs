using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Personalization.EndToEndTests;

/// <summary>
/// Starts the whole AppHost once for the test collection, in local infrastructure mode with data in a
/// fresh temporary folder, and waits until every resource reports healthy.
/// </summary>
public sealed class PlatformFixture : IAsyncLifetime
{
    public static readonly string[] Services = ["gateway", "collector", "consent", "enrichment", "aggregation", "profile-query", "storefront"];

    /// <summary>Every consuming service runs twice, as pods of one Deployment would: every test here also tests scale-out.</summary>
    public const int Replicas = 2;
    /// <summary>How often profiles due for an evaluation by time alone are evaluated in the tests (a minute by default).</summary>
    public static readonly TimeSpan EvaluationInterval = TimeSpan.FromSeconds(15);

    public static readonly string[] ConsumingServices = ["consent", "enrichment", "aggregation"];
    public static readonly string[] Servers = ["redis", "postgres", "rabbitmq"];

    /// <summary>The resources of a consuming service's replicas: <c>consent</c>, <c>consent-2</c>, ….</summary>
    public static IEnumerable<string> ReplicaNames(string service) =>
        Enumerable.Range(1, Replicas).Select(i => i == 1 ? service : $"{service}-{i}");

    public DistributedApplication App { get; private set; } = null!;

    /// <summary>The third-party enrichment provider the enrichment service calls (on loopback, in this process).</summary>
    public EnrichmentProvider Provider { get; private set; } = null!;

    /// <summary>How long the enrichment waits for <see cref="Provider"/> per delivery, retries included.</summary>
    public static readonly TimeSpan ProviderTimeout = TimeSpan.FromSeconds(1);

    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("personalization-e2e-").FullName;

    public async Task InitializeAsync()
    {
        Prerequisites.EnsureLocalServersInstalled();
        Provider = await EnrichmentProvider.StartAsync();
        App = await StartAsync(DataDirectory, scope: null, waitFor: [.. Servers, .. Services, .. ConsumingServices.Select(s => $"{s}-{Replicas}")],
            $"Services:Replicas={Replicas}", $"Aggregation:EvaluationInterval={EvaluationInterval}",
            // Imports start at 1,000 rows/s instead of 100 (the throttle's slow start), so the import tests take seconds.
            "Collector:Imports:MinRowsPerSecond=1000",
            $"Enrichment:Provider:Url={Provider.Url}", "Enrichment:Provider:Fields:0=context.ip", "Enrichment:Provider:Fields:1=userId",
            $"Enrichment:Provider:Timeout={ProviderTimeout}", "Enrichment:Provider:AttemptTimeout=00:00:00.400",
            "Enrichment:Provider:BreakDuration=00:00:05");
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Provider.DisposeAsync();
        await DeleteDataDirectoryAsync(DataDirectory);
    }

    /// <summary>
    /// Deletes a data folder the servers used. A server stopped with the app may still be finishing its last writes (a
    /// PostgreSQL that was still initializing creates files for a moment), so a folder that is not empty yet is tried
    /// again, for at most 10 s.
    /// </summary>
    public static async Task DeleteDataDirectoryAsync(string path)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
                return;
            }
            catch (IOException) when (attempt < 20)
            {
                await Task.Delay(500);
            }
        }
    }

    /// <summary>Builds and starts the AppHost; on a resource that never gets healthy, fails with its recent log lines.</summary>
    public static async Task<DistributedApplication> StartAsync(string dataDirectory, string? scope, IEnumerable<string> waitFor, params string[] settings)
    {
        List<string> arguments = ["Infrastructure:Mode=local", $"Infrastructure:DataDirectory={dataDirectory}", .. settings];
        if (scope is not null)
        {
            arguments.Add($"AppHost:Scope={scope}");
        }
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Personalization_AppHost>([.. arguments]);
        builder.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));
        var app = await builder.BuildAsync();
        // Starting waits for every resource's dependencies to be healthy: about a minute on an idle
        // 2-core machine, several when it is busy. Generous, but bounded.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        try
        {
            await app.StartAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            var states = string.Join(", ", waitFor.Select(name =>
                app.ResourceNotifications.TryGetCurrentState(name, out var e) ? $"{name}={e.Snapshot.State?.Text}/{e.Snapshot.HealthStatus}" : $"{name}=?"));
            await app.DisposeAsync();
            throw new TimeoutException($"The AppHost did not start within 6 minutes. States: {states}");
        }
        foreach (var resource in waitFor)
        {
            try
            {
                await app.ResourceNotifications.WaitForResourceHealthyAsync(resource, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                var states = string.Join(", ", waitFor.Select(name =>
                    app.ResourceNotifications.TryGetCurrentState(name, out var e) ? $"{name}={e.Snapshot.State?.Text}/{e.Snapshot.HealthStatus}" : $"{name}=?"));
                await app.DisposeAsync();
                throw new TimeoutException($"'{resource}' did not become healthy within 6 minutes. States: {states}");
            }
        }
        return app;
    }
}

[CollectionDefinition(Name)]
public sealed class PlatformCollection : ICollectionFixture<PlatformFixture>
{
    public const string Name = "platform";
}
