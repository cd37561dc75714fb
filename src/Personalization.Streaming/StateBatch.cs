using Dapr;
using Dapr.Client;
using Grpc.Core;

namespace Personalization.Streaming;

/// <summary>
/// Runs many <see cref="KeyUpdate"/>s against one Dapr state store in two steps: a bulk get of every key they read,
/// then transactions of everything they write. A refused transaction (another writer changed a key since the read:
/// etag mismatch, or a store hiccup) has its updates redone key by key, concurrently, each re-read and re-planned, up
/// to <see cref="MaxAttempts"/> times; an update that still fails gets its <see cref="KeyUpdate.Failure"/>. A failing
/// bulk read throws: nothing was written.
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

    /// <returns>How many updates had to be redone on their own (0 when every transaction went through).</returns>
    public static async Task<int> UpdateAsync(DaprClient dapr, string store, IReadOnlyList<KeyUpdate> updates, CancellationToken ct)
    {
        if (updates.Count == 0) return 0;
        var (stored, others) = await ReadAsync(dapr, store, updates, ct);
        var chunks = new List<Chunk>();
        var chunk = new Chunk();
        foreach (var update in updates)
        {
            var operations = update.Plan(stored.GetValueOrDefault(update.Key), others);
            if (operations.Count == 0) continue;
            var bytes = operations.Sum(o => (long)(o.Value?.Length ?? 0) + o.Key.Length);
            if (chunk.Updates.Count > 0 && chunk.Bytes + bytes > BytesPerTransaction)
            {
                chunks.Add(chunk);
                chunk = new Chunk();
            }
            chunk.Add(update, operations, bytes);
        }
        if (chunk.Updates.Count > 0) chunks.Add(chunk);

        var redone = await Task.WhenAll(chunks.Select(c => WriteAsync(dapr, store, c, ct)));
        return redone.Sum();
    }

    private sealed class Chunk
    {
        public List<KeyUpdate> Updates { get; } = [];
        public List<StateTransactionRequest> Operations { get; } = [];
        public long Bytes { get; private set; }

        public void Add(KeyUpdate update, IReadOnlyList<StateTransactionRequest> operations, long bytes)
        {
            Updates.Add(update);
            Operations.AddRange(operations);
            Bytes += bytes;
        }
    }

    private static async Task<int> WriteAsync(DaprClient dapr, string store, Chunk chunk, CancellationToken ct)
    {
        try
        {
            await dapr.ExecuteStateTransactionAsync(store, chunk.Operations, cancellationToken: ct);
            return 0;
        }
        catch (DaprException)
        {
            // Which key conflicted is not reported: redo each update of this transaction on its own.
        }
        await Task.WhenAll(chunk.Updates.Select(update => UpdateAloneAsync(dapr, store, update, ct)));
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
