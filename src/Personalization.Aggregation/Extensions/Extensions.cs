using Dapr;
using Microsoft.Extensions.Options;
using Personalization.Aggregation.Model;

namespace Personalization.Aggregation.Extensions;

public static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddDaprSidecarHealthCheck();
        builder.Services.AddDaprClient(dapr => dapr.UseJsonSerializationOptions(AggregationJsonContext.DaprOptions));
        // PostgreSQL: the profiles of record and identity links land here in a later issue; the data source is wired now.
        builder.AddNpgsqlDataSource("personalization");

        builder.Services.AddOptions<AggregationOptions>()
            .BindConfiguration(AggregationOptions.SectionName)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AggregationOptions>, AggregationOptionsValidator>();
        builder.Services.AddSingleton<AggregationTelemetry>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, AggregationJsonContext.Default));
        builder.Services.AddOpenApi();
    }

    /// <summary>CloudEvents unwrapped for the handlers; the CloudEvent id stays readable as header <c>Cloudevent.id</c>.</summary>
    public static CloudEventsMiddlewareOptions CloudEvents { get; } = new()
    {
        ForwardCloudEventPropertiesAsHeaders = true,
        IncludedCloudEventPropertiesAsHeaders = ["id"],
    };
}
