using Personalization.Gateway.Apis;
using Personalization.Gateway.Extensions;
using Personalization.Gateway.Model;
using Scalar.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseProblemResponses();
app.UseCorrelationId();
app.UseRouting();
app.UseCors();
app.UseAuthentication();
app.UseAuthorization();
app.UseRateLimiter();
app.UseRouteBodySizeLimits();

// The gateway's port is the public one: its own metrics are for a scraper holding the admin key.
app.MapDefaultEndpoints(metrics => metrics.RequireAuthorization(Policies.AdminKey));
app.MapTokenApiV1();
app.MapSdkSettingsV1();
// The public API's documents (the gateway's own, and each service's through its route) and a browsable reference.
app.MapOpenApi("/openapi/{documentName}.json");
app.MapScalarApiReference("/docs", options => options
    .WithTitle("Personalization platform API")
    .AddDocument("collector", "Collector: events (Segment HTTP Tracking API)", "/openapi/collector.json", isDefault: true)
    .AddDocument("consent", "Consent, privacy and dead letters", "/openapi/consent.json")
    .AddDocument("aggregation", "Segments", "/openapi/aggregation.json")
    .AddDocument("profile-query", "Profiles, streams and decisions", "/openapi/profile-query.json")
    .AddDocument("gateway", "Gateway: user tokens and SDK settings", "/openapi/gateway.json"));
app.MapReverseProxy();
app.MapFallback((HttpContext context) => TypedResults.Problem(
    statusCode: StatusCodes.Status404NotFound,
    type: GatewayProblems.NotFound,
    title: "No such route",
    detail: $"{context.Request.Method} {context.Request.Path} is not a route of this API.",
    instance: context.Request.Path));
app.Run();

public partial class Program;
