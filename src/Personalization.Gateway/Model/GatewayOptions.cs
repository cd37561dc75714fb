using System.ComponentModel.DataAnnotations;

namespace Personalization.Gateway.Model;

/// <summary>Per-key token bucket (<c>RateLimiting</c> section). Generous by default: it stops runaway clients, not traffic.</summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimiting";

    /// <summary>Burst size: tokens a key may spend at once.</summary>
    [Range(1, int.MaxValue)]
    public int TokenLimit { get; set; } = 2000;

    /// <summary>Tokens added each period.</summary>
    [Range(1, int.MaxValue)]
    public int TokensPerPeriod { get; set; } = 1000;

    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan ReplenishmentPeriod { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Browser origins allowed to call the collector and consent routes (<c>Cors</c> section); <c>*</c> for any.</summary>
public sealed class CorsOptions
{
    public const string Section = "Cors";
    public const string BrowserSdkPolicy = "browser-sdk";

    public List<string> AllowedOrigins { get; set; } = ["*"];
}

/// <summary>Route metadata keys the gateway reads from the YARP configuration.</summary>
public static class RouteMetadata
{
    /// <summary>Largest request body a route takes, in bytes; larger requests get 413.</summary>
    public const string MaxRequestBodySize = "MaxRequestBodySize";
}
