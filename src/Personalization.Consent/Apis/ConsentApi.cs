using System.Buffers;
using System.Diagnostics;
using Dapr;
using Dapr.Client;
using Microsoft.AspNetCore.Http.HttpResults;
using Personalization.Consent.Data;
using Personalization.Consent.Extensions;
using Personalization.Consent.Model;
using Personalization.Contracts;

namespace Personalization.Consent.Apis;

/// <summary>What <c>GET</c> and <c>PUT /v1/consent/{userId}</c> answer.</summary>
public sealed record ConsentView(
    string UserId,
    IReadOnlyDictionary<string, bool> Purposes,
    IReadOnlyDictionary<string, bool> Effective,
    DateTimeOffset? UpdatedAt);

/// <summary>
/// <c>PUT /v1/consent/{userId}</c> records a consent statement: appended to the PostgreSQL ledger first (the record),
/// then merged into the current consent in the state store (etag-guarded), then published as
/// <see cref="ConsentChanged"/>. Purposes the body does not name keep their value. <c>GET</c> answers the user's
/// explicit choices (<c>purposes</c>) and the consent in force with defaults applied (<c>effective</c>).
/// </summary>
public static class ConsentApi
{
    public const int MaxBodyBytes = 16 * 1024;
    public const string InvalidRequestType = "urn:personalization:problem:invalid-request";
    public const string BodyTooLargeType = "urn:personalization:problem:body-too-large";

    public static RouteGroupBuilder MapConsentApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/consent").WithTags("Consent");
        api.MapGet("/{userId}", GetConsentAsync);
        api.MapPut("/{userId}", PutConsentAsync).Accepts<ConsentRequestBody>("application/json");
        return api;
    }

    /// <summary>The documented request shape, for OpenAPI only; the handler parses the body itself to name bad fields.</summary>
    public sealed record ConsentRequestBody(IReadOnlyDictionary<string, bool> Purposes, string? Source);

    public static async Task<Results<Ok<ConsentView>, ProblemHttpResult>> GetConsentAsync(
        string userId, DaprClient dapr, ConsentLedger ledger, ConsentPolicy policy, ILogger<ConsentView> logger, CancellationToken ct)
    {
        if (ConsentRequest.ValidateUserId(userId) is { } invalid) return Invalid(invalid);
        var state = await dapr.GetStateAsync<ConsentState?>(StateKeys.Store, StateKeys.Consent(userId), cancellationToken: ct);
        if (state is null && await ledger.CurrentAsync(userId, ct) is { } recorded)
        {
            // The state store is derived; the ledger is the record. Put the copy back for the filter.
            await SaveAsync(dapr, userId, _ => recorded, ct);
            ConsentTelemetry.Rehydrated(logger, userId);
            state = recorded;
        }
        return TypedResults.Ok(View(userId, state, policy));
    }

    public static async Task<Results<Ok<ConsentView>, ProblemHttpResult>> PutConsentAsync(
        string userId, HttpRequest request, DaprClient dapr, ConsentLedger ledger, ConsentPolicy policy,
        ConsentTelemetry telemetry, ILogger<ConsentView> logger, CancellationToken ct)
    {
        if (ConsentRequest.ValidateUserId(userId) is { } invalidUser) return Invalid(invalidUser);
        if (request.ContentLength > MaxBodyBytes) return TooLarge();
        if (request.ContentType is { } contentType && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return Invalid(new FieldError("Content-Type", "the body must be application/json"));
        }

        var read = await ReadBodyAsync(request, ct);
        if (read is null) return TooLarge();
        ConsentRequest? body;
        FieldError? error;
        try
        {
            body = ConsentRequest.Parse(read.WrittenSpan, out error);
        }
        finally
        {
            read.Clear();
        }
        if (body is null) return Invalid(error!);

        using var activity = ConsentTelemetry.ActivitySource.StartActivity("consent.record");
        activity?.SetTag("user.id", userId);
        var now = DateTimeOffset.UtcNow;
        var source = body.Source ?? "api";
        var requestId = request.Headers["X-Request-Id"].FirstOrDefault() is { Length: > 0 and <= 128 } given
            ? given
            : Activity.Current?.TraceId.ToString() ?? Guid.NewGuid().ToString("N");

        await ledger.AppendAsync(userId, body, source, requestId, now, ct);
        var state = await SaveAsync(dapr, userId, current => body.ApplyTo(current, userId, now), ct);
        await dapr.PublishEventAsync(Topics.PubSub, Topics.ConsentChanged, new ConsentChanged(userId, state.Purposes, now), ct);

        telemetry.Changes.Add(1);
        ConsentTelemetry.ConsentRecorded(logger, userId, requestId, source);
        return TypedResults.Ok(View(userId, state, policy));
    }

    /// <summary>Etag-guarded read-modify-write of the current consent; a new key is written first-write so two creators cannot both win.</summary>
    private static async Task<ConsentState> SaveAsync(DaprClient dapr, string userId, Func<ConsentState?, ConsentState> change, CancellationToken ct)
    {
        var key = StateKeys.Consent(userId);
        for (var attempt = 1; ; attempt++)
        {
            var (current, etag) = await dapr.GetStateAndETagAsync<ConsentState?>(StateKeys.Store, key, cancellationToken: ct);
            var next = change(current);
            if (string.IsNullOrEmpty(etag))
            {
                try
                {
                    await dapr.SaveStateAsync(StateKeys.Store, key, next, new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }, cancellationToken: ct);
                    return next;
                }
                catch (DaprException) when (attempt < 5)
                {
                    continue; // created meanwhile: read it and merge again
                }
            }
            if (await dapr.TrySaveStateAsync(StateKeys.Store, key, next, etag, cancellationToken: ct)) return next;
            if (attempt >= 10) throw new InvalidOperationException($"consent of {userId} kept changing under 10 attempts to save it");
        }
    }

    private static async Task<ArrayBufferWriter<byte>?> ReadBodyAsync(HttpRequest request, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        while (true)
        {
            var memory = buffer.GetMemory(4096);
            var read = await request.Body.ReadAsync(memory, ct);
            if (read == 0) return buffer;
            buffer.Advance(read);
            if (buffer.WrittenCount > MaxBodyBytes) return null;
        }
    }

    private static ConsentView View(string userId, ConsentState? state, ConsentPolicy policy) => new(
        userId,
        state?.Purposes ?? new Dictionary<string, bool>(),
        policy.Effective(state),
        state?.UpdatedAt);

    private static ProblemHttpResult Invalid(FieldError error) => TypedResults.Problem(
        detail: $"{error.Field}: {error.Detail}",
        statusCode: StatusCodes.Status400BadRequest,
        title: "Invalid request",
        type: InvalidRequestType,
        extensions: new Dictionary<string, object?> { ["field"] = error.Field });

    private static ProblemHttpResult TooLarge() => TypedResults.Problem(
        detail: $"the body is larger than {MaxBodyBytes} bytes",
        statusCode: StatusCodes.Status400BadRequest,
        title: "Body too large",
        type: BodyTooLargeType,
        extensions: new Dictionary<string, object?> { ["field"] = "body", ["limit"] = MaxBodyBytes });
}
