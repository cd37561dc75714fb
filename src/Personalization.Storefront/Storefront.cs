using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;

namespace Personalization.Storefront;

/// <summary>
/// The <c>Storefront</c> section: the gateway's public URL (what browsers call), the write key its pages send with,
/// and the admin key its server mints user tokens and sets up the demo's segments and placement with.
/// </summary>
public sealed class StorefrontOptions
{
    public const string Section = "Storefront";

    public string GatewayUrl { get; set; } = "http://localhost:8080";
    public string WriteKey { get; set; } = "";
    public string AdminKey { get; set; } = "";
}

/// <summary>What a page needs to start: where the gateway is, the write key, the placement its banner shows.</summary>
public sealed record PageConfig(string GatewayUrl, string WriteKey, string Placement);

/// <summary>The storefront's server side: what a real site's server does for the platform, and no more.</summary>
public static class Storefront
{
    public const string Placement = "home-banner";

    public static void AddStorefront(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<StorefrontOptions>().Bind(builder.Configuration.GetSection(StorefrontOptions.Section));
        builder.Services.AddHttpClient("gateway", (services, http) =>
        {
            var options = services.GetRequiredService<IOptions<StorefrontOptions>>().Value;
            http.BaseAddress = new Uri(options.GatewayUrl);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.AdminKey);
        });
        builder.Services.AddHostedService<DemoSetup>();
    }

    /// <summary>The visitor's ids as analytics.js keeps them in this site's cookies (<c>ajs_anonymous_id</c>, <c>ajs_user_id</c>; plain or JSON-quoted).</summary>
    public static HashSet<string> VisitorIds(IRequestCookieCollection cookies)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in new[] { "ajs_anonymous_id", "ajs_user_id" })
        {
            if (cookies[name] is not { Length: > 0 } value) continue;
            var id = Uri.UnescapeDataString(value).Trim('"');
            if (id.Length > 0 && id != "null") ids.Add(id);
        }
        return ids;
    }

    public static void MapStorefront(this WebApplication app)
    {
        // Segment's browser SDK, unmodified from npm: the script and the chunks it loads lazily from "<cdn>/analytics-next/bundles/".
        var sdk = new PhysicalFileProvider(Path.Combine(app.Environment.ContentRootPath, "node_modules", "@segment", "analytics-next", "dist", "umd"));
        app.UseStaticFiles(new StaticFileOptions { FileProvider = sdk, RequestPath = "/analytics-next/bundles" });

        app.MapGet("/api/config", (IOptions<StorefrontOptions> options) =>
            new PageConfig(options.Value.GatewayUrl.TrimEnd('/'), options.Value.WriteKey, Placement));

        // The SDK fetches its settings from its CDN, here this site (the chunks must come from the same place): relayed from the gateway.
        app.MapGet("/v1/projects/{writeKey}/settings", async (string writeKey, IHttpClientFactory clients, CancellationToken ct) =>
        {
            using var response = await clients.CreateClient("gateway").GetAsync($"/v1/projects/{Uri.EscapeDataString(writeKey)}/settings", ct);
            return Results.Content(await response.Content.ReadAsStringAsync(ct), "application/json", statusCode: (int)response.StatusCode);
        });

        // A site's server mints the token its visitor's browser opens the live stream with; the admin key never leaves the
        // server. Only for the visitor's own ids: those analytics.js keeps in its first-party cookies on this site.
        app.MapPost("/api/token", async (TokenRequest request, HttpContext http, IHttpClientFactory clients, CancellationToken ct) =>
        {
            if (request.UserId is null || !VisitorIds(http.Request.Cookies).Contains(request.UserId))
            {
                return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Not this visitor",
                    detail: "a token is minted only for the visitor's own anonymous or user id (analytics.js's cookies on this site)");
            }
            using var response = await clients.CreateClient("gateway").PostAsJsonAsync("/v1/tokens", new { userId = request.UserId, ttlSeconds = 900 }, ct);
            return Results.Content(await response.Content.ReadAsStringAsync(ct), response.Content.Headers.ContentType?.ToString(), statusCode: (int)response.StatusCode);
        });
    }
}

/// <summary>The visitor a page asks a token for (its anonymous id, or its user id once signed in).</summary>
public sealed record TokenRequest(string? UserId);
