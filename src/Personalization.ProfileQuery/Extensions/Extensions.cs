namespace Personalization.ProfileQuery.Extensions;

public static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddDaprSidecarHealthCheck();
        builder.Services.AddDaprClient(dapr => dapr.UseJsonSerializationOptions(ProfileQueryJsonContext.DaprOptions));
        builder.Services.AddSingleton<ProfileQueryTelemetry>();
        builder.Services.AddSingleton(TimeProvider.System);
        // One instance: it remembers when the service started.
        builder.Services.AddSingleton<HeartbeatHealthCheck>();
        builder.Services.AddHealthChecks().AddCheck<HeartbeatHealthCheck>(HeartbeatHealthCheck.Name);
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ProfileQueryJsonContext.Default));
        builder.Services.AddOpenApi();
    }
}
