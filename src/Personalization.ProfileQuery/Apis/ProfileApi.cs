using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Personalization.Contracts;
using Personalization.ProfileQuery.Extensions;
using Personalization.Streaming;

namespace Personalization.ProfileQuery.Apis;

/// <summary>
/// <c>GET /v1/profiles/{userId}</c>: the materialized profile and the user's current consent (by any id linked to the
/// profile), with field selection (<c>?fields=</c>, <see cref="ProfileFields"/>) and an ETag (<c>If-None-Match</c>
/// answers 304 while nothing changed). <c>POST /v1/profiles:batch</c>: up to <see cref="MaxBatchIds"/> profiles in
/// one call, one bulk state get. 404 problem+json when the user has no profile, or has revoked
/// <c>personalization</c>; 400 problem+json naming the field for an unusable id or selection; 403 when a user token
/// asks for another user.
/// </summary>
public static class ProfileApi
{
    public const int MaxBatchIds = 100;
    public const int MaxBatchBodyBytes = 64 * 1024;
    public const string NotFoundType = "urn:personalization:problem:profile-not-found";
    public const string WithheldType = "urn:personalization:problem:profile-withheld";
    public const string ForbiddenType = "urn:personalization:problem:forbidden";

    public static IEndpointRouteBuilder MapProfileApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").WithTags("Profiles");
        api.MapGet("/profiles/{userId}", GetProfileAsync).Produces<ProfileView>().ProducesProblem(StatusCodes.Status404NotFound);
        api.MapPost("/profiles:batch", GetBatchAsync).Accepts<ProfileBatchRequest>("application/json").Produces<ProfileBatch>();
        return app;
    }

    public static async Task<IResult> GetProfileAsync(string userId, string? fields, HttpContext http, ProfileReader reader,
        ProfileQueryTelemetry telemetry, CancellationToken ct)
    {
        if (UserIds.Problem(userId) is { } problem) return Problems.Invalid(new FieldError("userId", problem));
        if (ForOtherUser(http, userId) is { } forbidden) return forbidden;
        if (ProfileFields.Parse(fields, out var fieldError) is not { } selection) return Problems.Invalid(fieldError!);

        var started = Stopwatch.GetTimestamp();
        var read = await reader.ReadAsync(userId, ct);
        var outcome = read.Withheld ? "withheld" : read.Profile is null ? "not_found" : "found";
        telemetry.ReadDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>("outcome", outcome));
        if (read.Answer is not { } view) return NotAnswered(read);

        var etag = ETag(view, selection);
        http.Response.Headers.ETag = etag;
        http.Response.Headers.CacheControl = "private, no-cache";
        if (http.Request.Headers.IfNoneMatch.Any(value => value is not null && value.Split(',').Any(v => v.Trim() is var tag && (tag == etag || tag == "*"))))
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }
        return selection.IsAll
            ? TypedResults.Json(view, ProfileQueryJsonContext.Default.ProfileView)
            : TypedResults.Json(selection.Select(view), ProfileQueryJsonContext.Default.JsonObject);
    }

    public static async Task<IResult> GetBatchAsync(HttpRequest request, ProfileReader reader, ProfileQueryTelemetry telemetry, CancellationToken ct)
    {
        var (batch, invalid) = await Problems.ReadJsonAsync(request, MaxBatchBodyBytes, ProfileQueryJsonContext.Default.ProfileBatchRequest,
            "a JSON object of ids and fields", ct);
        if (invalid is not null) return invalid;
        if (batch?.Ids is not { Count: > 0 } ids || ids.Count > MaxBatchIds)
        {
            return Problems.Invalid(new FieldError("ids", $"must be an array of 1 to {MaxBatchIds} user ids"));
        }
        for (var i = 0; i < ids.Count; i++)
        {
            if (UserIds.Problem(ids[i]) is { } problem) return Problems.Invalid(new FieldError($"ids[{i}]", problem));
        }
        if (ProfileFields.Parse(batch.Fields, out var fieldError) is not { } selection) return Problems.Invalid(fieldError!);

        var started = Stopwatch.GetTimestamp();
        var reads = await reader.ReadAsync([.. ids.Distinct(StringComparer.Ordinal)], ct);
        telemetry.ReadDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>("outcome", "batch"));
        var byId = reads.ToDictionary(r => r.RequestedId, StringComparer.Ordinal);
        var answers = ids.Select(id => byId[id]).Select(read => new ProfileBatchEntry(read.RequestedId,
            read.Withheld ? "withheld" : read.Profile is null ? "not_found" : "found",
            read.Answer is { } view ? selection.Select(view) : null)).ToList();
        return TypedResults.Json(new ProfileBatch(answers), ProfileQueryJsonContext.Default.ProfileBatch);
    }

    /// <summary>The 404 for a read with nothing to answer: no profile, or withheld by consent.</summary>
    public static IResult NotAnswered(ProfileRead read) => read.Withheld
        ? TypedResults.Problem(detail: $"user '{read.RequestedId}' has withdrawn consent to personalization", statusCode: StatusCodes.Status404NotFound,
            title: "Profile withheld", type: WithheldType, extensions: new Dictionary<string, object?> { ["userId"] = read.RequestedId })
        : TypedResults.Problem(detail: $"no profile for user '{read.RequestedId}'", statusCode: StatusCodes.Status404NotFound,
            title: "Profile not found", type: NotFoundType, extensions: new Dictionary<string, object?> { ["userId"] = read.RequestedId });

    /// <summary>403 when the request came with a user token (the gateway names its user) for another user than <paramref name="userId"/>.</summary>
    public static IResult? ForOtherUser(HttpContext http, string userId) =>
        http.Request.Headers[GatewayHeaders.TokenUser].ToString() is { Length: > 0 } tokenUser && tokenUser != userId
            ? TypedResults.Problem(detail: $"the user token is for another user than '{userId}'", statusCode: StatusCodes.Status403Forbidden,
                title: "Not this user's token", type: ForbiddenType)
            : null;

    /// <summary>The profile's version, its consent's and the selection, hashed: changes whenever what is answered would.</summary>
    public static string ETag(ProfileView view, ProfileFields selection)
    {
        var text = $"{view.ProfileId}\n{view.Version}\n{view.Consent?.UpdatedAt.UtcTicks}\n{selection.Key}";
        return "\"" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)).AsSpan(0, 12)) + "\"";
    }
}

/// <summary>The body of <c>POST /v1/profiles:batch</c>: up to 100 ids, and optionally the fields to answer (as <c>?fields=</c>).</summary>
public sealed record ProfileBatchRequest(IReadOnlyList<string>? Ids, string? Fields);

/// <summary>One id of a batch read: <c>found</c> (with the profile), <c>not_found</c> or <c>withheld</c>.</summary>
public sealed record ProfileBatchEntry(string Id, string Status, JsonObject? Profile);

/// <summary>What <c>POST /v1/profiles:batch</c> answers, in the order of the ids asked for.</summary>
public sealed record ProfileBatch(IReadOnlyList<ProfileBatchEntry> Profiles);
