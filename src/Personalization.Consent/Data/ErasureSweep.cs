using System.Text.Json;
using Dapr.Client;
using Personalization.Consent.Extensions;
using Personalization.Consent.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.Data;

/// <summary>
/// One pass of an erasure over every store. It finds the user's keys in the state store (profile, session, consent
/// copy, seen set) and, through the profile, every id linked to them (anonymous ids, ids merged in, the profile a
/// merged id points to), with theirs; from the seen sets and
/// sessions, the message ids whose de-duplication markers remain. Every id found is put on the suppression list
/// before anything is deleted, so no stage writes anything new for it afterwards; then the keys go in transactions, the
/// ledger rows are pseudonymized, and the kept dead letters and quarantined events holding any of the ids, the ids' rows in the profile
/// directory and their identity links are deleted. A pass is idempotent: the second finds only what a stage wrote in between.
/// </summary>
public sealed class ErasureSweep(
    DaprClient dapr, ConsentLedger ledger, Erasures erasures, DeadLetters deadLetters, QuarantinedEvents quarantine, UserIdHasher hasher)
{
    private const int KeysPerTransaction = 500;

    /// <summary>Key prefix → the name its count has in the erasure's status.</summary>
    private static readonly (string Prefix, string Kind)[] Kinds =
    [
        (StateKeys.Profile(""), "profiles"),
        (StateKeys.Session(""), "sessions"),
        (StateKeys.Consent(""), "consent"),
        (StateKeys.Seen(""), "seenSets"),
        (StateKeys.Dedupe(""), "dedupeMarkers"),
    ];

    /// <returns>The ids erased: the user's and every id linked to it.</returns>
    public async Task<IReadOnlyCollection<string>> SweepAsync(Guid erasureId, string userId, ErasureTally tally, CancellationToken ct)
    {
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        var ids = new HashSet<string>(StringComparer.Ordinal) { userId };
        var pending = new List<string> { userId };
        while (pending.Count > 0)
        {
            var keys = pending.SelectMany(id => new[] { StateKeys.Profile(id), StateKeys.Session(id), StateKeys.Consent(id), StateKeys.Seen(id) });
            var next = new List<string>();
            foreach (var (key, json) in await ReadAsync(keys, ct))
            {
                found[key] = json;
                if (!key.StartsWith(StateKeys.Profile(""), StringComparison.Ordinal)) continue;
                foreach (var linked in LinkedIds(json))
                {
                    if (ids.Add(linked)) next.Add(linked);
                }
            }
            pending = next;
        }
        var markers = found.SelectMany(item => MessageIds(item.Key, item.Value)).Distinct().Select(StateKeys.Dedupe);
        foreach (var (key, json) in await ReadAsync(markers, ct)) found[key] = json;

        await SuppressAsync(erasureId, ids, tally, ct);
        foreach (var chunk in found.Keys.Chunk(KeysPerTransaction))
        {
            await dapr.ExecuteStateTransactionAsync(StateKeys.Store,
                chunk.Select(key => new StateTransactionRequest(key, null, StateOperationType.Delete)).ToList(), cancellationToken: ct);
        }
        foreach (var key in found.Keys)
        {
            ErasureTally.Add(tally.Redis, Kinds.First(k => key.StartsWith(k.Prefix, StringComparison.Ordinal)).Kind, 1);
        }
        ErasureTally.Add(tally.Postgres, "consentLedgerRowsPseudonymized", await ledger.PseudonymizeAsync([.. ids], hasher.Hash, ct));
        ErasureTally.Add(tally.Postgres, "deadLetters", await deadLetters.EraseAsync(ids, ct));
        ErasureTally.Add(tally.Postgres, "quarantinedEvents", await quarantine.EraseAsync(ids, ct));
        ErasureTally.Add(tally.Postgres, "profileDirectory", await ledger.DeleteListedProfilesAsync(ids, ct));
        ErasureTally.Add(tally.Postgres, "identityLinks", await ledger.DeleteIdentityLinksAsync(ids, ct));
        return ids;
    }

    /// <summary>Puts ids on the suppression list: a marker in the state store (what the stages read) and a row in PostgreSQL.</summary>
    public async Task SuppressAsync(Guid erasureId, IReadOnlyCollection<string> ids, ErasureTally? tally, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var marker = JsonSerializer.SerializeToUtf8Bytes(new SuppressionMarker(erasureId, now), ConsentJsonContext.Default.SuppressionMarker);
        await dapr.ExecuteStateTransactionAsync(StateKeys.Store,
            ids.Select(id => new StateTransactionRequest(hasher.SuppressionKey(id), marker, StateOperationType.Upsert)).ToList(), cancellationToken: ct);
        var added = await erasures.SuppressAsync(ids.Select(hasher.Hash), erasureId, now, ct);
        if (tally is not null) ErasureTally.Add(tally.Postgres, "suppressionListEntries", added);
    }

    /// <summary>Takes ids off the suppression list again (<see cref="AfterErasure.AllowRecollection"/>).</summary>
    public async Task UnsuppressAsync(IReadOnlyCollection<string> ids, CancellationToken ct)
    {
        await dapr.ExecuteStateTransactionAsync(StateKeys.Store,
            ids.Select(id => new StateTransactionRequest(hasher.SuppressionKey(id), null, StateOperationType.Delete)).ToList(), cancellationToken: ct);
        await erasures.UnsuppressAsync(ids.Select(hasher.Hash), ct);
    }

    private async Task<List<(string Key, string Json)>> ReadAsync(IEnumerable<string> keys, CancellationToken ct)
    {
        var found = new List<(string, string)>();
        foreach (var slice in keys.Chunk(StateBatch.KeysPerRead))
        {
            foreach (var item in await dapr.GetBulkStateAsync(StateKeys.Store, slice, parallelism: null, cancellationToken: ct))
            {
                if (!string.IsNullOrEmpty(item.Value)) found.Add((item.Key, item.Value));
            }
        }
        return found;
    }

    /// <summary>
    /// The ids a stored profile links: its user id, its anonymous ids, the ids merged into it, and, for what stays under
    /// a merged id, the profile it was merged into.
    /// </summary>
    public static IEnumerable<string> LinkedIds(string profileJson)
    {
        var profile = JsonSerializer.Deserialize(profileJson, ContractsJsonContext.Default.UserProfile);
        if (profile is null) yield break;
        if (profile.UserId is { Length: > 0 } user) yield return user;
        if (profile.MergedInto is { Length: > 0 } master) yield return master;
        foreach (var anonymous in profile.AnonymousIds) yield return anonymous;
        foreach (var merged in profile.MergedIds) yield return merged;
    }

    /// <summary>The message ids a seen set (<c>ids</c>: id → expiry) or a session (<c>recent[].messageId</c>) names.</summary>
    private static IEnumerable<string> MessageIds(string key, string json)
    {
        var isSeen = key.StartsWith(StateKeys.Seen(""), StringComparison.Ordinal);
        if (!isSeen && !key.StartsWith(StateKeys.Session(""), StringComparison.Ordinal)) return [];
        using var document = JsonDocument.Parse(json);
        var ids = new List<string>();
        var root = document.RootElement;
        if (isSeen && root.TryGetProperty("ids", out var seen) && seen.ValueKind == JsonValueKind.Object)
        {
            foreach (var id in seen.EnumerateObject()) ids.Add(id.Name);
        }
        else if (!isSeen && root.TryGetProperty("recent", out var recent) && recent.ValueKind == JsonValueKind.Array)
        {
            foreach (var message in recent.EnumerateArray())
            {
                if (message.TryGetProperty("messageId", out var id) && id.GetString() is { } messageId) ids.Add(messageId);
            }
        }
        return ids;
    }
}

/// <summary>The value of a suppression marker (<see cref="StateKeys.Suppressed"/>): which erasure put it there, and when.</summary>
public sealed record SuppressionMarker(Guid ErasureId, DateTimeOffset Since);
