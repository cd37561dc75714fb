using System.Text.Json;
using Dapr.Client;
using Personalization.Contracts;
using Personalization.ProfileQuery.Extensions;

namespace Personalization.ProfileQuery.Apis;

/// <summary>What a read found for one requested id: the profile to answer (null: none), and whether consent withholds it.</summary>
public sealed record ProfileRead(string RequestedId, ProfileView? Profile, bool Withheld)
{
    /// <summary>The profile, unless withheld: what may be shown or personalized from.</summary>
    public ProfileView? Answer => Withheld ? null : Profile;
}

/// <summary>
/// Reads profiles with their consent, many at once: one bulk state get of every id's profile and consent, then one more
/// per hop for ids merged into another profile (identity resolution leaves a redirect; the merged profile is answered).
/// A user who revoked <c>personalization</c> is withheld from every read at once (the aggregation service deletes the
/// profile when it takes the consent change).
/// </summary>
public sealed class ProfileReader(DaprClient dapr)
{
    /// <summary>Redirects followed at most: a merge leaves one, and a merged master's own ids point at it until they are next merged.</summary>
    public const int MaxRedirects = 4;

    public async Task<ProfileRead> ReadAsync(string id, CancellationToken ct) => (await ReadAsync([id], ct))[0];

    public async Task<IReadOnlyList<ProfileRead>> ReadAsync(IReadOnlyList<string> ids, CancellationToken ct)
    {
        var found = await ReadOnceAsync(ids, ct);
        var current = ids.Select(id => (Profile: found.Profiles.GetValueOrDefault(id), Consent: found.Consents.GetValueOrDefault(id))).ToArray();
        for (var hop = 0; hop < MaxRedirects; hop++)
        {
            var masters = current.Where(c => c.Profile?.MergedInto is not null).Select(c => c.Profile!.MergedInto!).Distinct(StringComparer.Ordinal).ToList();
            if (masters.Count == 0) break;
            var next = await ReadOnceAsync(masters, ct);
            for (var i = 0; i < current.Length; i++)
            {
                if (current[i].Profile?.MergedInto is not { } master) continue;
                current[i] = (next.Profiles.GetValueOrDefault(master), current[i].Consent ?? next.Consents.GetValueOrDefault(master));
            }
        }
        return [.. ids.Select((id, i) =>
        {
            var (profile, consent) = current[i];
            var withheld = consent is not null && consent.Purposes.TryGetValue(Purposes.Personalization, out var granted) && !granted;
            var view = profile is { IsAnswer: true }
                ? profile with { Consent = consent is null ? null : new ConsentView(consent.Purposes, consent.UpdatedAt) }
                : null;
            return new ProfileRead(id, view, withheld);
        })];
    }

    private async Task<(Dictionary<string, ProfileView> Profiles, Dictionary<string, ConsentState> Consents)> ReadOnceAsync(IReadOnlyList<string> ids, CancellationToken ct)
    {
        var keys = new List<string>(ids.Count * 2);
        var owners = new Dictionary<string, (string Id, bool IsProfile)>(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            if (owners.TryAdd(StateKeys.Profile(id), (id, true))) keys.Add(StateKeys.Profile(id));
            if (owners.TryAdd(StateKeys.Consent(id), (id, false))) keys.Add(StateKeys.Consent(id));
        }
        var items = await dapr.GetBulkStateAsync(StateKeys.Store, keys, parallelism: null, cancellationToken: ct);
        var profiles = new Dictionary<string, ProfileView>(StringComparer.Ordinal);
        var consents = new Dictionary<string, ConsentState>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (string.IsNullOrEmpty(item.Value) || !owners.TryGetValue(item.Key, out var owner)) continue;
            if (owner.IsProfile) profiles[owner.Id] = JsonSerializer.Deserialize(item.Value, ProfileQueryJsonContext.Default.ProfileView)!;
            else consents[owner.Id] = JsonSerializer.Deserialize(item.Value, ProfileQueryJsonContext.Default.ConsentState)!;
        }
        return (profiles, consents);
    }
}
