using System.Text.Json.Serialization;

namespace Personalization.Consent.Model;

/// <summary>What happens to a user's id after their erasure (<c>Privacy:AfterErasure</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AfterErasure>))]
public enum AfterErasure
{
    /// <summary>The id's keyed hash stays on the suppression list: events that arrive for it later are dropped.</summary>
    Suppress,

    /// <summary>Events that arrive after the erasure has completed are collected again, as for a new user.</summary>
    AllowRecollection,
}

/// <summary>Bound from the <c>Privacy</c> section.</summary>
public sealed class PrivacyOptions
{
    public const string SectionName = "Privacy";

    public AfterErasure AfterErasure { get; set; } = AfterErasure.Suppress;

    /// <summary>
    /// <c>Privacy:ErasureSettle</c>: how long after its first sweep an erasure sweeps again, for what a stage had read
    /// before the user was suppressed and wrote after the first sweep. Longer than a batch takes under load.
    /// </summary>
    public TimeSpan ErasureSettle { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>What was removed from one store, per kind of data.</summary>
public sealed record StoreErasure(string Store, string Status, IReadOnlyDictionary<string, long> Removed, string? Detail = null);

/// <summary>What <c>GET /v1/privacy/erasures/{id}</c> answers; the user id is not part of it (it is gone).</summary>
public sealed record ErasureStatus(
    Guid ErasureId,
    string Status,
    DateTimeOffset RequestedAt,
    string RequestedBy,
    DateTimeOffset? CompletedAt,
    AfterErasure? AfterErasure,
    IReadOnlyList<StoreErasure> Stores);

/// <summary>Statuses of an erasure.</summary>
public static class ErasureStates
{
    public const string Running = "running";
    public const string Completed = "completed";
}

/// <summary>Counts of one erasure, added up over its sweeps.</summary>
public sealed class ErasureTally
{
    public Dictionary<string, long> Redis { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, long> Postgres { get; } = new(StringComparer.Ordinal);

    public static void Add(Dictionary<string, long> counts, string kind, long count) => counts[kind] = counts.GetValueOrDefault(kind) + count;

    public IReadOnlyList<StoreErasure> Stores(string status) =>
    [
        new("redis", status, Redis, "profile, sessions, consent copy, seen sets and de-duplication markers of the user and every anonymous id linked to them"),
        new("postgresql", status, Postgres, "consent ledger rows keep what was consented, when and how, under the keyed hash of the id instead of the id (proof of consent); kept dead letters holding any of the ids are deleted"),
        new("rabbitmq", status, new Dictionary<string, long>(),
            "messages of the user still queued are dropped when consumed: every stage checks the suppression list"),
    ];
}
