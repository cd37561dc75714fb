using System.Text.Json;
using Dapr.Client;
using Personalization.Sidecar.ConformanceTests.Infrastructure;
using Personalization.Streaming;

namespace Personalization.Sidecar.ConformanceTests;

/// <summary>
/// The services' batch state update (<see cref="StateBatch"/>) through a real sidecar: a delivery touching hundreds of
/// large states must not run into the size limit of one Dapr API message (4 MiB), neither reading nor writing.
/// </summary>
[Collection(ConformanceCollection.Name)]
public sealed class StateBatchTests(InfrastructureFixture infra, StateSidecarFixture fixture)
    : IClassFixture<StateSidecarFixture>, IAsyncLifetime
{
    /// <summary>Stored as DaprClient saves it (web JSON: camelCase), read and written the same way.</summary>
    private sealed record Counted(int Count, string Padding);

    /// <summary>Adds one to a key's count, guarded by its etag.</summary>
    private sealed class Increment(string key) : KeyUpdate(key)
    {
        public override IReadOnlyList<StateTransactionRequest> Plan(Stored stored, IReadOnlyDictionary<string, Stored> others)
        {
            var current = JsonSerializer.Deserialize<Counted>(stored.Json!, JsonSerializerOptions.Web)!;
            return [Write(stored, JsonSerializer.SerializeToUtf8Bytes(current with { Count = current.Count + 1 }, JsonSerializerOptions.Web))];
        }
    }

    /// <summary>
    /// An <see cref="Increment"/> that counts its plans; the first plan of the victim key also writes that key behind
    /// the batch's back, as another replica would between the batch's read and its transaction.
    /// </summary>
    private sealed class CountedIncrement(string key, Action? interfere) : KeyUpdate(key)
    {
        private readonly Increment _increment = new(key);
        private Action? _interfere = interfere;
        public int Plans { get; private set; }

        public override IReadOnlyList<StateTransactionRequest> Plan(Stored stored, IReadOnlyDictionary<string, Stored> others)
        {
            Plans++;
            Interlocked.Exchange(ref _interfere, null)?.Invoke();
            return _increment.Plan(stored, others);
        }
    }

    public Task InitializeAsync() => fixture.EnsureStartedAsync(infra);

    public Task DisposeAsync() => Task.CompletedTask;

    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task AnUpdateOfManyLargeStatesReadsAndWritesThemAllInMessagesOfAllowedSize(string store)
    {
        var dapr = await fixture.Stores.ClientAsync(store);
        // 300 states of 24 KB: 7 MB to read and to write, where one message may carry 4 MiB.
        var padding = new string('x', 24_000);
        var keys = Enumerable.Range(0, 300).Select(i => $"batch-{Guid.NewGuid():N}-{i}").ToList();
        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (key, ct) => await dapr.SaveStateAsync(store, key, new Counted(0, padding), cancellationToken: ct));

        var updates = keys.Select(k => new Increment(k)).ToList();
        var redone = await StateBatch.UpdateAsync(dapr, store, updates, CancellationToken.None);

        Assert.Equal(0, redone);
        Assert.All(updates, u => Assert.Null(u.Failure));
        var stored = await dapr.GetBulkStateAsync(store, keys.Take(100).ToList(), parallelism: null);
        Assert.All(stored, item => Assert.Equal(1, JsonSerializer.Deserialize<Counted>(item.Value, JsonSerializerOptions.Web)!.Count));
    }

    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task ATransactionRefusedForOneChangedKeyIsTriedAgainWholeWithOnlyThatKeyReplanned(string store)
    {
        var dapr = await fixture.Stores.ClientAsync(store);
        var keys = Enumerable.Range(0, 200).Select(i => $"conflict-{Guid.NewGuid():N}-{i}").ToList();
        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (key, ct) => await dapr.SaveStateAsync(store, key, new Counted(0, ""), cancellationToken: ct));
        var victim = keys[137];

        var updates = keys.Select(k => new CountedIncrement(k, k == victim
            ? () => dapr.SaveStateAsync(store, victim, new Counted(10, "")).GetAwaiter().GetResult()
            : null)).ToList();
        var redone = await StateBatch.UpdateAsync(dapr, store, updates, CancellationToken.None);

        // Refused once (every update was in that transaction), then written whole: only the victim planned again.
        Assert.Equal(keys.Count, redone);
        Assert.All(updates, u => Assert.Null(u.Failure));
        Assert.All(updates, u => Assert.Equal(u.Key == victim ? 2 : 1, u.Plans));
        var stored = (await dapr.GetBulkStateAsync(store, keys, parallelism: null)).ToDictionary(i => i.Key, i => JsonSerializer.Deserialize<Counted>(i.Value, JsonSerializerOptions.Web)!.Count);
        Assert.All(keys, k => Assert.Equal(k == victim ? 11 : 1, stored[k]));
    }
}
