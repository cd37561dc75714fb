using Dapr;
using Microsoft.Extensions.Options;
using Personalization.Consent.Data;
using Personalization.Consent.Model;

namespace Personalization.Consent.Extensions;

public static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddDaprSidecarHealthCheck();
        builder.Services.AddDaprClient(dapr => dapr.UseJsonSerializationOptions(ConsentJsonContext.DaprOptions));
        builder.AddNpgsqlDataSource("personalization");

        builder.Services.AddOptions<ConsentOptions>()
            .BindConfiguration(ConsentOptions.SectionName)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ConsentOptions>, ConsentOptionsValidator>();
        builder.Services.AddSingleton(sp => new ConsentPolicy(sp.GetRequiredService<IOptions<ConsentOptions>>().Value));

        builder.Services.AddSingleton<ConsentLedger>();
        builder.Services.AddHostedService<ConsentLedgerSchema>();
        builder.Services.AddSingleton<ConsentTelemetry>();
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ConsentJsonContext.Default));
        builder.Services.AddOpenApi();
    }

    /// <summary>CloudEvents unwrapped for the handlers; the CloudEvent id stays readable as header <c>Cloudevent.id</c>.</summary>
    public static CloudEventsMiddlewareOptions CloudEvents { get; } = new()
    {
        ForwardCloudEventPropertiesAsHeaders = true,
        IncludedCloudEventPropertiesAsHeaders = ["id"],
    };
}
