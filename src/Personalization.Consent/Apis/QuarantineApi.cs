using Dapr.Client;
using Microsoft.AspNetCore.Http.HttpResults;
using Personalization.Consent.Data;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.Apis;

/// <summary>A page of quarantined events, and the cursor of the next.</summary>
public sealed record QuarantinePage(IReadOnlyList<QuarantinedEntry> Events, long? Next);

/// <summary>What a replay or a purge did.</summary>
public sealed record QuarantineOutcome(int Replayed, int Deleted);

/// <summary>
/// The events that broke their tracking plan, for the admin key (the gateway routes <c>/v1/admin/**</c> here): list
/// (<c>?event=&amp;after=&amp;limit=</c>, with each event's violations), inspect one with its event, replay one or all of
/// an event name (each is published on <c>events.collected</c> as accepted, past the plans, then deleted; the stages are
/// idempotent on message ids, so a replayed event counts once, even one that a warn plan already let through), and purge
/// one, an event name's or all.
/// </summary>
public static class QuarantineApi
{
    public const string NotFoundType = "urn:personalization:problem:quarantined-event-not-found";
    public const int MaxPage = 500;
    public const int MaxEventName = 200;

    public static IEndpointRouteBuilder MapQuarantineApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/admin/quarantine").WithTags("Quarantine");
        api.MapGet("/", ListAsync);
        api.MapGet("/{id:long}", GetAsync);
        api.MapPost("/{id:long}/replay", ReplayOneAsync);
        api.MapPost("/replay", ReplayManyAsync);
        api.MapDelete("/{id:long}", DeleteOneAsync);
        api.MapDelete("/", DeleteManyAsync);
        return app;
    }

    public static async Task<Results<Ok<QuarantinePage>, ProblemHttpResult>> ListAsync(
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "event")] string? eventName, long? after, int? limit, QuarantinedEvents store, CancellationToken ct)
    {
        if (InvalidName(eventName) is { } invalid) return invalid;
        if (limit is < 1 or > MaxPage) return Problems.Invalid(new FieldError("limit", $"must be 1 to {MaxPage}"));
        var size = limit ?? MaxPage;
        var page = await store.ListAsync(eventName, after ?? 0, size, withData: false, ct);
        return TypedResults.Ok(new QuarantinePage(page, page.Count == size ? page[^1].Id : null));
    }

    public static async Task<Results<Ok<QuarantinedEntry>, ProblemHttpResult>> GetAsync(long id, QuarantinedEvents store, CancellationToken ct) =>
        await store.GetAsync(id, ct) is { } entry ? TypedResults.Ok(entry) : NotFound(id);

    public static async Task<Results<Ok<QuarantineOutcome>, ProblemHttpResult>> ReplayOneAsync(long id, QuarantinedEvents store, DaprClient dapr, CancellationToken ct)
    {
        if (await store.GetAsync(id, ct) is not { } entry) return NotFound(id);
        await ReplayAsync([entry], store, dapr, ct);
        return TypedResults.Ok(new QuarantineOutcome(1, 1));
    }

    public static async Task<Results<Ok<QuarantineOutcome>, ProblemHttpResult>> ReplayManyAsync(
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "event")] string? eventName, QuarantinedEvents store, DaprClient dapr, CancellationToken ct)
    {
        if (InvalidName(eventName) is { } invalid) return invalid;
        var replayed = 0;
        for (long after = 0; ;)
        {
            var page = await store.ListAsync(eventName, after, MaxPage, withData: true, ct);
            await ReplayAsync(page, store, dapr, ct);
            replayed += page.Count;
            if (page.Count < MaxPage) break;
            after = page[^1].Id;
        }
        return TypedResults.Ok(new QuarantineOutcome(replayed, replayed));
    }

    public static async Task<Results<Ok<QuarantineOutcome>, ProblemHttpResult>> DeleteOneAsync(long id, QuarantinedEvents store, CancellationToken ct) =>
        await store.DeleteAsync(id, null, ct) is > 0 ? TypedResults.Ok(new QuarantineOutcome(0, 1)) : NotFound(id);

    public static async Task<Results<Ok<QuarantineOutcome>, ProblemHttpResult>> DeleteManyAsync(
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "event")] string? eventName, QuarantinedEvents store, CancellationToken ct)
    {
        if (InvalidName(eventName) is { } invalid) return invalid;
        return TypedResults.Ok(new QuarantineOutcome(0, await store.DeleteAsync(null, eventName, ct)));
    }

    /// <summary>
    /// Published on <c>events.collected</c> in one message, then deleted: a crash between the two replays them twice,
    /// which the stages absorb.
    /// </summary>
    private static async Task ReplayAsync(IReadOnlyList<QuarantinedEntry> entries, QuarantinedEvents store, DaprClient dapr, CancellationToken ct)
    {
        if (entries.Count == 0) return;
        await dapr.PublishEventAsync(Topics.PubSub, Topics.EventsCollected, new CollectedEventBatch([.. entries.Select(e => e.Data!)]), ct);
        foreach (var entry in entries) await store.DeleteAsync(entry.Id, null, ct);
    }

    private static ProblemHttpResult? InvalidName(string? eventName) =>
        eventName is null || eventName.Length is > 0 and <= MaxEventName
            ? null
            : Problems.Invalid(new FieldError("event", $"must be an event name of 1 to {MaxEventName} characters"));

    private static ProblemHttpResult NotFound(long id) =>
        Problems.NotFound(NotFoundType, "Quarantined event not found", $"no quarantined event {id}");
}
