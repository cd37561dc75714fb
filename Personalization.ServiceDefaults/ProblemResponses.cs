using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Every error answer of every service is problem+json with a stable <c>type</c>, naming what was wrong. The APIs
/// write their own problems for what they check; this covers what the framework answers before or without them: no
/// route (404), a method the route does not take (405), a body that is not JSON where JSON is required (415), a
/// parameter or body the framework could not bind (400), and an unhandled exception (500, without its details).
/// </summary>
public static class ProblemResponses
{
    public const string TypePrefix = "urn:personalization:problem:";
    public const string InvalidRequest = TypePrefix + "invalid-request";
    public const string NotFound = TypePrefix + "not-found";
    public const string MethodNotAllowed = TypePrefix + "method-not-allowed";
    public const string UnsupportedMediaType = TypePrefix + "unsupported-media-type";
    public const string Internal = TypePrefix + "internal";

    public static IServiceCollection AddProblemResponses(this IServiceCollection services) =>
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            var problem = context.ProblemDetails;
            // A problem an API wrote itself has its own type: leave it alone.
            if (problem.Type?.StartsWith(TypePrefix, StringComparison.Ordinal) == true) return;
            var request = context.HttpContext.Request;
            (problem.Type, problem.Detail, var field) = problem.Status switch
            {
                StatusCodes.Status400BadRequest => (InvalidRequest,
                    problem.Detail ?? "A route parameter, the query or the body could not be read as this route expects.", "body"),
                StatusCodes.Status404NotFound => (NotFound,
                    problem.Detail ?? $"{request.Method} {request.Path} is not a route of this API.", "path"),
                StatusCodes.Status405MethodNotAllowed => (MethodNotAllowed,
                    $"{request.Method} is not allowed on {request.Path}.", "method"),
                StatusCodes.Status415UnsupportedMediaType => (UnsupportedMediaType,
                    $"Content-Type must be application/json; it is '{request.ContentType ?? "(none)"}'.", "Content-Type"),
                >= 500 => (Internal, "The service failed to answer; the request may be retried.", null),
                _ => (problem.Type, problem.Detail, null),
            };
            if (field is not null) problem.Extensions.TryAdd("field", field);
            problem.Instance ??= request.Path;
        });

    /// <summary>First in the pipeline: turns exceptions and empty error answers into problem+json.</summary>
    public static WebApplication UseProblemResponses(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }
}
