using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Personalization.Contracts;

namespace Personalization.Streaming;

public static class PrivacyExtensions
{
    /// <summary>The <see cref="UserIdHasher"/> of <c>Privacy:HashKey</c>; a missing or short key fails the first use with the setting's name.</summary>
    public static IHostApplicationBuilder AddUserIdHasher(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton(sp => new UserIdHasher(sp.GetRequiredService<IConfiguration>()[UserIdHasher.ConfigurationKey] ?? ""));
        return builder;
    }
}

/// <summary>
/// The keyed hash under which an erased user is remembered (suppression list, pseudonymized ledger rows):
/// HMAC-SHA256 of the id with <c>Privacy:HashKey</c>, hex. Keyed, so a list of hashes cannot be checked against
/// guessed ids (e-mail addresses, say) without the key; every service that reads the suppression list has the same key.
/// </summary>
public sealed class UserIdHasher
{
    public const string ConfigurationKey = "Privacy:HashKey";
    public const int MinKeyLength = 16;

    private readonly byte[] _key;

    public UserIdHasher(string key)
    {
        if (key is not { Length: >= MinKeyLength })
        {
            throw new InvalidOperationException($"{ConfigurationKey} must be at least {MinKeyLength} characters (it keys the hashes of erased user ids)");
        }
        _key = Encoding.UTF8.GetBytes(key);
    }

    public string Hash(string userId) => Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(userId)));

    public string SuppressionKey(string userId) => StateKeys.Suppressed(Hash(userId));
}

/// <summary>
/// The rule every stage after consent applies when it processes an event: it goes on only if its user is not erased
/// (no suppression marker) and none of the purposes consent let it through for (<see cref="CollectedEvent.Purposes"/>)
/// has been revoked since. Both keys (<see cref="Keys"/>) are read in the stage's one bulk get of the batch, so the check
/// costs no round trip; <see cref="Read"/> decodes them once per profile and batch. A purpose the user never stated
/// keeps its default, and defaults do not change while the system runs, so only an explicit <c>false</c> revokes.
/// </summary>
public readonly record struct ConsentCheck(bool IsErased, ConsentState? Consent)
{
    /// <summary>What <see cref="Refusal"/> answers for an erased user's event.</summary>
    public const string Erased = "erased";

    /// <summary>The keys to read for a profile: its consent, and its suppression marker.</summary>
    public static string[] Keys(string profileId, UserIdHasher hasher) => [StateKeys.Consent(profileId), hasher.SuppressionKey(profileId)];

    /// <summary>The check of one profile, from what the bulk get found of its <see cref="Keys"/>.</summary>
    public static ConsentCheck Read(string profileId, UserIdHasher hasher, IReadOnlyDictionary<string, Stored> read) => new(
        read.ContainsKey(hasher.SuppressionKey(profileId)),
        read.TryGetValue(StateKeys.Consent(profileId), out var stored) && stored.Json is { } json
            ? JsonSerializer.Deserialize(json, ContractsJsonContext.Default.ConsentState)
            : null);

    /// <summary>The purpose that now stops this event of the profile, <see cref="Erased"/> when its user is, or null when it may go on.</summary>
    public string? Refusal(CollectedEvent e)
    {
        if (IsErased) return Erased;
        if (e.Purposes is not { Count: > 0 } purposes || Consent is null) return null;
        foreach (var purpose in purposes)
        {
            if (Consent.Purposes.TryGetValue(purpose, out var granted) && !granted) return purpose;
        }
        return null;
    }
}
