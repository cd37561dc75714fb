using System.Text.Json;
using Dapr.Client;
using Microsoft.AspNetCore.Http.HttpResults;
using Personalization.Consent.Data;
using Personalization.Consent.Extensions;
using Personalization.Consent.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.Apis;

/// <summary>What <c>DELETE /v1/profiles/{userId}</c> answers (202): where to follow the erasure.</summary>
public sealed record ErasureAccepted(Guid ErasureId, string Status, string StatusUrl);

/// <summary>What <c>GET /v1/profiles/{userId}/export</c> answers: everything the platform holds about the user.</summary>
public sealed record ProfileExport(
    string UserId,
    DateTimeOffset ExportedAt,
    IReadOnlyList<string> LinkedIds,
    IReadOnlyDictionary<string, JsonElement> Profiles,
    IReadOnlyDictionary<string, JsonElement> Sessions,
    IReadOnlyDictionary<string, bool> EffectiveConsent,
    IReadOnlyDictionary<string, IReadOnlyList<LedgerEntry>> ConsentHistory,
    IReadOnlyList<QuarantinedEntry> QuarantinedEvents);

/// <summary>
/// The data-subject rights, served with the admin key (the gateway checks it): erasure
/// (<c>DELETE /v1/profiles/{userId}</c> → 202 and an erasure id; <c>GET /v1/privacy/erasures/{id}</c> → its status per
/// store) and access (<c>GET /v1/profiles/{userId}/export</c>). Erasing a user the platform never saw is accepted and
/// completes with zero counts, so the answer tells nobody whether a user exists.
/// </summary>
public static class PrivacyApi
{
    public const string ErasureNotFoundType = "urn:personalization:problem:erasure-not-found";

    public static IEndpointRouteBuilder MapPrivacyApiV1(this IEndpointRouteBuilder app)
    {
        app.MapDelete("/v1/profiles/{userId}", EraseAsync).WithTags("Privacy");
        app.MapGet("/v1/profiles/{userId}/export", ExportAsync).WithTags("Privacy");
        app.MapGet("/v1/privacy/erasures/{erasureId}", GetErasureAsync).WithTags("Privacy");
        return app;
    }

    public static async Task<Results<Accepted<ErasureAccepted>, ProblemHttpResult>> EraseAsync(
        string userId, HttpRequest request, Erasures erasures, ErasureSweep sweep, ErasureRunner runner, UserIdHasher hasher, CancellationToken ct)
    {
        if (ConsentRequest.ValidateUserId(userId) is { } invalid) return Problems.Invalid(invalid);
        var id = Guid.CreateVersion7();
        var requestedBy = ConsentApi.LedgerContextOf(request, "").KeyId;
        await erasures.CreateAsync(id, userId, hasher.Hash(userId), requestedBy, DateTimeOffset.UtcNow, ct);
        // From this answer on, no stage processes anything of this user: the sweeps only clean up what exists.
        await sweep.SuppressAsync(id, [userId], tally: null, ct);
        runner.Enqueue(id, userId);
        var statusUrl = $"/v1/privacy/erasures/{id}";
        return TypedResults.Accepted(statusUrl, new ErasureAccepted(id, ErasureStates.Running, statusUrl));
    }

    public static async Task<Results<Ok<ErasureStatus>, ProblemHttpResult>> GetErasureAsync(string erasureId, Erasures erasures, CancellationToken ct)
    {
        if (!Guid.TryParse(erasureId, out var id)) return Problems.Invalid(new FieldError("erasureId", "is not an erasure id (a UUID)"));
        return await erasures.GetAsync(id, ct) is { } status
            ? TypedResults.Ok(status)
            : TypedResults.Problem(detail: $"no erasure {id}", statusCode: StatusCodes.Status404NotFound, title: "Erasure not found", type: ErasureNotFoundType);
    }

    public static async Task<Results<Ok<ProfileExport>, ProblemHttpResult>> ExportAsync(
        string userId, DaprClient dapr, ConsentLedger ledger, ConsentRecorder recorder, ConsentPolicy policy, QuarantinedEvents quarantine, CancellationToken ct)
    {
        if (ConsentRequest.ValidateUserId(userId) is { } invalid) return Problems.Invalid(invalid);
        var profiles = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var sessions = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var ids = new List<string> { userId };
        for (var i = 0; i < ids.Count; i++)
        {
            var items = await dapr.GetBulkStateAsync(StateKeys.Store, [StateKeys.Profile(ids[i]), StateKeys.Session(ids[i])], parallelism: null, cancellationToken: ct);
            foreach (var item in items)
            {
                if (string.IsNullOrEmpty(item.Value)) continue;
                var value = JsonSerializer.Deserialize(item.Value, ContractsJsonContext.Default.JsonElement);
                if (item.Key == StateKeys.Session(ids[i]))
                {
                    sessions[ids[i]] = value;
                    continue;
                }
                profiles[ids[i]] = value;
                foreach (var linked in ErasureSweep.LinkedIds(item.Value))
                {
                    if (!ids.Contains(linked)) ids.Add(linked);
                }
            }
        }
        var history = new Dictionary<string, IReadOnlyList<LedgerEntry>>(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            var entries = await ledger.HistoryAsync(id, 0, int.MaxValue, ct);
            if (entries.Count > 0) history[id] = entries;
        }
        var effective = policy.Effective(await recorder.CurrentAsync(userId, ct));
        var quarantined = await quarantine.OfProfilesAsync(ids, ct);
        return TypedResults.Ok(new ProfileExport(userId, DateTimeOffset.UtcNow, ids.Skip(1).ToList(), profiles, sessions, effective, history, quarantined));
    }
}
