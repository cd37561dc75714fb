using System.Buffers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Personalization.Collector.Model;
using Personalization.Contracts;

namespace Personalization.Collector.Apis;

/// <summary>
/// The Segment HTTP Tracking API: <c>POST /v1/{track|identify|page|screen|group|alias|batch}</c> and
/// the analytics.js short forms. Answers <c>{"success":true}</c> only once the broker holds every new
/// event; bad input is a 400 problem+json, an unreachable broker or store a 503 with Retry-After.
/// </summary>
public static class TrackingApi
{
    /// <summary>The header the gateway puts the write key's source name in.</summary>
    public const string SourceHeader = "X-Source";

    /// <summary>The concurrency limit on every tracking route (<see cref="CollectorOptions.MaxConcurrentRequests"/>).</summary>
    public const string OverloadPolicy = "ingestion";

    public static IEndpointRouteBuilder MapTrackingApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").WithTags("Tracking").RequireRateLimiting(OverloadPolicy);
        foreach (var path in new[] { "track", "identify", "page", "screen", "group", "alias", "t", "i", "p", "s", "g", "a" })
        {
            var type = SegmentRequestReader.TypeOfPath(path)!;
            api.MapPost("/" + path, (HttpContext context, TrackingServices services, CancellationToken cancellationToken) =>
                    HandleAsync(context, type, services, cancellationToken))
                .WithName(path.Length == 1 ? "short-" + path : path);
        }
        api.MapPost("/batch", (HttpContext context, TrackingServices services, CancellationToken cancellationToken) =>
            HandleAsync(context, type: null, services, cancellationToken)).WithName("batch");
        api.MapPost("/b", (HttpContext context, TrackingServices services, CancellationToken cancellationToken) =>
            HandleAsync(context, type: null, services, cancellationToken)).WithName("short-b");
        return app;
    }

    /// <summary><paramref name="type"/> is the single event's type, or null for a batch.</summary>
    public static async Task<Results<Ok<SegmentSuccess>, ProblemHttpResult>> HandleAsync(
        HttpContext context, string? type, TrackingServices services, CancellationToken cancellationToken)
    {
        var options = services.Options.Value;
        var limit = type is null ? options.MaxBatchBytes : options.MaxEventBytes;
        var endpointType = type ?? "batch";
        var info = InfoOf(context, services.Time)();

        if (context.Request.ContentLength is { } declared && declared > limit)
        {
            return Rejected(services.Reader.TooLarge(type is null, declared), endpointType, services);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(limit + 1);
        try
        {
            int length;
            try
            {
                length = await ReadBodyAsync(context.Request, buffer, limit + 1, cancellationToken);
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException)
            {
                // A body sent with Content-Encoding: gzip, deflate or br that does not decompress (Brotli reports
                // invalid data as an invalid operation; the request's Content-Encoding header is gone by then).
                return Rejected(SegmentRequestReader.NotDecodable(e.Message), endpointType, services);
            }
            if (length > limit)
            {
                return Rejected(services.Reader.TooLarge(type is null, size: null), endpointType, services);
            }
            var body = buffer.AsMemory(0, length);
            var read = type is null ? services.Reader.ReadBatch(body, info) : services.Reader.ReadSingle(body, type, info);
            if (read.Problem is { } problem)
            {
                return Rejected(problem, endpointType, services);
            }

            var outcome = await services.Pipeline.IngestAsync(read.Events, cancellationToken);
            if (outcome.Problem is { } unavailable)
            {
                services.Metrics.Rejected(endpointType, unavailable.Reason);
                context.Response.Headers.RetryAfter = options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return Problem(unavailable);
            }
            return TypedResults.Ok(SegmentSuccess.Instance);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// A request over the collector's limits: 503 with Retry-After, answered before its body is read, so shedding
    /// costs next to nothing and nothing of it was accepted.
    /// </summary>
    public static Task ShedAsync(HttpContext context)
    {
        var services = context.RequestServices.GetRequiredService<TrackingServices>();
        var options = services.Options.Value;
        var endpointType = context.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName ?? "unknown";
        var problem = new RequestProblem(ProblemKind.Overloaded, "The collector is at its limits",
            $"{options.MaxConcurrentRequests} requests are being handled and {options.MaxQueuedRequests} are waiting "
            + $"(Collector:MaxConcurrentRequests, Collector:MaxQueuedRequests); nothing of this request was accepted. Retry after {options.OverloadRetryAfterSeconds} s.",
            [new FieldError("Collector:MaxConcurrentRequests", $"at most {options.MaxConcurrentRequests} requests at once, {options.MaxQueuedRequests} waiting")]);
        services.Metrics.Rejected(endpointType, problem.Reason);
        context.Response.Headers.RetryAfter = options.OverloadRetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problem(problem).ExecuteAsync(context);
    }

    /// <summary>Reads at most <paramref name="max"/> bytes: one more than the limit is enough to know it was exceeded.</summary>
    private static async Task<int> ReadBodyAsync(HttpRequest request, byte[] buffer, int max, CancellationToken cancellationToken)
    {
        var length = 0;
        while (length < max)
        {
            var read = await request.Body.ReadAsync(buffer.AsMemory(length, max - length), cancellationToken);
            if (read == 0)
            {
                break;
            }
            length += read;
        }
        return length;
    }

    private static ProblemHttpResult Rejected(RequestProblem problem, string endpointType, TrackingServices services)
    {
        services.Metrics.Rejected(endpointType, problem.Reason);
        Log.Rejected(services.Logger, endpointType, problem.Reason, problem.Detail);
        return Problem(problem);
    }

    private static ProblemHttpResult Problem(RequestProblem problem) =>
        TypedResults.Problem(
            detail: problem.Detail,
            statusCode: problem.Status,
            title: problem.Title,
            type: problem.Type,
            extensions: problem.Errors.Count == 0 ? null : new Dictionary<string, object?> { ["errors"] = problem.Errors });

    /// <summary>What the request says beyond its body (source, client address, opt-out signals), with the time it is asked for.</summary>
    public static Func<RequestInfo> InfoOf(HttpContext context, TimeProvider time)
    {
        var (source, ip, signals) = (SourceOf(context.Request), ClientIpOf(context), SignalsOf(context.Request));
        return () => new RequestInfo(time.GetUtcNow(), source, ip, signals);
    }

    private static string? SourceOf(HttpRequest request) =>
        request.Headers.TryGetValue(SourceHeader, out var values) && !string.IsNullOrWhiteSpace(values.ToString()) ? values.ToString() : null;

    private static readonly string[] Gpc = [PrivacySignals.Gpc], Dnt = [PrivacySignals.Dnt], GpcAndDnt = [PrivacySignals.Gpc, PrivacySignals.Dnt];

    /// <summary>The opt-out signals of the request: <c>Sec-GPC: 1</c> and <c>DNT: 1</c> (any other value is no signal).</summary>
    public static string[]? SignalsOf(HttpRequest request)
    {
        var gpc = request.Headers["Sec-GPC"].ToString().Trim() == "1";
        var dnt = request.Headers["DNT"].ToString().Trim() == "1";
        return (gpc, dnt) switch
        {
            (true, true) => GpcAndDnt,
            (true, false) => Gpc,
            (false, true) => Dnt,
            _ => null,
        };
    }

    private static string? ClientIpOf(HttpContext context)
    {
        var forwarded = context.Request.Headers["X-Forwarded-For"].ToString();
        if (!string.IsNullOrEmpty(forwarded))
        {
            var first = forwarded.AsSpan();
            var comma = first.IndexOf(',');
            return (comma >= 0 ? first[..comma] : first).Trim().ToString();
        }
        return context.Connection.RemoteIpAddress?.ToString();
    }
}

/// <summary>What a tracking request needs, resolved once per request.</summary>
public sealed record TrackingServices(
    SegmentRequestReader Reader,
    IngestionPipeline Pipeline,
    CollectorMetrics Metrics,
    IOptions<CollectorOptions> Options,
    TimeProvider Time,
    ILogger<TrackingServices> Logger);

internal static partial class Log
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Rejected {EndpointType} request ({Reason}): {Detail}")]
    public static partial void Rejected(ILogger logger, string endpointType, string reason, string detail);
}
