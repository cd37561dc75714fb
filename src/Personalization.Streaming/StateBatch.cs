using Dapr;
using Dapr.Client;

namespace Personalization.Streaming;

/// <summary>
/// Runs many <see cref="KeyUpdate"/>s against one Dapr state store in two round trips: one bulk get of every key they
/// read, one transaction of everything they write, all or nothing. A refused transaction (another writer changed a
/// key since the read: etag mismatch, or a store hiccup) is redone key by key, concurrently, each re-read and
/// re-planned, up to <see cref="MaxAttempts"/> times; an update that still fails gets its <see cref="KeyUpdate.Failure"/>.
/// A failing bulk read throws: nothing was written.
/// </summary>
public static class StateBatch
{
    public const int MaxAttempts = 8;

    /// <returns>How many updates had to be redone on their own (0 when the one transaction went through).</returns>
    public static async Task<int> UpdateAsync(DaprClient dapr, string store, IReadOnlyList<KeyUpdate> updates, CancellationToken ct)
    {
        if (updates.Count == 0) return 0;
        var (stored, others) = await ReadAsync(dapr, store, updates, ct);
        var operations = new List<StateTransactionRequest>();
        foreach (var update in updates)
        {
            operations.AddRange(update.Plan(stored.GetValueOrDefault(update.Key), others));
        }
        if (operations.Count == 0) return 0;
        try
        {
            await dapr.ExecuteStateTransactionAsync(store, operations, cancellationToken: ct);
            return 0;
        }
        catch (DaprException)
        {
            // Which key conflicted is not reported: redo each update on its own.
        }
        await Task.WhenAll(updates.Select(update => UpdateAloneAsync(dapr, store, update, ct)));
        return updates.Count;
    }

    private static async Task UpdateAloneAsync(DaprClient dapr, string store, KeyUpdate update, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var (stored, others) = await ReadAsync(dapr, store, [update], ct);
                var operations = update.Plan(stored.GetValueOrDefault(update.Key), others);
                if (operations.Count > 0) await dapr.ExecuteStateTransactionAsync(store, operations, cancellationToken: ct);
                return;
            }
            catch (DaprException) when (attempt < MaxAttempts)
            {
                // Spread the writers of one hot key apart.
                await Task.Delay(Random.Shared.Next(1, 5 * attempt), ct);
            }
            catch (DaprException e)
            {
                update.Failure = $"{update.Key} not written in {MaxAttempts} attempts: {e.InnerException?.Message ?? e.Message}";
                return;
            }
        }
    }

    private static async Task<(Dictionary<string, Stored> Stored, Dictionary<string, string> Others)> ReadAsync(
        DaprClient dapr, string store, IReadOnlyList<KeyUpdate> updates, CancellationToken ct)
    {
        var keys = new List<string>(updates.Count);
        foreach (var update in updates)
        {
            keys.Add(update.Key);
            keys.AddRange(update.AlsoRead);
        }
        var items = await dapr.GetBulkStateAsync(store, keys, parallelism: null, cancellationToken: ct);
        var stored = new Dictionary<string, Stored>(updates.Count, StringComparer.Ordinal);
        var others = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var update in updates) stored[update.Key] = default;
        foreach (var item in items)
        {
            if (stored.ContainsKey(item.Key))
            {
                stored[item.Key] = new Stored(NullIfEmpty(item.Value), NullIfEmpty(item.ETag));
            }
            else if (!string.IsNullOrEmpty(item.Value))
            {
                others[item.Key] = item.Value;
            }
        }
        return (stored, others);
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
