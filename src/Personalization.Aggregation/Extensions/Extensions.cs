using Microsoft.Extensions.Options;
using Personalization.Aggregation.Data;
using Personalization.Aggregation.IntegrationEvents;
using Personalization.Aggregation.Model;
using Personalization.Streaming;

namespace Personalization.Aggregation.Extensions;

public static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddDaprSidecarHealthCheck();
        builder.AddEventStreaming(AggregationJsonContext.Default);
        // PostgreSQL: the directory of profile ids a segment backfill pages through, and the identity links.
        builder.AddNpgsqlDataSource("personalization");
        builder.Services.AddSingleton<AggregationSchema>();
        builder.Services.AddSingleton<ProfileDirectory>();
        builder.Services.AddSingleton<IdentityGraph>();
        builder.Services.AddSingleton<SegmentStore>();
        builder.Services.AddSingleton<ProfileReevaluator>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ProfileReevaluator>());

        builder.Services.AddOptions<AggregationOptions>()
            .BindConfiguration(AggregationOptions.SectionName)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AggregationOptions>, AggregationOptionsValidator>();
        builder.Services.AddSingleton<AggregationTelemetry>();
        builder.Services.AddSingleton<ProfileAggregator>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddOpenApi();
    }

}
