using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using Personalization.Gateway.Model;

namespace Personalization.Gateway.Extensions;

internal static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        // The gateway uses no building block itself; it checks its sidecar only when it has one.
        if (!string.IsNullOrEmpty(builder.Configuration["DAPR_HTTP_ENDPOINT"]))
        {
            builder.AddDaprSidecarHealthCheck();
        }

        builder.AddApiKeys();
        builder.Services.AddOpenApi("gateway");
        builder.AddBrowserCors();
        builder.AddPerKeyRateLimiting();

        builder.Services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddServiceDiscoveryDestinationResolver()
            .AddTransforms<ForwardingTransforms>();
        return builder;
    }

    private static void AddApiKeys(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ApiKeyOptions>()
            .Bind(builder.Configuration.GetSection(ApiKeyOptions.Section))
            .Validate(options => !ApiKeyRegistry.Problems(options).Any(), "ApiKeys are invalid: every key non-empty, each key one kind, every write key with a Source")
            .ValidateOnStart();
        builder.Services.AddSingleton(services => new ApiKeyRegistry(services.GetRequiredService<IOptions<ApiKeyOptions>>().Value));
        builder.Services.AddOptions<UserTokenOptions>()
            .Bind(builder.Configuration.GetSection(UserTokenOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(services => new UserTokens(services.GetRequiredService<IOptions<UserTokenOptions>>().Value, TimeProvider.System));
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, Apis.GatewayJsonContext.Default));

        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        var authorization = builder.Services.AddAuthorizationBuilder();
        foreach (var (name, kinds) in Policies.Admitted)
        {
            authorization.AddPolicy(name, policy => policy
                .AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName)
                .RequireClaim(ApiKeyAuthenticationHandler.KindClaim, kinds.Select(k => k.ToString())));
        }
    }

    private static void AddBrowserCors(this IHostApplicationBuilder builder)
    {
        var origins = builder.Configuration.GetSection(CorsOptions.Section).Get<CorsOptions>()?.AllowedOrigins ?? ["*"];
        builder.Services.AddCors(cors => cors.AddPolicy(CorsOptions.BrowserSdkPolicy, policy =>
        {
            if (origins.Count == 0 || origins.Contains("*"))
            {
                policy.AllowAnyOrigin();
            }
            else
            {
                policy.WithOrigins([.. origins]);
            }
            policy.WithMethods("POST", "PUT", "GET")
                .WithHeaders("Content-Type", "Authorization", PresentedCredentials.WriteKeyHeader, CorrelationId.Header, "Content-Encoding")
                .WithExposedHeaders(CorrelationId.Header, "Retry-After")
                .SetPreflightMaxAge(TimeSpan.FromHours(1));
        }));
    }

    /// <summary>One token bucket per API key; requests without a valid key are refused earlier (401) and not limited here.</summary>
    private static void AddPerKeyRateLimiting(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RateLimitOptions>()
            .Bind(builder.Configuration.GetSection(RateLimitOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddRateLimiter(_ => { });
        builder.Services.AddOptions<RateLimiterOptions>().Configure<IOptions<RateLimitOptions>>((limiter, configured) =>
        {
            var bucket = configured.Value;
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                var key = context.User.FindFirst(ApiKeyAuthenticationHandler.KeyIdClaim)?.Value;
                return key is null
                    ? RateLimitPartition.GetNoLimiter("anonymous")
                    : RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = bucket.TokenLimit,
                        TokensPerPeriod = bucket.TokensPerPeriod,
                        ReplenishmentPeriod = bucket.ReplenishmentPeriod,
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    });
            });
            limiter.OnRejected = (rejected, _) =>
            {
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait)
                    ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds))
                    : Math.Max(1, (int)Math.Ceiling(bucket.ReplenishmentPeriod.TotalSeconds));
                rejected.HttpContext.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
                return new ValueTask(GatewayProblems.WriteAsync(rejected.HttpContext, StatusCodes.Status429TooManyRequests,
                    GatewayProblems.RateLimited, "Too many requests",
                    $"This API key may send {bucket.TokensPerPeriod} requests per {bucket.ReplenishmentPeriod.TotalSeconds:0.###} s (bursts up to {bucket.TokenLimit}); retry after {retryAfter} s."));
            };
        });
    }
}
