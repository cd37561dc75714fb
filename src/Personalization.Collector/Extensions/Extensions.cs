using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using Personalization.Collector.Apis;
using Personalization.Collector.Model;
using Personalization.Streaming;

namespace Personalization.Collector.Extensions;

internal static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddDaprSidecarHealthCheck();
        builder.AddUserIdHasher();

        builder.Services.AddOptions<CollectorOptions>()
            .Bind(builder.Configuration.GetSection(CollectorOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddOptions<ImportOptions>()
            .Bind(builder.Configuration.GetSection(ImportOptions.Section))
            .ValidateDataAnnotations()
            .Validate(imports => imports.MinRowsPerSecond <= imports.MaxRowsPerSecond, "Collector:Imports:MinRowsPerSecond must not be above MaxRowsPerSecond")
            .ValidateOnStart();

        // Events are published with the same source-generated metadata the API reads requests with.
        var daprJson = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            TypeInfoResolver = JsonTypeInfoResolver.Combine(CollectorJsonContext.Default, new DefaultJsonTypeInfoResolver()),
        };
        builder.Services.AddDaprClient(dapr => dapr.UseJsonSerializationOptions(daprJson));

        builder.Services.ConfigureHttpJsonOptions(json =>
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, CollectorJsonContext.Default));
        builder.Services.AddRequestDecompression();
        builder.Services.AddRateLimiter(limiter => limiter.OnRejected = (rejected, _) =>
            new ValueTask(TrackingApi.ShedAsync(rejected.HttpContext)));
        builder.Services.AddOptions<RateLimiterOptions>().Configure<IOptions<CollectorOptions>>((limiter, collector) =>
            limiter.AddConcurrencyLimiter(TrackingApi.OverloadPolicy, concurrency =>
            {
                concurrency.PermitLimit = collector.Value.MaxConcurrentRequests;
                concurrency.QueueLimit = collector.Value.MaxQueuedRequests;
                concurrency.QueueProcessingOrder = QueueProcessingOrder.OldestFirst;
            }));

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<CollectorMetrics>();
        builder.Services.AddSingleton(services => new SegmentRequestReader(services.GetRequiredService<Microsoft.Extensions.Options.IOptions<CollectorOptions>>().Value));
        builder.Services.AddSingleton<IEventSink, DaprEventSink>();
        builder.Services.AddHostedService<HeartbeatPublisher>();
        builder.Services.AddSingleton<IngestionPipeline>();
        builder.Services.AddSingleton<TrackingServices>();
        builder.Services.AddSingleton<StreamApi.OpenStreams>();
        builder.Services.AddSingleton<ImportJobs>();
        builder.Services.AddSingleton(services => new ImportThrottle(
            services.GetRequiredService<IOptions<ImportOptions>>().Value, services.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<ImportRunner>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ImportRunner>());
        return builder;
    }
}
