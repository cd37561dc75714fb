using System.Text.Json.Nodes;
using Personalization.Gateway.Extensions;
using Personalization.Gateway.Model;

namespace Personalization.Gateway.Apis;

/// <summary>
/// <c>GET /v1/projects/{writeKey}/settings</c>: the settings Segment's browser SDK (<c>@segment/analytics-next</c>)
/// fetches from its CDN before it sends anything, answered so the SDK runs unmodified against this gateway: its one
/// destination is this gateway's API (<c>Segment.io</c> with <c>apiHost</c> = this host + <c>/v1</c>), and its usage
/// metrics, which it would otherwise post to Segment every 30 s, are off. No credential but the write key in the path
/// (the SDK sends none); an unknown write key is a 404, as at Segment.
/// </summary>
public static class SdkSettingsApi
{
    public static IEndpointConventionBuilder MapSdkSettingsV1(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/projects/{writeKey}/settings", (string writeKey, HttpRequest request, ApiKeyRegistry keys) =>
        {
            if (keys.Find(writeKey) is not { Kind: KeyKind.Write })
            {
                return TypedResults.Problem(detail: "no source has this write key", statusCode: StatusCodes.Status404NotFound,
                    title: "Unknown write key", type: GatewayProblems.NotFound);
            }
            var settings = new JsonObject
            {
                ["integrations"] = new JsonObject
                {
                    ["Segment.io"] = new JsonObject
                    {
                        ["apiKey"] = writeKey,
                        ["apiHost"] = $"{request.Host}/v1",
                        ["protocol"] = request.Scheme,
                    },
                },
                ["metrics"] = new JsonObject { ["sampleRate"] = 0 },
            };
            return Results.Json(settings, GatewayJsonContext.Default.JsonObject);
        }).RequireCors(CorsOptions.BrowserSdkPolicy).WithTags("SDK");
}
