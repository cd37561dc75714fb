namespace Personalization.Gateway.Extensions;

/// <summary>
/// The gateway's own problem+json answers, each with a stable <c>type</c> (what every service answers is in
/// <see cref="Microsoft.Extensions.Hosting.ProblemResponses"/>).
/// </summary>
public static class GatewayProblems
{
    private const string TypePrefix = Microsoft.Extensions.Hosting.ProblemResponses.TypePrefix;

    public const string Unauthorized = TypePrefix + "unauthorized";
    public const string Forbidden = TypePrefix + "forbidden";
    public const string PayloadTooLarge = TypePrefix + "payload-too-large";
    public const string RateLimited = TypePrefix + "rate-limited";
    public const string NotFound = Microsoft.Extensions.Hosting.ProblemResponses.NotFound;
    public const string BadGateway = TypePrefix + "bad-gateway";

    public static Task WriteAsync(HttpContext context, int status, string type, string title, string detail,
        IDictionary<string, object?>? extensions = null)
    {
        var result = TypedResults.Problem(detail: detail, statusCode: status, title: title, type: type,
            instance: context.Request.Path, extensions: extensions);
        return result.ExecuteAsync(context);
    }
}
