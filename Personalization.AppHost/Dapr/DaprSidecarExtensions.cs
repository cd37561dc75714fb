using System.Globalization;
using System.Reflection;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Personalization.AppHost.Infrastructure;

namespace Personalization.AppHost.Dapr;

/// <summary>A Dapr sidecar beside one app: real daprd or the project's own sidecar, started with the same flags.</summary>
public sealed class DaprSidecarResource(string name, string command, string workingDirectory, string appId, int appPort)
    : ExecutableResource(name, command, workingDirectory)
{
    public string AppId => appId;
    public int AppPort => appPort;
}

/// <summary>
/// <c>WithDaprSidecar()</c>: Aspire's Dapr hosting packages are not available here, so this is the
/// platform's own. Per app it starts <c>daprd</c> when found (<c>Dapr:DaprdPath</c>, <c>~/.dapr/bin/daprd</c>,
/// PATH) and otherwise src/Personalization.Sidecar; <c>Dapr:Runtime</c> = auto | daprd | local forces one.
/// The app gets <c>DAPR_HTTP_ENDPOINT</c>, <c>DAPR_GRPC_ENDPOINT</c> and <c>DAPR_API_TOKEN</c>; the sidecar gets
/// the components in components/ and, through the env secret store, the servers' connection details.
/// </summary>
public static class DaprSidecarExtensions
{
    /// <param name="appId">The Dapr app id; the resource name unless this is a further replica of an app.</param>
    public static IResourceBuilder<ProjectResource> WithDaprSidecar(this IResourceBuilder<ProjectResource> app,
        Infrastructure.Infrastructure infra, IResourceBuilder<ParameterResource> apiToken, string? appId = null)
    {
        var builder = app.ApplicationBuilder;
        var resourceName = app.Resource.Name;
        appId ??= resourceName;
        var appPort = app.Resource.Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "http").TargetPort
            ?? throw new InvalidOperationException($"{resourceName} needs a fixed target port for its sidecar");
        var (command, prefix) = ResolveRuntime(builder);
        var components = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", "components"));

        // Ports between an app and its sidecar skip the orchestrator's proxy: they are on every call's path.
        var httpPort = Ports.FreeLoopbackPort();
        var grpcPort = Ports.FreeLoopbackPort();
        string[] arguments =
        [
            .. prefix,
            "--app-id", appId,
            "--app-port", Invariant(appPort),
            "--app-protocol", "http",
            "--app-channel-address", "127.0.0.1",
            "--dapr-http-port", Invariant(httpPort),
            "--dapr-grpc-port", Invariant(grpcPort),
            "--dapr-internal-grpc-port", Invariant(Ports.FreeLoopbackPort()),
            "--metrics-port", Invariant(Ports.FreeLoopbackPort()),
            "--resources-path", components,
            "--config", Path.Combine(components, "config.yaml"),
            "--log-level", "info",
        ];

        var sidecar = builder.AddResource(new DaprSidecarResource($"{resourceName}-dapr", command, components, appId, appPort))
            .WithArgs(arguments)
            .WithHttpEndpoint(name: "http", port: httpPort, isProxied: false)
            .WithEndpoint(name: "grpc", port: grpcPort, scheme: "http", isProxied: false)
            .WithHttpHealthCheck("/v1.0/healthz/outbound", statusCode: 204, endpointName: "http")   // daprd answers 204
            .WithEnvironment("DAPR_API_TOKEN", apiToken)
            .WithEnvironment("OTEL_SERVICE_NAME", $"{resourceName}-dapr")
            .WithOtlpExporter()
            .WithTelemetrySettings()
            .WithEnvironment(context =>
            {
                foreach (var (name, value) in infra.DaprSecrets)
                {
                    context.EnvironmentVariables[name] = value;
                }
                // Service invocation: where every other app listens (read by the local sidecar).
                foreach (var other in builder.Resources.OfType<DaprSidecarResource>())
                {
                    var key = "DAPR_APP_ADDRESS__" + other.AppId.ToUpperInvariant().Replace('-', '_');
                    context.EnvironmentVariables.TryAdd(key, $"http://127.0.0.1:{Invariant(other.AppPort)}"); // an app's first replica
                }
            })
            .WithParentRelationship(app)
            .WaitFor(infra.Redis).WaitFor(infra.Postgres).WaitFor(infra.RabbitMq);

        return app
            .WithEnvironment("DAPR_HTTP_ENDPOINT", $"http://127.0.0.1:{Invariant(httpPort)}")
            .WithEnvironment("DAPR_GRPC_ENDPOINT", $"http://127.0.0.1:{Invariant(grpcPort)}")
            .WithEnvironment("DAPR_API_TOKEN", apiToken)
            .WaitFor(sidecar);
    }

    private static (string Command, string[] Prefix) ResolveRuntime(IDistributedApplicationBuilder builder)
    {
        var runtime = (builder.Configuration["Dapr:Runtime"] ?? "auto").Trim().ToLowerInvariant();
        var daprd = FindDaprd(builder.Configuration["Dapr:DaprdPath"]);
        switch (runtime)
        {
            case "daprd" when daprd is null:
                throw new InfrastructureUnavailableException(
                    "Dapr:Runtime is 'daprd' but no daprd was found (Dapr:DaprdPath, ~/.dapr/bin/daprd, PATH). " +
                    "Install it with 'dapr init --slim', or use Dapr:Runtime=local.");
            case "daprd":
            case "auto" when daprd is not null:
                return (daprd!, []);
            case "local" or "auto":
                return ("dotnet", [LocalSidecarAssembly(builder)]);
            default:
                throw new InfrastructureUnavailableException($"Dapr:Runtime is '{runtime}'; use 'auto', 'daprd' or 'local'.");
        }
    }

    private static string? FindDaprd(string? configured)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return File.Exists(configured) ? configured
                : throw new InfrastructureUnavailableException($"Dapr:DaprdPath '{configured}' does not exist.");
        }
        var home = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dapr", "bin", "daprd");
        return File.Exists(home) ? home : Executables.FindOnPath("daprd");
    }

    /// <summary>The local sidecar, built with the same configuration as this AppHost (it is a project reference).</summary>
    private static string LocalSidecarAssembly(IDistributedApplicationBuilder builder)
    {
        var configuration = typeof(DaprSidecarExtensions).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "Configuration")?.Value ?? "Debug";
        var projectPath = new Projects.Personalization_Sidecar().ProjectPath;
        var project = projectPath.EndsWith(".csproj", StringComparison.Ordinal) ? Path.GetDirectoryName(projectPath)! : projectPath;
        var assembly = Path.Combine(project, "bin", configuration, "net10.0", "Personalization.Sidecar.dll");
        if (builder.ExecutionContext.IsRunMode && !File.Exists(assembly))
        {
            throw new InfrastructureUnavailableException($"The local Dapr sidecar is not built ({assembly}). Run: dotnet build Personalization.sln -c {configuration}");
        }
        return assembly;
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
