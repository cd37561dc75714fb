using Dapr;
using Dapr.Client;
using Grpc.Core;

namespace Personalization.Streaming;

/// <summary>
/// Runs many <see cref="KeyUpdate"/>s against one Dapr state store in two steps: a bulk get of every key they read,
/// then transactions of everything they write. A refused transaction (another writer changed a key since the read:
/// etag mismatch, or a store hiccup) is read again in one bulk get and tried again as a whole with only its changed
/// keys re-planned, up to <see cref="BatchRetries"/> times; after that its updates are redone key by key, concurrently,
/// each re-read and re-planned, up to <see cref="MaxAttempts"/> times; an update that still fails gets its
/// <see cref="KeyUpdate.Failure"/>. A failing bulk read throws: nothing was written.
/// <para>No call may exceed the size a Dapr API message may have (daprd's default is 4 MiB, and Dapr.Client refuses
/// a larger answer): reads go in slices of <see cref="KeysPerRead"/> keys, a slice whose answer is still too large is
/// halved until it fits, and the writes go in transactions of about <see cref="BytesPerTransaction"/>, each holding
/// whole updates (an update's own operations, such as a profile and its seen-markers, are never split).</para>
/// </summary>
public static class StateBatch
{
    public const int MaxAttempts = 8;
    public const int KeysPerRead = 200;
    public const int BytesPerTransaction = 1 << 20;

    /// <summary>Times a refused transaction is tried again as a whole (its changed keys re-planned) before its updates go one by one.</summary>
    public const int BatchRetries = 3;

    /// <returns>How many updates were in a transaction that was refused at first (0 when every one went through).</returns>
    public static async Task<int> UpdateAsync(DaprClient dapr, string store, IReadOnlyList<KeyUpdate> updates, CancellationToken ct)
    {
        if (updates.Count == 0) return 0;
        var (stored, others) = await ReadAsync(dapr, store, updates, ct);
        var chunks = new List<Chunk>();
        var chunk = new Chunk();
        foreach (var update in updates)
        {
            var planned = Planned.Of(update, stored, others);
            if (planned.Operations.Count == 0) continue;
            if (chunk.Updates.Count > 0 && chunk.Bytes + planned.Bytes > BytesPerTransaction)
            {
                chunks.Add(chunk);
                chunk = new Chunk();
            }
            chunk.Add(planned);
        }
        if (chunk.Updates.Count > 0) chunks.Add(chunk);

        var redone = await Task.WhenAll(chunks.Select(c => WriteAsync(dapr, store, c, ct)));
        return redone.Sum();
    }

    /// <summary>An update's operations and the etags of every key they were planned from (its own and what it also read).</summary>
    private sealed record Planned(KeyUpdate Update, IReadOnlyList<StateTransactionRequest> Operations, IReadOnlyList<(string Key, string? ETag)> Basis, long Bytes)
    {
        public static Planned Of(KeyUpdate update, Dictionary<string, Stored> stored, Dictionary<string, Stored> others)
        {
            var own = stored.GetValueOrDefault(update.Key);
            var operations = update.Plan(own, others);
            var basis = new List<(string, string?)>(1 + update.AlsoRead.Count) { (update.Key, own.ETag) };
            foreach (var key in update.AlsoRead) basis.Add((key, others.GetValueOrDefault(key).ETag));
            return new Planned(update, operations, basis, operations.Sum(o => (long)(o.Value?.Length ?? 0) + o.Key.Length));
        }

        /// <summary>Whether every key it was planned from still has the etag it had then.</summary>
        public bool StillHolds(Dictionary<string, Stored> stored, Dictionary<string, Stored> others) =>
            Basis.All(b => (stored.TryGetValue(b.Key, out var s) ? s.ETag : others.GetValueOrDefault(b.Key).ETag) == b.ETag);
    }

    private sealed class Chunk
    {
        public List<Planned> Updates { get; } = [];
        public long Bytes { get; private set; }

