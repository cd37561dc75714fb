using Microsoft.AspNetCore.Http.HttpResults;
using Personalization.Aggregation.Data;
using Personalization.Aggregation.Model;
using Personalization.Streaming;

namespace Personalization.Aggregation.Apis;

/// <summary>A segment as the API shows it, with the last backfill's status.</summary>
public sealed record SegmentView(SegmentDefinition Segment, BackfillStatus? Backfill);

/// <summary>A page of a segment's members (profile ids in id order) and the cursor of the next page (null: the last page).</summary>
public sealed record SegmentMembers(string SegmentId, IReadOnlyList<string> Members, string? NextCursor);

/// <summary>Every segment, and the last backfill's status.</summary>
public sealed record SegmentList(IReadOnlyList<SegmentDefinition> Segments, BackfillStatus? Backfill);

/// <summary>
/// <c>/v1/segments</c> (admin key, through the gateway): list, create (<c>POST</c>, 201; 409 when the id exists),
/// read, replace (<c>PUT</c>, 200; 201 when new), delete (204). Bodies are <see cref="SegmentRequest"/>s; a rule that
/// does not parse answers 400 problem+json naming the rule's part (<c>rule.all[1].window</c>). Every change starts a
/// backfill (<see cref="ProfileReevaluator"/>) over existing profiles. <c>GET /v1/segments/{id}/members</c> pages
/// through the members (<c>?limit=</c> 1–1000, default 100; <c>?cursor=</c> from the previous page).
/// </summary>
public static class SegmentApi
{
    public const string NotFoundType = "urn:personalization:problem:segment-not-found";
    public const string ConflictType = "urn:personalization:problem:segment-exists";

