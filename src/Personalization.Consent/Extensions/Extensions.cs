using Microsoft.Extensions.Options;
using Personalization.Consent.Data;
using Personalization.Consent.IntegrationEvents;
using Personalization.Consent.Model;
using Personalization.Streaming;

namespace Personalization.Consent.Extensions;

public static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddDaprSidecarHealthCheck();
        builder.AddEventStreaming(ConsentJsonContext.Default);
        builder.AddNpgsqlDataSource("personalization");

        builder.Services.AddOptions<ConsentOptions>()
            .BindConfiguration(ConsentOptions.SectionName)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ConsentOptions>, ConsentOptionsValidator>();
        builder.Services.AddSingleton(sp => new ConsentPolicy(sp.GetRequiredService<IOptions<ConsentOptions>>().Value));

        builder.Services.AddSingleton<ConsentLedger>();
        builder.Services.AddHostedService<ConsentLedgerSchema>();
        builder.Services.AddSingleton<ConsentTelemetry>();
        builder.Services.AddSingleton<ConsentFilter>();
        builder.Services.AddOpenApi();
    }
}
