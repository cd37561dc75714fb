using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Personalization.Enrichment.IntegrationEvents;
using Personalization.Enrichment.Model;
using Personalization.Enrichment.ThirdParty;
using Personalization.Streaming;
using Polly;

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
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<EnrichmentOptions>>().Value;
            var database = string.IsNullOrWhiteSpace(options.GeoDatabase) ? null : GeoDatabase.Open(options.GeoDatabase);
            return new GeoResolver(options.GeoNetworks, database);
        });
        builder.Services.AddSingleton(sp => new BotDetector(sp.GetRequiredService<IOptions<EnrichmentOptions>>().Value.Bots));
        builder.Services.AddSingleton<EnrichmentTelemetry>();
        builder.Services.AddSingleton<EventEnricher>();
        builder.Services.AddOpenApi();
        builder.AddProviderClient();
    }

    /// <summary>
    /// The third-party provider's client: instead of the standard handler every client gets (30 s, three retries), a
    /// pipeline sized for a call the stream waits for: a whole-call timeout (<c>Enrichment:Provider:Timeout</c>),
    /// retries of transient failures, a circuit breaker that stops calling a provider that keeps failing, and a timeout
    /// per attempt.
    /// </summary>
    public static void AddProviderClient(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ProviderClient>();
#pragma warning disable EXTEXP0001 // Experimental, and the one way to take the standard handler ServiceDefaults adds to every client off this one.
        builder.Services.AddHttpClient(ProviderClient.HttpClientName)
            .RemoveAllResilienceHandlers()
#pragma warning restore EXTEXP0001
            .AddResilienceHandler(ProviderClient.HttpClientName, (pipeline, context) =>
            {
                var options = context.ServiceProvider.GetRequiredService<IOptions<EnrichmentOptions>>().Value.Provider;
                pipeline.AddTimeout(options.Timeout);
                if (options.Retries > 0)
                {
                    pipeline.AddRetry(new HttpRetryStrategyOptions
                    {
                        MaxRetryAttempts = options.Retries,
                        Delay = TimeSpan.FromMilliseconds(50),
                        BackoffType = DelayBackoffType.Exponential,
                        UseJitter = true,
                    });
                }
                pipeline.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                {
                    FailureRatio = 0.5,
                    SamplingDuration = TimeSpan.FromSeconds(30),
                    MinimumThroughput = options.MinimumThroughput,
                    BreakDuration = options.BreakDuration,
                });
                pipeline.AddTimeout(options.AttemptTimeout);
            });
    }
}
