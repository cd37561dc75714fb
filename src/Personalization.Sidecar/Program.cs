using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Personalization.Sidecar;
using Personalization.Sidecar.Apis;
using Personalization.Sidecar.Components;
using Personalization.Sidecar.Options;
using Personalization.Sidecar.Subscriptions;

// A Dapr-API-compatible sidecar: daprd's flags in, Dapr's gRPC and HTTP APIs out, for the building blocks the
// platform uses (state, pub/sub, service invocation). See shared/docs/dapr-contract.md.

SidecarOptions options;
IReadOnlyList<ResourceDocument> resources;
IReadOnlyList<ComponentDefinition> components;
IReadOnlyList<SubscriptionDefinition> declarative;
ResiliencyConfig resiliency;
double? samplingRate;
try
{
    options = FlagParser.Parse(args);
    resources = [.. ResourceLoader.LoadDirectories(options.ResourcesPaths),
                 .. options.ConfigPath is null ? [] : ResourceLoader.LoadFile(options.ConfigPath)];
    components = ComponentDefinition.Resolve(resources, options.AppId);
    declarative = resources.Where(d => d.Kind == "Subscription" && d.AppliesTo(options.AppId)).Select(SubscriptionDefinition.FromDocument).ToList();
    resiliency = ResiliencyConfig.FromDocuments(resources, options.AppId, TimeProvider.System);
    samplingRate = SidecarTracing.SamplingRate(resources);
}
catch (Exception e) when (e is FlagException or ResourceException)
{
    Console.Error.WriteLine($"sidecar: {e.Message}");
    return 1;
}

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
builder.AddServiceDefaults();
if (samplingRate is { } rate)
{
    // Replaces the platform's default sampler (the last one set wins): daprd's parent-based sampling at the configured rate.
    builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.SetSampler(
        rate <= 0 ? new AlwaysOffSampler() : new ParentBasedSampler(new SidecarTracing.RootSampler(rate))));
}
builder.Logging.SetMinimumLevel(options.LogLevel switch
{
    "debug" => LogLevel.Debug, "warn" => LogLevel.Warning, "error" => LogLevel.Error, "fatal" => LogLevel.Critical, _ => LogLevel.Information,
});
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));

// Loopback only, as a sidecar: gRPC on an HTTP/2-only (h2c) port, the HTTP API on an HTTP/1.1 port.
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Limits.MaxRequestBodySize = DaprCore.MaxBodyBytes;
    kestrel.ListenLocalhost(options.DaprGrpcPort, listen => listen.Protocols = HttpProtocols.Http2);
    kestrel.ListenLocalhost(options.DaprHttpPort, listen => listen.Protocols = HttpProtocols.Http1);
    if (options.EnableMetrics) kestrel.ListenLocalhost(options.MetricsPort, listen => listen.Protocols = HttpProtocols.Http1);
});

builder.Services.AddSingleton(options);
builder.Services.AddSingleton(resiliency);
builder.Services.AddSingleton(new SidecarTracing(samplingRate));
builder.Services.AddSingleton(declarative);
builder.Services.AddSingleton<ComponentRegistry>();
builder.Services.AddSingleton<Readiness>();
builder.Services.AddSingleton<AppChannel>();
builder.Services.AddSingleton<DaprCore>();
builder.Services.AddSingleton(new ApiToken(Environment.GetEnvironmentVariable("DAPR_API_TOKEN") is { Length: > 0 } token ? token : null));
builder.Services.AddSingleton<SubscriptionHost>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<SubscriptionHost>());

builder.Services.AddGrpc(grpc =>
{
    grpc.Interceptors.Add<DaprGrpcInterceptor>();
    grpc.MaxReceiveMessageSize = DaprCore.MaxBodyBytes;
});
builder.Services.AddSingleton<DaprGrpcService>();
// gRPC server reflection, as daprd serves it. The Dapr service is bound by hand (DaprGrpcMethodProvider), so reflection
// cannot discover it: both reflection services get its descriptor from Dapr.Protos. Both versions matter: Dapr.Client's
// feature probe asks grpc.reflection.v1 for the methods of dapr.proto.runtime.v1.Dapr and, finding none, refuses to call
// BulkPublishEvent at all (DaprFeatureNotAvailableException); grpcurl and older tools ask v1alpha. Registered before
// AddGrpcReflection, whose own registrations would otherwise win without the Dapr service.
Google.Protobuf.Reflection.ServiceDescriptor[] reflected =
[
    global::Dapr.Client.Autogen.Grpc.v1.Dapr.Descriptor,
    Grpc.Reflection.V1.ServerReflection.Descriptor,
    Grpc.Reflection.V1Alpha.ServerReflection.Descriptor,
];
builder.Services.AddSingleton(new Grpc.Reflection.ReflectionV1ServiceImpl(reflected));
builder.Services.AddSingleton(new Grpc.Reflection.ReflectionServiceImpl(reflected));
builder.Services.AddGrpcReflection();
builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<Grpc.AspNetCore.Server.Model.IServiceMethodProvider<DaprGrpcService>, DaprGrpcMethodProvider>());

var app = builder.Build();
app.MapGrpcService<DaprGrpcService>().RequireHost($"*:{options.DaprGrpcPort}");
app.MapGrpcReflectionService().RequireHost($"*:{options.DaprGrpcPort}");
app.MapDaprHttpApi(options.DaprHttpPort);
// Prometheus text on --metrics-port only, as daprd serves its metrics (beside the OTLP export to the dashboard).
app.MapDefaultEndpoints(metrics => metrics.RequireHost($"*:{options.MetricsPort}"));

var logger = app.Services.GetRequiredService<ILogger<Program>>();
foreach (var flag in FlagParser.IgnoredFlagsIn(args)) logger.LogInformation("Flag --{Flag} is accepted and has no effect in this sidecar", flag);
try
{
    await app.Services.GetRequiredService<ComponentRegistry>().InitializeAsync(components, options.AppId, CancellationToken.None);
}
catch (ResourceException e)
{
    logger.LogCritical("Cannot start: {Problem}", e.Message);
    Console.Error.WriteLine($"sidecar: {e.Message}");
    await app.DisposeAsync();
    return 1;
}
app.Services.GetRequiredService<Readiness>().Outbound = true;
logger.LogInformation("Sidecar for app {AppId}: gRPC on {GrpcPort}, HTTP on {HttpPort}, app at {App}",
    options.AppId, options.DaprGrpcPort, options.DaprHttpPort, options.AppBaseAddress?.ToString() ?? "(no app port)");

try
{
    await app.RunAsync();
}
catch (IOException e)
{
    // Typically a port already in use: say so plainly instead of crashing.
    Console.Error.WriteLine($"sidecar: cannot listen: {e.Message}");
    return 1;
}
return Environment.ExitCode;
