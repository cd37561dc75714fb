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

        builder.Services.AddOptions<PrivacyOptions>()
            .BindConfiguration(PrivacyOptions.SectionName)
            .Validate(o => o.ErasureSettle >= TimeSpan.Zero && o.ErasureSettle <= TimeSpan.FromMinutes(5), "Privacy:ErasureSettle must be 0 to 5 minutes")
            .ValidateOnStart();

        builder.Services.AddSingleton<ConsentLedger>();
        builder.Services.AddSingleton<ConsentRecorder>();
        builder.Services.AddSingleton<Erasures>();
        builder.Services.AddSingleton<DeadLetters>();
        builder.Services.AddSingleton<IDeadLetterStore>(sp => sp.GetRequiredService<DeadLetters>());
        builder.Services.AddSingleton<QuarantinedEvents>();
        builder.Services.AddSingleton<QuarantineRecorder>();
        builder.Services.AddSingleton<ErasureSweep>();
        builder.Services.AddSingleton<ErasureRunner>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ErasureRunner>());
        builder.Services.AddHostedService<ConsentLedgerSchema>();
        builder.Services.AddSingleton<ConsentTelemetry>();
        builder.Services.AddSingleton<ConsentFilter>();
        builder.Services.AddOpenApi();
    }
}
