using System.Buffers;
using System.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Personalization.Consent.Data;
using Personalization.Consent.Extensions;
using Personalization.Consent.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.Apis;

/// <summary>What <c>GET</c> and <c>PUT /v1/consent/{userId}</c> answer.</summary>
public sealed record ConsentView(
    string UserId,
    IReadOnlyDictionary<string, bool> Purposes,
    IReadOnlyDictionary<string, bool> Effective,
    DateTimeOffset? UpdatedAt);

/// <summary>What <c>GET /v1/consent/{userId}/history</c> answers: ledger rows in order, and the cursor of the next page.</summary>
public sealed record ConsentHistory(string UserId, IReadOnlyList<LedgerEntry> Entries, long? Next);

/// <summary>
/// <c>PUT /v1/consent/{userId}</c> records a consent statement (<see cref="ConsentRecorder"/>: ledger, then state store,
/// then <c>consent.changed</c>). <c>GET</c> answers the user's explicit choices (<c>purposes</c>) and the consent in
/// force with defaults applied (<c>effective</c>); <c>GET …/history</c> the ledger rows, oldest first, paged.
/// </summary>
public static class ConsentApi
{
    public const int MaxBodyBytes = 16 * 1024;
    public const int MaxHistoryPage = 1000;
    public const string InvalidRequestType = Problems.InvalidRequestType;
    public const string BodyTooLargeType = Problems.BodyTooLargeType;

    /// <summary>The header the gateway sets to the id of the API key a request came with (never the key itself).</summary>
    public const string KeyIdHeader = "X-Api-Key-Id";

    public static RouteGroupBuilder MapConsentApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/consent").WithTags("Consent");
        api.MapGet("/{userId}", GetConsentAsync);
        api.MapGet("/{userId}/history", GetHistoryAsync);
        api.MapPut("/{userId}", PutConsentAsync).Accepts<ConsentRequestBody>("application/json");
        return api;
    }

    /// <summary>The documented request shape, for OpenAPI only; the handler parses the body itself to name bad fields.</summary>
    public sealed record ConsentRequestBody(IReadOnlyDictionary<string, bool>? Purposes, string? Source, string? PolicyVersion, bool? DoNotSellOrShare);

    public static async Task<Results<Ok<ConsentView>, ProblemHttpResult>> GetConsentAsync(
        string userId, ConsentRecorder recorder, ConsentPolicy policy, CancellationToken ct)
    {
        if (ConsentRequest.ValidateUserId(userId) is { } invalid) return Problems.Invalid(invalid);
        return TypedResults.Ok(View(userId, await recorder.CurrentAsync(userId, ct), policy));
    }

    public static async Task<Results<Ok<ConsentHistory>, ProblemHttpResult>> GetHistoryAsync(
        string userId, long? after, int? limit, ConsentLedger ledger, CancellationToken ct)
    {
        if (ConsentRequest.ValidateUserId(userId) is { } invalid) return Problems.Invalid(invalid);
        if (after is < 0) return Problems.Invalid(new FieldError("after", "must be a cursor from 'next' (0 or more)"));
        if (limit is < 1 or > MaxHistoryPage) return Problems.Invalid(new FieldError("limit", $"must be 1 to {MaxHistoryPage}"));
        var pageSize = limit ?? MaxHistoryPage;
        var entries = await ledger.HistoryAsync(userId, after ?? 0, pageSize, ct);
        return TypedResults.Ok(new ConsentHistory(userId, entries, entries.Count == pageSize ? entries[^1].Id : null));
    }

    public static async Task<Results<Ok<ConsentView>, ProblemHttpResult>> PutConsentAsync(
        string userId, HttpRequest request, ConsentRecorder recorder, ConsentPolicy policy, CancellationToken ct)
    {
        if (ConsentRequest.ValidateUserId(userId) is { } invalidUser) return Problems.Invalid(invalidUser);
        if (request.ContentType is { } contentType && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return Problems.Invalid(new FieldError("Content-Type", "the body must be application/json"));
        }

        var read = await Problems.ReadBodyAsync(request, MaxBodyBytes, ct);
        if (read is null) return Problems.TooLarge(MaxBodyBytes);
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
        if (body is null) return Problems.Invalid(error!);
        var changes = body.Changes(policy.SignalDenials(SignalSources.DoNotSell));
        if (changes.Count == 0)
        {
            return Problems.Invalid(new FieldError("doNotSellOrShare", "this deployment maps do-not-sell to no purpose (Consent:Signals:do-not-sell); name purposes instead"));
        }

        Activity.Current?.SetTag("consent.source", changes[0].Source);
        var state = await recorder.RecordAsync(userId, changes, LedgerContextOf(request, body.PolicyVersion ?? policy.PolicyVersion), ct);
        return TypedResults.Ok(View(userId, state, policy));
    }

    /// <summary>Who makes this request: its correlation id, the gateway's id of its key, the policy version.</summary>
    public static LedgerContext LedgerContextOf(HttpRequest request, string policyVersion)
    {
        var requestId = request.Headers["X-Request-Id"].FirstOrDefault() is { Length: > 0 and <= 128 } given
            ? given
            : Activity.Current?.TraceId.ToString() ?? Guid.NewGuid().ToString("N");
        var keyId = request.Headers[KeyIdHeader].FirstOrDefault() is { Length: > 0 and <= 128 } key ? key : "unknown";
        return new LedgerContext(requestId, keyId, policyVersion);
    }

    private static ConsentView View(string userId, ConsentState? state, ConsentPolicy policy) => new(
        userId,
        state?.Purposes ?? new Dictionary<string, bool>(),
        policy.Effective(state),
        state?.UpdatedAt);
}
