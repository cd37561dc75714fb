using Microsoft.AspNetCore.Http.Features;
using Personalization.Gateway.Model;
using Yarp.ReverseProxy.Model;

namespace Personalization.Gateway.Extensions;

internal static partial class GatewayMiddleware
{
    /// <summary>
    /// Every request gets an <c>X-Request-Id</c> (the client's when acceptable, else a new one); it
    /// is forwarded to the destination, echoed on the response and scoped into the logs.
    /// </summary>
    public static IApplicationBuilder UseCorrelationId(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            var id = CorrelationId.Resolve(context.Request.Headers[CorrelationId.Header].ToString());
            context.Request.Headers[CorrelationId.Header] = id;
            context.Response.OnStarting(() =>
            {
                context.Response.Headers[CorrelationId.Header] = id;
                return Task.CompletedTask;
            });
            System.Diagnostics.Activity.Current?.SetTag("request.id", id);
            var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Personalization.Gateway");
            using (logger.BeginScope(new Dictionary<string, object> { ["RequestId"] = id }))
            {
                await next(context);
            }
        });

    /// <summary>
    /// Applies a route's <c>MaxRequestBodySize</c> metadata: a declared length over it is refused at
    /// once with 413 problem+json naming the limit; a chunked body is cut off by the server at the limit.
    /// </summary>
    public static IApplicationBuilder UseRouteBodySizeLimits(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            var metadata = context.GetEndpoint()?.Metadata.GetMetadata<RouteModel>()?.Config.Metadata;
            if (metadata is not null
                && metadata.TryGetValue(RouteMetadata.MaxRequestBodySize, out var text)
                && long.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var limit))
            {
                if (context.Request.ContentLength > limit)
                {
                    await GatewayProblems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, GatewayProblems.PayloadTooLarge,
                        "The request is too large",
                        $"Requests to this route may be at most {limit} bytes ({limit / 1024} KB); this one is {context.Request.ContentLength} bytes.",
                        new Dictionary<string, object?> { ["limit"] = limit });
                    return;
                }
                if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
                {
                    sizeFeature.MaxRequestBodySize = limit;
                }
            }
            await next(context);
        });
}
