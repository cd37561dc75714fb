using System.Net;
using System.Net.Sockets;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Personalization.AppHost.Infrastructure;

namespace Personalization.AppHost;

internal static class ServiceExtensions
{
    /// <summary>A platform service: one HTTP endpoint, probed on /health before anything depends on it.</summary>
    public static IResourceBuilder<ProjectResource> AddService<TProject>(this IDistributedApplicationBuilder builder, string name, int? publicPort = null)
        where TProject : IProjectMetadata, new()
    {
        // A fixed port, not proxied by the orchestrator: the service's Dapr sidecar and the gateway call it directly
        // (a proxy on every call costs a copy of every byte in one more process).
        var port = publicPort ?? Ports.FreeLoopbackPort();
        return builder.AddProject<TProject>(name, launchProfileName: null)
            .WithHttpEndpoint(port: port, targetPort: port, name: "http", isProxied: false)
            .WithHttpHealthCheck("/health")
            .WithTelemetrySettings();
    }

    /// <summary>
    /// The telemetry settings of the AppHost's <c>Telemetry</c> section, passed to every service and sidecar:
    /// <list type="bullet">
    /// <item><c>Telemetry:MetricExportIntervalMs</c>: how often a process sends its metrics to the dashboard, default
    /// 5,000 ms (Aspire's own default is 1 s). At 1 s a dozen processes keep the dashboard at about a seventh of a core
    /// while nothing happens; 5 s still draws every chart.</item>
    /// <item><c>Telemetry:TracesPerSecond</c>, when set: new traces sampled per second and process (the services'
    /// default is 10).</item>
    /// </list>
    /// </summary>
    public static IResourceBuilder<T> WithTelemetrySettings<T>(this IResourceBuilder<T> resource) where T : IResourceWithEnvironment
    {
        var configuration = resource.ApplicationBuilder.Configuration;
        var interval = configuration.GetValue("Telemetry:MetricExportIntervalMs", 5000);
        if (interval is < 1000 or > 60000)
        {
            throw new InfrastructureUnavailableException($"Telemetry:MetricExportIntervalMs is {interval}; use 1000 to 60000.");
        }
        var tracesPerSecond = configuration["Telemetry:TracesPerSecond"];
        // Runs after Aspire's OTLP settings (callbacks run in the order added), so these values are the ones passed on.
        return resource.WithEnvironment(context =>
        {
            context.EnvironmentVariables["OTEL_METRIC_EXPORT_INTERVAL"] = interval.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!string.IsNullOrWhiteSpace(tracesPerSecond)) context.EnvironmentVariables["Telemetry__TracesPerSecond"] = tracesPerSecond;
        });
    }

    /// <summary>
    /// A service with <paramref name="replicas"/> instances: the first named <paramref name="name"/>, the others
    /// <c>{name}-2</c>, <c>{name}-3</c>, …, each configured alike and given the app id <paramref name="name"/>.
    /// Returns the first.
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddReplicatedService<TProject>(this IDistributedApplicationBuilder builder, string name,
        int replicas, Func<IResourceBuilder<ProjectResource>, string, IResourceBuilder<ProjectResource>> configure)
        where TProject : IProjectMetadata, new()
    {
        var first = configure(builder.AddService<TProject>(name).WithAnnotation(new Publishing.ScalesOutAnnotation()), name);
        for (var i = 2; i <= replicas; i++)
        {
            configure(builder.AddService<TProject>($"{name}-{i}"), name);
        }
        return first;
    }

    /// <summary><c>Services:Replicas</c>: instances of each consuming service (1 to 8, default 1).</summary>
    public static int ConsumerReplicas(this IDistributedApplicationBuilder builder)
    {
        var replicas = builder.Configuration.GetValue("Services:Replicas", 1);
        return replicas is >= 1 and <= 8
            ? replicas
            : throw new InfrastructureUnavailableException($"Services:Replicas is {replicas}; use 1 to 8.");
    }

    /// <summary>
    /// The gateway's API keys, as parameters (<c>Parameters:write-key</c> etc.). Without configuration
    /// they are the development keys written in the README: development only, never for a deployment.
    /// </summary>
    public static ApiKeyParameters AddApiKeys(this IDistributedApplicationBuilder builder) => new(
        builder.AddParameter("write-key", "dev-write-key", secret: true),
        builder.AddParameter("read-key", "dev-read-key", secret: true),
        builder.AddParameter("admin-key", "dev-admin-key", secret: true));

    public static IResourceBuilder<ProjectResource> WithApiKeys(this IResourceBuilder<ProjectResource> gateway, ApiKeyParameters keys) => gateway
        .WithEnvironment("ApiKeys__Write__0__Key", keys.Write)
        .WithEnvironment("ApiKeys__Write__0__Source", "default")
        .WithEnvironment("ApiKeys__Read__0", keys.Read)
        .WithEnvironment("ApiKeys__Admin__0", keys.Admin);

    /// <summary>
    /// Passes the AppHost's configuration section <paramref name="section"/> (from its settings or command line, for
    /// example <c>Aggregation:EvaluationInterval=00:10:00</c>) on to the service, which reads the same keys.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithSection(this IResourceBuilder<ProjectResource> service,
        IDistributedApplicationBuilder builder, string section)
    {
        foreach (var (key, value) in builder.Configuration.GetSection(section).AsEnumerable())
        {
            if (value is not null) service.WithEnvironment(key.Replace(":", "__", StringComparison.Ordinal), value);
        }
        return service;
    }

    /// <summary>Gives the service the connection information of each server and starts it only once they are healthy.</summary>
    public static IResourceBuilder<ProjectResource> WithInfrastructure(this IResourceBuilder<ProjectResource> service,
        Infrastructure.Infrastructure infra, params IResourceBuilder<IResourceWithConnectionString>[] servers)
    {
        foreach (var server in servers)
        {
            service.WithReference(server);
            // A local database has no process of its own: its server's health check creates and probes it.
            var waitTarget = server == infra.Database && infra.Mode == InfrastructureMode.Local ? infra.Postgres : server;
            service.WaitFor(waitTarget);
        }
        return service;
    }

    /// <summary>
    /// A fixed public port in run mode (<c>&lt;section&gt;:Port</c>: the gateway's 8080, the storefront's 8081). A port
    /// already taken fails the start with a message naming it, instead of a half-started system.
    /// </summary>
    public static int? PublicPort(this IDistributedApplicationBuilder builder, string section, int defaultPort)
    {
        var port = builder.Configuration.GetValue($"{section}:Port", defaultPort);
        if (!builder.ExecutionContext.IsRunMode || port == 0 || builder.Configuration.GetValue<bool>("DcpPublisher:RandomizePorts"))
        {
            return port == 0 ? null : port;
        }
        try
        {
            using var probe = new TcpListener(IPAddress.Loopback, port);
            probe.Start();
        }
        catch (SocketException)
        {
            throw new InfrastructureUnavailableException(
                $"{section} port {port} is already in use. Stop what holds it (ss -ltnp 'sport = :{port}') or choose another: {section}__Port=<port>.");
        }
        return port;
    }
}

/// <summary>The API keys the gateway accepts, and the storefront's server uses.</summary>
public sealed record ApiKeyParameters(IResourceBuilder<ParameterResource> Write, IResourceBuilder<ParameterResource> Read, IResourceBuilder<ParameterResource> Admin);
