using System.Diagnostics;
using System.Text.Json;
using Dapr.Client;
using Microsoft.AspNetCore.Http.HttpResults;
using Personalization.Contracts;
using Personalization.ProfileQuery.Extensions;

namespace Personalization.ProfileQuery.Apis;

/// <summary>
/// <c>GET /v1/profiles/{userId}</c>: the materialized profile and the user's current consent, read with one bulk
/// state get. 404 problem+json when the user has no profile, or has revoked <c>personalization</c> (the profile is
/// withheld from every read at once; the aggregation service deletes it when it takes the consent change); 400
/// problem+json for an unusable id.
/// </summary>
public static class ProfileApi
{
    public const int MaxUserIdLength = 256;
    public const string NotFoundType = "urn:personalization:problem:profile-not-found";
    public const string WithheldType = "urn:personalization:problem:profile-withheld";
    public const string InvalidRequestType = "urn:personalization:problem:invalid-request";

    public static RouteGroupBuilder MapProfileApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/profiles").WithTags("Profiles");
        api.MapGet("/{userId}", GetProfileAsync);
        return api;
    }

    public static async Task<Results<Ok<ProfileView>, ProblemHttpResult>> GetProfileAsync(
        string userId, DaprClient dapr, ProfileQueryTelemetry telemetry, CancellationToken ct)
    {
        if (InvalidUserId(userId) is { } problem)
        {
            return TypedResults.Problem(detail: $"userId: {problem}", statusCode: StatusCodes.Status400BadRequest,
                title: "Invalid request", type: InvalidRequestType, extensions: new Dictionary<string, object?> { ["field"] = "userId" });
        }

        var started = Stopwatch.GetTimestamp();
        var (profile, consent) = await ReadAsync(dapr, userId, ct);
        // An id merged into another profile (identity resolution) holds a redirect to it: the merged profile is served.
        for (var hop = 0; hop < MaxRedirects && profile?.MergedInto is { } master; hop++)
        {
            (profile, var masterConsent) = await ReadAsync(dapr, master, ct);
            consent ??= masterConsent;
        }
        if (consent is not null && consent.Purposes.TryGetValue(Purposes.Personalization, out var personalize) && !personalize)
        {
            telemetry.ReadDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>("outcome", "withheld"));
            return TypedResults.Problem(detail: $"user '{userId}' has withdrawn consent to personalization", statusCode: StatusCodes.Status404NotFound,
                title: "Profile withheld", type: WithheldType, extensions: new Dictionary<string, object?> { ["userId"] = userId });
        }
        var view = profile is { IsAnswer: true } found
            ? found with { Consent = consent is null ? null : new ConsentView(consent.Purposes, consent.UpdatedAt) }
            : null;
        telemetry.ReadDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds,
            new KeyValuePair<string, object?>("outcome", view is null ? "not_found" : "found"));

        if (view is null)
        {
            return TypedResults.Problem(detail: $"no profile for user '{userId}'", statusCode: StatusCodes.Status404NotFound,
                title: "Profile not found", type: NotFoundType, extensions: new Dictionary<string, object?> { ["userId"] = userId });
        }
        return TypedResults.Ok(view);
    }

    /// <summary>Redirects followed at most: a merge leaves one, and a merged master's own ids point at it until they are next merged.</summary>
    private const int MaxRedirects = 4;

    private static async Task<(ProfileView? Profile, ConsentState? Consent)> ReadAsync(DaprClient dapr, string id, CancellationToken ct)
    {
        var profileKey = StateKeys.Profile(id);
        var consentKey = StateKeys.Consent(id);
        var items = await dapr.GetBulkStateAsync(StateKeys.Store, [profileKey, consentKey], parallelism: null, cancellationToken: ct);
        ProfileView? profile = null;
        ConsentState? consent = null;
        foreach (var item in items)
        {
            if (string.IsNullOrEmpty(item.Value)) continue;
            if (item.Key == profileKey) profile = JsonSerializer.Deserialize(item.Value, ProfileQueryJsonContext.Default.ProfileView);
            else if (item.Key == consentKey) consent = JsonSerializer.Deserialize(item.Value, ProfileQueryJsonContext.Default.ConsentState);
        }
        return (profile, consent);
    }

    public static string? InvalidUserId(string? userId)
    {
        if (string.IsNullOrWhiteSpace(userId)) return "is required";
        if (userId.Length > MaxUserIdLength) return $"is longer than {MaxUserIdLength} characters";
        if (userId.Contains(StateKeys.Separator, StringComparison.Ordinal)) return $"must not contain '{StateKeys.Separator}'";
        foreach (var c in userId)
        {
            if (char.IsControl(c)) return "contains a control character";
        }
        return null;
    }
}