        public void Add(Planned planned)
        {
            Updates.Add(planned);
            Bytes += planned.Bytes;
        }
    }

    /// <summary>
    /// One transaction; when it is refused, which key conflicted is not reported, so every key is read again in one
    /// bulk get: the updates whose keys another writer changed meanwhile are re-planned, the others keep their
    /// operations, and the whole is tried again (another writer usually touched a few of hundreds of keys, and redoing
    /// each key alone would cost two round trips per key). After <see cref="BatchRetries"/> refusals, or one where no
    /// key had changed (the store refused for another reason), the updates go one by one.
    /// </summary>
    private static async Task<int> WriteAsync(DaprClient dapr, string store, Chunk chunk, CancellationToken ct)
    {
        var updates = chunk.Updates;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await dapr.ExecuteStateTransactionAsync(store, [.. updates.SelectMany(u => u.Operations)], cancellationToken: ct);
                return attempt == 0 ? 0 : chunk.Updates.Count;
            }
            catch (DaprException) when (attempt < BatchRetries)
            {
            }
            catch (DaprException)
            {
                break;
            }
            var (stored, others) = await ReadAsync(dapr, store, [.. updates.Select(u => u.Update)], ct);
            var changed = false;
            var next = new List<Planned>(updates.Count);
            foreach (var planned in updates)
            {
                if (planned.StillHolds(stored, others))
                {
                    next.Add(planned);
                    continue;
                }
                changed = true;
                var again = Planned.Of(planned.Update, stored, others);
                if (again.Operations.Count > 0) next.Add(again);
            }
            if (next.Count == 0) return chunk.Updates.Count; // every change made the rest unnecessary
            updates = next;
            if (!changed) break; // refused though nothing changed: the store's own trouble, so one by one
        }
        await Task.WhenAll(updates.Select(planned => UpdateAloneAsync(dapr, store, planned.Update, ct)));
        return chunk.Updates.Count;
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

    private static async Task<(Dictionary<string, Stored> Stored, Dictionary<string, Stored> Others)> ReadAsync(
        DaprClient dapr, string store, IReadOnlyList<KeyUpdate> updates, CancellationToken ct)
    {
        var keys = new List<string>(updates.Count);
        foreach (var update in updates)
        {
            keys.Add(update.Key);
            keys.AddRange(update.AlsoRead);
        }
        var slices = keys.Chunk(KeysPerRead).Select(slice => GetBulkAsync(dapr, store, slice, ct));
        var stored = new Dictionary<string, Stored>(updates.Count, StringComparer.Ordinal);
        var others = new Dictionary<string, Stored>(StringComparer.Ordinal);
        foreach (var update in updates) stored[update.Key] = default;
        foreach (var items in await Task.WhenAll(slices))
        {
            foreach (var item in items)
            {
                if (stored.ContainsKey(item.Key))
                {
                    stored[item.Key] = new Stored(NullIfEmpty(item.Value), NullIfEmpty(item.ETag));
                }
                else if (!string.IsNullOrEmpty(item.Value))
                {
                    others[item.Key] = new Stored(item.Value, NullIfEmpty(item.ETag));
                }
            }
        }
        return (stored, others);
    }

    /// <summary>One bulk get; an answer too large for one message is asked for again in two halves.</summary>
    private static async Task<IReadOnlyList<BulkStateItem>> GetBulkAsync(DaprClient dapr, string store, IReadOnlyList<string> keys, CancellationToken ct)
    {
        try
        {
            return await dapr.GetBulkStateAsync(store, keys, parallelism: null, cancellationToken: ct);
        }
        catch (DaprException e) when (keys.Count > 1 && e.InnerException is RpcException { StatusCode: StatusCode.ResourceExhausted })
        {
            var half = keys.Count / 2;
            var parts = await Task.WhenAll(
                GetBulkAsync(dapr, store, keys.Take(half).ToList(), ct),
                GetBulkAsync(dapr, store, keys.Skip(half).ToList(), ct));
            return [.. parts[0], .. parts[1]];
        }
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
