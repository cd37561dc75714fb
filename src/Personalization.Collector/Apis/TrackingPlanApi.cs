using Microsoft.AspNetCore.Http.HttpResults;
using Personalization.Collector.Data;
using Personalization.Collector.Model;
using Personalization.Streaming;
using FieldError = Personalization.Streaming.FieldError;

namespace Personalization.Collector.Apis;

/// <summary>Every tracking plan.</summary>
public sealed record TrackingPlanList(IReadOnlyList<TrackingPlan> Plans);

/// <summary>
/// <c>/v1/admin/tracking-plans</c> (admin key, through the gateway): list, read, create or replace (<c>PUT</c>: 201 when
/// new, 200 with the version +1 when changed), delete (204). Bodies are <see cref="TrackingPlanRequest"/>s; a schema that
/// is not valid JSON Schema answers 400 naming the error; a second plan for the same type and event answers 409.
/// Collectors apply a change within <see cref="RecordDocument{TDocument, TView}.RefreshInterval"/>.
/// </summary>
public static class TrackingPlanApi
{
    public const string NotFoundType = "urn:personalization:problem:tracking-plan-not-found";
    public const string ConflictType = "urn:personalization:problem:tracking-plan-exists";

    public static IEndpointRouteBuilder MapTrackingPlanApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/admin/tracking-plans").WithTags("Tracking plans");
        api.MapGet("/", ListAsync);
        api.MapGet("/{id}", GetAsync);
        api.MapPut("/{id}", PutAsync);
        api.MapDelete("/{id}", DeleteAsync);
        return app;
    }

    public static async Task<Ok<TrackingPlanList>> ListAsync(TrackingPlanStore store, CancellationToken ct)
    {
        var (catalog, _) = await store.ReadAsync(ct);
        return TypedResults.Ok(new TrackingPlanList(catalog.Plans));
    }

    public static async Task<Results<Ok<TrackingPlan>, ProblemHttpResult>> GetAsync(string id, TrackingPlanStore store, CancellationToken ct)
    {
        if (TrackingPlanRequest.ValidateId(id) is { } invalid) return Problems.Invalid(invalid);
        var (catalog, _) = await store.ReadAsync(ct);
        return catalog.Plans.FirstOrDefault(p => p.Id == id) is { } plan ? TypedResults.Ok(plan) : NotFound(id);
    }

    public static async Task<Results<Ok<TrackingPlan>, Created<TrackingPlan>, ProblemHttpResult>> PutAsync(
        string id, HttpRequest request, TrackingPlanStore store, TimeProvider clock, CancellationToken ct)
    {
        if (TrackingPlanRequest.ValidateId(id) is { } invalid) return Problems.Invalid(invalid);
        if (request.ContentType is { } contentType && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return Problems.Invalid(new FieldError("Content-Type", "the body must be application/json"));
        }
        var read = await Problems.ReadBodyAsync(request, TrackingPlanRequest.MaxBodyBytes, ct);
        if (read is null) return Problems.TooLarge(TrackingPlanRequest.MaxBodyBytes);
        if (TrackingPlanRequest.Parse(read.WrittenSpan, out var error) is not { } body) return Problems.Invalid(error!);

        var now = clock.GetUtcNow();
        var (saved, isNew, problem) = await store.ChangeAsync(catalog =>
        {
            if (catalog.Plans.FirstOrDefault(p => p.Id != id && p.Type == body.Type && p.Event == body.Event) is { } other)
            {
                return (null, (default(TrackingPlan), false, Conflict(other, body)));
            }
            var existing = catalog.Plans.FirstOrDefault(p => p.Id == id);
            if (existing is null && catalog.Plans.Count >= TrackingPlanCatalog.MaxPlans)
            {
                return (null, (null, false, Problems.Invalid(new FieldError("plans", $"at most {TrackingPlanCatalog.MaxPlans} tracking plans can exist; delete one first"))));
            }
            var plan = existing is null
                ? new TrackingPlan(id, body.Type, body.Event, body.Mode, body.Schema, 1, now, now)
                : existing with { Type = body.Type, Event = body.Event, Mode = body.Mode, Schema = body.Schema, Version = existing.Version + 1, UpdatedAt = now };
            var plans = existing is null ? [.. catalog.Plans, plan] : catalog.Plans.Select(p => p.Id == id ? plan : p).ToList();
            return (new TrackingPlanCatalog(plans), (plan, existing is null, (ProblemHttpResult?)null));
        }, ct);
        if (saved is null) return problem!;
        return isNew ? TypedResults.Created($"/v1/admin/tracking-plans/{id}", saved) : TypedResults.Ok(saved);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string id, TrackingPlanStore store, CancellationToken ct)
    {
        if (TrackingPlanRequest.ValidateId(id) is { } invalid) return Problems.Invalid(invalid);
        var deleted = await store.ChangeAsync(catalog => catalog.Plans.Any(p => p.Id == id)
            ? (new TrackingPlanCatalog(catalog.Plans.Where(p => p.Id != id).ToList()), true)
            : (null, false), ct);
        return deleted ? TypedResults.NoContent() : NotFound(id);
    }

    private static ProblemHttpResult NotFound(string id) => Problems.NotFound(NotFoundType, "Tracking plan not found", $"no tracking plan '{id}'");

    private static ProblemHttpResult Conflict(TrackingPlan other, TrackingPlanRequest body) => TypedResults.Problem(
        detail: $"tracking plan '{other.Id}' already covers {body.Type} events {(body.Event is null ? "without a plan of their own" : $"named '{body.Event}'")}; change that plan instead",
        statusCode: StatusCodes.Status409Conflict, title: "Tracking plan exists", type: ConflictType,
        extensions: new Dictionary<string, object?> { ["field"] = "event" });
}
