using Personalization.ProfileQuery.Apis;
using Personalization.ProfileQuery.Decisions;
using Personalization.ProfileQuery.Live;
using Personalization.Streaming;

namespace Personalization.ProfileQuery.Extensions;

public static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddDaprSidecarHealthCheck();
        builder.AddEventStreaming(ProfileQueryJsonContext.Default);
        builder.Services.AddSingleton<ProfileQueryTelemetry>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ProfileReader>();
        builder.Services.AddSingleton<PlacementStore>();
        builder.Services.AddSingleton<ProfileStreams>();
        builder.Services.AddSingleton<ProfileChangeHandler>();
        // One instance: it remembers when the service started.
        builder.Services.AddSingleton<HeartbeatHealthCheck>();
        builder.Services.AddHealthChecks().AddCheck<HeartbeatHealthCheck>(HeartbeatHealthCheck.Name);
        builder.Services.AddOpenApi();
    }
}
