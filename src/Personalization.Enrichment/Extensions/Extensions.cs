using Dapr;
using Microsoft.Extensions.Options;
using Personalization.Enrichment.Model;

namespace Personalization.Enrichment.Extensions;

public static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddDaprSidecarHealthCheck();
        builder.Services.AddDaprClient(dapr => dapr.UseJsonSerializationOptions(EnrichmentJsonContext.DaprOptions));

        builder.Services.AddOptions<EnrichmentOptions>()
            .BindConfiguration(EnrichmentOptions.SectionName)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<EnrichmentOptions>, EnrichmentOptionsValidator>();
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<EnrichmentOptions>>().Value;
            return new Sessionizer(options.SessionTimeout, options.RememberedMessages);
        });
        builder.Services.AddSingleton(sp => new GeoResolver(sp.GetRequiredService<IOptions<EnrichmentOptions>>().Value.GeoNetworks));
        builder.Services.AddSingleton<EnrichmentTelemetry>();
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, EnrichmentJsonContext.Default));
        builder.Services.AddOpenApi();
    }

    /// <summary>CloudEvents unwrapped for the handlers; the CloudEvent id stays readable as header <c>Cloudevent.id</c>.</summary>
    public static CloudEventsMiddlewareOptions CloudEvents { get; } = new()
    {
        ForwardCloudEventPropertiesAsHeaders = true,
        IncludedCloudEventPropertiesAsHeaders = ["id"],
    };
}
