using Microsoft.Extensions.Options;
using Personalization.Enrichment.IntegrationEvents;
using Personalization.Enrichment.Model;
using Personalization.Streaming;

namespace Personalization.Enrichment.Extensions;

public static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddDaprSidecarHealthCheck();
        builder.AddEventStreaming(EnrichmentJsonContext.Default);

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
        builder.Services.AddSingleton<EventEnricher>();
        builder.Services.AddOpenApi();
    }

}