    public static RouteGroupBuilder MapSegmentApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/segments").WithTags("Segments");
        api.MapGet("/", ListAsync);
        api.MapPost("/", CreateAsync);
        api.MapGet("/{id}", GetAsync);
        api.MapPut("/{id}", PutAsync);
        api.MapDelete("/{id}", DeleteAsync);
        api.MapGet("/{id}/members", MembersAsync);
        return api;
    }

    public const int MaxMembersPage = 1000;

    public static async Task<Results<Ok<SegmentMembers>, ProblemHttpResult>> MembersAsync(string id, int? limit, string? cursor,
        SegmentStore store, ProfileDirectory directory, CancellationToken ct)
    {
        if (SegmentRequest.ValidateId(id) is { } invalid) return Problems.Invalid(invalid);
        if (limit is < 1 or > MaxMembersPage) return Problems.Invalid(new FieldError("limit", $"must be between 1 and {MaxMembersPage}"));
        var after = "";
        if (!string.IsNullOrEmpty(cursor))
        {
            try
            {
                after = System.Text.Encoding.UTF8.GetString(Microsoft.AspNetCore.WebUtilities.Base64UrlTextEncoder.Decode(cursor));
            }
            catch (FormatException)
            {
                return Problems.Invalid(new FieldError("cursor", "is not a cursor this API gave"));
            }
        }
        var (catalog, _) = await store.ReadAsync(ct);
        if (catalog.Segments.All(s => s.Id != id)) return NotFound(id);
        var page = limit ?? 100;
        var members = await directory.MembersAsync(id, after, page, ct);
        var next = members.Count == page ? Microsoft.AspNetCore.WebUtilities.Base64UrlTextEncoder.Encode(System.Text.Encoding.UTF8.GetBytes(members[^1])) : null;
        return TypedResults.Ok(new SegmentMembers(id, members, next));
    }

    public static async Task<Ok<SegmentList>> ListAsync(SegmentStore store, ProfileReevaluator backfill, CancellationToken ct)
    {
        var (catalog, _) = await store.ReadAsync(ct);
        return TypedResults.Ok(new SegmentList(catalog.Segments, await backfill.StatusAsync(ct)));
    }

    public static async Task<Results<Ok<SegmentView>, ProblemHttpResult>> GetAsync(string id, SegmentStore store, ProfileReevaluator backfill, CancellationToken ct)
    {
        if (SegmentRequest.ValidateId(id) is { } invalid) return Problems.Invalid(invalid);
        var (catalog, _) = await store.ReadAsync(ct);
        return catalog.Segments.FirstOrDefault(s => s.Id == id) is { } segment
            ? TypedResults.Ok(new SegmentView(segment, await backfill.StatusAsync(ct)))
            : NotFound(id);
    }

    public static async Task<Results<Created<SegmentDefinition>, ProblemHttpResult>> CreateAsync(
        HttpRequest request, SegmentStore store, ProfileReevaluator backfill, TimeProvider clock, CancellationToken ct)
    {
        var (body, problem) = await ReadAsync(request, withId: true, ct);
        if (body is null) return problem!;
        var now = clock.GetUtcNow();
        var (created, error) = await store.ChangeAsync(catalog =>
        {
            if (catalog.Segments.Any(s => s.Id == body.Id)) return (null, (default(SegmentDefinition), Conflict(body.Id!)));
            if (catalog.Segments.Count >= SegmentCatalog.MaxSegments) return (null, (null, Problems.Invalid(TooMany())));
            var segment = new SegmentDefinition(body.Id!, body.Name, body.Description, body.Rule, 1, now, now);
            return (new SegmentCatalog([.. catalog.Segments, segment]), (segment, (ProblemHttpResult?)null));
        }, ct);
        if (created is null) return error!;
        backfill.Request($"segment '{created.Id}' created");
        return TypedResults.Created($"/v1/segments/{created.Id}", created);
    }

    public static async Task<Results<Ok<SegmentDefinition>, Created<SegmentDefinition>, ProblemHttpResult>> PutAsync(
        string id, HttpRequest request, SegmentStore store, ProfileReevaluator backfill, TimeProvider clock, CancellationToken ct)
    {
        if (SegmentRequest.ValidateId(id) is { } invalid) return Problems.Invalid(invalid);
        var (body, problem) = await ReadAsync(request, withId: false, ct);
        if (body is null) return problem!;
        var now = clock.GetUtcNow();
        var (saved, isNew, error) = await store.ChangeAsync(catalog =>
        {
            var existing = catalog.Segments.FirstOrDefault(s => s.Id == id);
            if (existing is null && catalog.Segments.Count >= SegmentCatalog.MaxSegments) return (null, (default(SegmentDefinition), false, Problems.Invalid(TooMany())));
            var segment = existing is null
                ? new SegmentDefinition(id, body.Name, body.Description, body.Rule, 1, now, now)
                : existing with { Name = body.Name, Description = body.Description, Rule = body.Rule, Version = existing.Version + 1, UpdatedAt = now };
            var segments = existing is null ? [.. catalog.Segments, segment] : catalog.Segments.Select(s => s.Id == id ? segment : s).ToList();
            return (new SegmentCatalog(segments), (segment, existing is null, (ProblemHttpResult?)null));
        }, ct);
        if (saved is null) return error!;
        backfill.Request($"segment '{id}' {(isNew ? "created" : "changed")}");
        return isNew ? TypedResults.Created($"/v1/segments/{id}", saved) : TypedResults.Ok(saved);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string id, SegmentStore store, ProfileReevaluator backfill, CancellationToken ct)
    {
        if (SegmentRequest.ValidateId(id) is { } invalid) return Problems.Invalid(invalid);
        var deleted = await store.ChangeAsync(catalog => catalog.Segments.Any(s => s.Id == id)
            ? (new SegmentCatalog(catalog.Segments.Where(s => s.Id != id).ToList()), true)
            : (null, false), ct);
        if (!deleted) return NotFound(id);
        backfill.Request($"segment '{id}' deleted");
        return TypedResults.NoContent();
    }

    private static async Task<(SegmentRequest? Body, ProblemHttpResult? Problem)> ReadAsync(HttpRequest request, bool withId, CancellationToken ct)
    {
        if (request.ContentType is { } contentType && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, Problems.Invalid(new FieldError("Content-Type", "the body must be application/json")));
        }
        var read = await Problems.ReadBodyAsync(request, SegmentRequest.MaxBodyBytes, ct);
        if (read is null) return (null, Problems.TooLarge(SegmentRequest.MaxBodyBytes));
        var body = SegmentRequest.Parse(read.WrittenSpan, withId, out var error);
        return body is null ? (null, Problems.Invalid(error!)) : (body, null);
    }

    private static FieldError TooMany() => new("segments", $"at most {SegmentCatalog.MaxSegments} segments can exist; delete one first");

    private static ProblemHttpResult NotFound(string id) => Problems.NotFound(NotFoundType, "Segment not found", $"no segment '{id}'");

    private static ProblemHttpResult Conflict(string id) => TypedResults.Problem(
        detail: $"segment '{id}' exists; PUT /v1/segments/{id} changes it", statusCode: StatusCodes.Status409Conflict,
        title: "Segment exists", type: ConflictType, extensions: new Dictionary<string, object?> { ["field"] = "id" });
}
