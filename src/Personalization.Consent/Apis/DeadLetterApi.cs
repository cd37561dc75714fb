using Dapr.Client;
using Microsoft.AspNetCore.Http.HttpResults;
using Personalization.Consent.Data;
using Personalization.Consent.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.Apis;

/// <summary>A page of dead letters, and the cursor of the next.</summary>
public sealed record DeadLetterPage(IReadOnlyList<DeadLetter> DeadLetters, long? Next);

/// <summary>What a replay or a purge did.</summary>
public sealed record DeadLetterOutcome(int Replayed, int Deleted);

/// <summary>
/// The dead letters of every pipeline topic, for the admin key (the gateway routes <c>/v1/admin/**</c> here):
/// list (<c>?topic=&amp;after=&amp;limit=</c>), inspect one with its data, replay one, a topic's or all (each is published
/// again on the topic it failed on and then deleted; the stages are idempotent on message ids, so a replay never
/// counts twice), and purge one, a topic's or all.
/// </summary>
public static class DeadLetterApi
{
    public const string NotFoundType = "urn:personalization:problem:dead-letter-not-found";
    public const int MaxPage = 500;

    /// <summary>The topics whose dead letters are kept: every topic a stage subscribes to.</summary>
    public static readonly string[] KeptTopics = [Contracts.Topics.EventsCollected, Contracts.Topics.EventsConsented, Contracts.Topics.EventsEnriched, Contracts.Topics.ConsentChanged, Contracts.Topics.EventsQuarantined];

    public static IEndpointRouteBuilder MapDeadLetterApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/admin/dead-letters").WithTags("Dead letters");
        api.MapGet("/", ListAsync);
        api.MapGet("/{id:long}", GetAsync);
        api.MapPost("/{id:long}/replay", ReplayOneAsync);
        api.MapPost("/replay", ReplayManyAsync);
        api.MapDelete("/{id:long}", DeleteOneAsync);
        api.MapDelete("/", DeleteManyAsync);
        return app;
    }

    public static async Task<Results<Ok<DeadLetterPage>, ProblemHttpResult>> ListAsync(string? topic, long? after, int? limit, DeadLetters store, CancellationToken ct)
    {
        if (InvalidTopic(topic) is { } invalid) return invalid;
        if (limit is < 1 or > MaxPage) return Problems.Invalid(new FieldError("limit", $"must be 1 to {MaxPage}"));
        var size = limit ?? MaxPage;
        var page = await store.ListAsync(topic, after ?? 0, size, withData: false, ct);
        return TypedResults.Ok(new DeadLetterPage(page, page.Count == size ? page[^1].Id : null));
    }

    public static async Task<Results<Ok<DeadLetter>, ProblemHttpResult>> GetAsync(long id, DeadLetters store, CancellationToken ct) =>
        await store.GetAsync(id, ct) is { } letter ? TypedResults.Ok(letter) : NotFound(id);

    public static async Task<Results<Ok<DeadLetterOutcome>, ProblemHttpResult>> ReplayOneAsync(long id, DeadLetters store, DaprClient dapr, CancellationToken ct)
    {
        if (await store.GetAsync(id, ct) is not { } letter) return NotFound(id);
        await ReplayAsync(letter, store, dapr, ct);
        return TypedResults.Ok(new DeadLetterOutcome(1, 1));
    }

    public static async Task<Results<Ok<DeadLetterOutcome>, ProblemHttpResult>> ReplayManyAsync(string? topic, DeadLetters store, DaprClient dapr, CancellationToken ct)
    {
        if (InvalidTopic(topic) is { } invalid) return invalid;
        var replayed = 0;
        for (long after = 0; ;)
        {
            var page = await store.ListAsync(topic, after, MaxPage, withData: true, ct);
            foreach (var letter in page)
            {
                await ReplayAsync(letter, store, dapr, ct);
                replayed++;
            }
            if (page.Count < MaxPage) break;
            after = page[^1].Id;
        }
        return TypedResults.Ok(new DeadLetterOutcome(replayed, replayed));
    }

    public static async Task<Results<Ok<DeadLetterOutcome>, ProblemHttpResult>> DeleteOneAsync(long id, DeadLetters store, CancellationToken ct) =>
        await store.DeleteAsync(id, null, ct) is > 0 ? TypedResults.Ok(new DeadLetterOutcome(0, 1)) : NotFound(id);

    public static async Task<Results<Ok<DeadLetterOutcome>, ProblemHttpResult>> DeleteManyAsync(string? topic, DeadLetters store, CancellationToken ct)
    {
        if (InvalidTopic(topic) is { } invalid) return invalid;
        return TypedResults.Ok(new DeadLetterOutcome(0, await store.DeleteAsync(null, topic, ct)));
    }

    /// <summary>Published again, then deleted: a crash between the two replays it twice, which the stages absorb.</summary>
    private static async Task ReplayAsync(DeadLetter letter, DeadLetters store, DaprClient dapr, CancellationToken ct)
    {
        await dapr.PublishEventAsync(Contracts.Topics.PubSub, letter.Topic, letter.Data!.Value, ct);
        await store.DeleteAsync(letter.Id, null, ct);
    }

    private static ProblemHttpResult? InvalidTopic(string? topic) =>
        topic is null || KeptTopics.Contains(topic)
            ? null
            : Problems.Invalid(new FieldError("topic", $"'{topic}' is not a topic with dead letters; use one of {string.Join(", ", KeptTopics)}"));

    private static ProblemHttpResult NotFound(long id) => TypedResults.Problem(
        detail: $"no dead letter {id}", statusCode: StatusCodes.Status404NotFound, title: "Dead letter not found", type: NotFoundType);
}
