using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What every service of the platform shares: OpenTelemetry (logs, metrics, traces, exported over
/// OTLP when the AppHost or the cluster gives an endpoint), service discovery, standard HTTP
/// resilience and the two health endpoints Kubernetes probes.
/// </summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>Liveness: the process answers. Never depends on anything outside the process.</summary>
    public const string AlivePath = "/alive";

    /// <summary>Readiness: the dependencies the service needs are reachable.</summary>
    public const string HealthPath = "/health";

    /// <summary>Prometheus text of every metric the service records (as the sidecar serves its own on its metrics port).</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>The Dapr sidecar's health endpoints, probed by readiness checks: not worth a trace either.</summary>
    private const string DaprHealthPath = "/v1.0/healthz";

    /// <summary>
    /// New traces sampled per second and process unless <c>Telemetry:TracesPerSecond</c> says otherwise. One a second
    /// per process is sixty a minute to read in the dashboard; at 1,000 events/s ten a second cost a third of the
    /// pipeline's CPU (1,343 against 2,000 µs per event, same machine, same load).
    /// </summary>
    public const double DefaultTracesPerSecond = 1;

    /// <summary>Meter and activity source names the platform's own code uses; all start with this.</summary>
    public const string TelemetryPrefix = "Personalization.";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();

        builder.Services.AddProblemResponses();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });
        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        // Framework lines per request and per outgoing call (request starting/finished, endpoint executed, HTTP client
        // start/end) are Information: four or more log records per request, each exported, were a large share of a
        // request's CPU. These defaults sit below every other configuration source, so a service's appsettings or the
        // environment (Logging__LogLevel__Microsoft.AspNetCore=Information) can still lower them.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",
                ["Logging:LogLevel:Yarp"] = "Warning",
                // The standard resilience handler logs every attempt and every pipeline run of every outgoing call.
                ["Logging:LogLevel:Polly"] = "Warning",
                // A line per SQL command (health probes every few seconds, every ledger write).
                ["Logging:LogLevel:Npgsql.Command"] = "Warning",
            },
        });

        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(TelemetryPrefix + "*")
                // Kubernetes and a local Prometheus scrape /metrics; the OTLP export above feeds the dashboard.
                .AddPrometheusExporter())
            .WithTracing(tracing => tracing
                // Telemetry:TracesPerSecond new traces per second per process (default 1), the rest follow their parent.
                .SetSampler(new ParentBasedSampler(new RateLimitingSampler(
                    builder.Configuration.GetValue("Telemetry:TracesPerSecond", DefaultTracesPerSecond))))
                .AddSource(builder.Environment.ApplicationName)
                .AddSource(TelemetryPrefix + "*")
                .AddAspNetCoreInstrumentation(options =>
                    // Probes every few seconds would drown the traces worth reading.
                    options.Filter = context =>
                        !context.Request.Path.StartsWithSegments(HealthPath)
                        && !context.Request.Path.StartsWithSegments(AlivePath)
                        && !context.Request.Path.StartsWithSegments(MetricsPath)
                        && !context.Request.Path.StartsWithSegments(DaprHealthPath))
                .AddHttpClientInstrumentation(options =>
                    options.FilterHttpRequestMessage = request =>
                        request.RequestUri?.AbsolutePath.StartsWith(DaprHealthPath, StringComparison.Ordinal) != true));

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }
        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary>
    /// Maps <c>/alive</c> and <c>/health</c> in every environment: Kubernetes probes them, so they
    /// are not a development convenience. Both answer with a short JSON report. Maps <c>/metrics</c> (Prometheus
    /// text) too; <paramref name="metrics"/> can guard it (the gateway, whose port is public, asks for a key).
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app, Action<IEndpointConventionBuilder>? metrics = null)
    {
        var scraping = app.MapPrometheusScrapingEndpoint(MetricsPath);
        metrics?.Invoke(scraping);
        app.MapHealthChecks(HealthPath, new HealthCheckOptions { ResponseWriter = HealthReportWriter.WriteAsync });
        app.MapHealthChecks(AlivePath, new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains("live"),
            ResponseWriter = HealthReportWriter.WriteAsync,
        });
        return app;
    }
}
