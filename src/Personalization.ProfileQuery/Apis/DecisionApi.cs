using Personalization.Contracts;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Personalization.ProfileQuery.Decisions;
using Personalization.ProfileQuery.Extensions;
using Personalization.Streaming;

namespace Personalization.ProfileQuery.Apis;

/// <summary>The body of <c>POST /v1/decide</c>: the user and the placements to decide (1 to 20).</summary>
public sealed record DecideRequest(string? UserId, IReadOnlyList<string>? Placements);

/// <summary>What <c>POST /v1/decide</c> answers: the profile decided from (null: none) and a decision per placement asked for.</summary>
public sealed record DecideResponse(string UserId, string? ProfileId, IReadOnlyList<Decision> Decisions);

/// <summary>
/// <c>POST /v1/decide</c> (read key or the user's token): for a user and placements, the content variant each placement
/// shows, chosen by its rules over the user's segments, flags and traits (<see cref="Decider"/>), with the reason. One
/// bulk state read; the placements come from memory. <c>/v1/placements</c> (admin key): list, read, create or replace
/// (<c>PUT</c>), delete. 400 problem+json names the wrong part; an unknown placement is a 404.
/// </summary>
public static class DecisionApi
{
    public const int MaxPlacementsPerDecision = 20;
    public const int MaxBodyBytes = 16 * 1024;
    public const string PlacementNotFoundType = "urn:personalization:problem:placement-not-found";

    public static IEndpointRouteBuilder MapDecisionApiV1(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/decide", DecideAsync).WithTags("Decisions").Accepts<DecideRequest>("application/json").Produces<DecideResponse>();
        var placements = app.MapGroup("/v1/placements").WithTags("Placements");
        placements.MapGet("/", async (PlacementStore store, CancellationToken ct) => TypedResults.Ok((await store.ReadAsync(ct)).Document));
        placements.MapGet("/{id}", GetPlacementAsync);
        placements.MapPut("/{id}", PutPlacementAsync).Accepts<PlacementRequest>("application/json");
        placements.MapDelete("/{id}", DeletePlacementAsync);
        return app;
    }

    public static async Task<IResult> DecideAsync(HttpContext http, ProfileReader reader, PlacementStore store, ProfileQueryTelemetry telemetry, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var (request, invalid) = await Problems.ReadJsonAsync(http.Request, MaxBodyBytes, ProfileQueryJsonContext.Default.DecideRequest,
            "a JSON object of userId and placements", ct);
        if (invalid is not null) return invalid;
        if (UserIds.Problem(request?.UserId) is { } badUser) return Problems.Invalid(new FieldError("userId", badUser));
        if (request!.Placements is not { Count: > 0 and <= MaxPlacementsPerDecision } asked)
        {
            return Problems.Invalid(new FieldError("placements", $"must be an array of 1 to {MaxPlacementsPerDecision} placement ids"));
        }
        if (ProfileApi.ForOtherUser(http, request.UserId!) is { } forbidden) return forbidden;
        var placements = await store.CurrentAsync(ct);
        var unknown = asked.Where(id => !placements.ContainsKey(id)).ToList();
        if (unknown.Count > 0)
        {
            return Problems.Invalid(new FieldError("placements", $"no placement '{string.Join("', '", unknown)}'; PUT /v1/placements/{{id}} creates one"));
        }

        var read = await reader.ReadAsync(request.UserId!, ct);
        var decisions = Decider.Decide(asked.Select(id => placements[id]), read);
        telemetry.DecideDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return TypedResults.Json(new DecideResponse(request.UserId!, read.Answer?.ProfileId, decisions), ProfileQueryJsonContext.Default.DecideResponse);
    }

    public static async Task<Results<Ok<Placement>, ProblemHttpResult>> GetPlacementAsync(string id, PlacementStore store, CancellationToken ct)
    {
        if (PlacementRequest.ValidateId(id) is { } invalid) return Problems.Invalid(invalid);
        var (catalog, _) = await store.ReadAsync(ct);
        return catalog.Placements.FirstOrDefault(p => p.Id == id) is { } placement ? TypedResults.Ok(placement) : NotFound(id);
    }

    public static async Task<Results<Ok<Placement>, Created<Placement>, ProblemHttpResult>> PutPlacementAsync(
        string id, HttpRequest request, PlacementStore store, TimeProvider clock, CancellationToken ct)
    {
        if (PlacementRequest.ValidateId(id) is { } invalid) return Problems.Invalid(invalid);
        var body = await Problems.ReadBodyAsync(request, PlacementRequest.MaxBodyBytes, ct);
        if (body is null) return Problems.TooLarge(PlacementRequest.MaxBodyBytes);
        if (PlacementRequest.Parse(body.WrittenSpan, out var error) is not { } parsed) return Problems.Invalid(error!);
        var now = clock.GetUtcNow();
        var (saved, isNew) = await store.ChangeAsync(catalog =>
        {
            var existing = catalog.Placements.FirstOrDefault(p => p.Id == id);
            if (existing is null && catalog.Placements.Count >= PlacementCatalog.MaxPlacements) return (null, (default(Placement), false));
            var placement = new Placement(id, parsed.Name, parsed.Variants, parsed.Fallback, (existing?.Version ?? 0) + 1, now);
            var placements = existing is null ? [.. catalog.Placements, placement] : catalog.Placements.Select(p => p.Id == id ? placement : p).ToList();
            return (new PlacementCatalog(placements), (placement, existing is null));
        }, ct);
        if (saved is null) return Problems.Invalid(new FieldError("id", $"at most {PlacementCatalog.MaxPlacements} placements can exist; delete one first"));
        return isNew ? TypedResults.Created($"/v1/placements/{id}", saved) : TypedResults.Ok(saved);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeletePlacementAsync(string id, PlacementStore store, CancellationToken ct)
    {
        if (PlacementRequest.ValidateId(id) is { } invalid) return Problems.Invalid(invalid);
        var deleted = await store.ChangeAsync(catalog => catalog.Placements.Any(p => p.Id == id)
            ? (new PlacementCatalog(catalog.Placements.Where(p => p.Id != id).ToList()), true)
            : (null, false), ct);
        return deleted ? TypedResults.NoContent() : NotFound(id);
    }

    private static ProblemHttpResult NotFound(string id) => Problems.NotFound(PlacementNotFoundType, "Placement not found", $"no placement '{id}'");
}
