using Microsoft.Extensions.Options;
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
        // PostgreSQL: the profiles of record and identity links land here in a later issue; the data source is wired now.
        builder.AddNpgsqlDataSource("personalization");

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
