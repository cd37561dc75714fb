namespace Personalization.Aggregation.Model;

/// <summary>
/// The message ids folded into one profile within the de-duplication window, each with the time (Unix seconds) it
/// may be forgotten; stored under <see cref="Contracts.StateKeys.Seen"/> and written in the same transaction as the
/// profile, so a profile and the record of what it holds never disagree.
/// <para>One key per profile rather than one marker per event: a batch reads and writes one key per profile whatever
/// its number of events, and erasure finds every message id of a user in it. A profile that takes more than
/// <see cref="AggregationOptions.MaxSeenPerProfile"/> events within the window keeps its newest ones.</para>
/// </summary>
public sealed record SeenSet(Dictionary<string, long> Ids)
{
    public static SeenSet Empty() => new(new Dictionary<string, long>(StringComparer.Ordinal));

    public bool Contains(string messageId, DateTimeOffset now) =>
        Ids.TryGetValue(messageId, out var until) && until > now.ToUnixTimeSeconds();

    /// <summary>Both sets in one (a merged profile's): each id kept until the later of its two expiries.</summary>
    public SeenSet Join(SeenSet other)
    {
        var ids = new Dictionary<string, long>(Ids, StringComparer.Ordinal);
        foreach (var (id, until) in other.Ids) ids[id] = Math.Max(until, ids.GetValueOrDefault(id));
        return new SeenSet(ids);
    }

    /// <summary>This set without what expired, with <paramref name="added"/> kept for <paramref name="window"/>, at most <paramref name="max"/> ids.</summary>
    public SeenSet With(IEnumerable<string> added, DateTimeOffset now, TimeSpan window, int max)
    {
        var nowSeconds = now.ToUnixTimeSeconds();
        var until = (now + window).ToUnixTimeSeconds();
        var ids = new Dictionary<string, long>(Ids.Count + 8, StringComparer.Ordinal);
        foreach (var (id, expires) in Ids)
        {
            if (expires > nowSeconds) ids[id] = expires;
        }
        foreach (var id in added) ids[id] = until;
        if (ids.Count <= max) return new SeenSet(ids);
        // Keep the newest; among ids of one second, keep the ordinal-first, so the result depends on the input only.
        var kept = ids.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Take(max);
        return new SeenSet(kept.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal));
    }
}
