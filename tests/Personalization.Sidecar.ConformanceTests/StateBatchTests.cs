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
    private sealed record Counted(int Count, string Padding);

    /// <summary>Adds one to a key's count, guarded by its etag.</summary>
    private sealed class Increment(string key) : KeyUpdate(key)
    {
        public override IReadOnlyList<StateTransactionRequest> Plan(Stored stored, IReadOnlyDictionary<string, Stored> others)
        {
            var current = JsonSerializer.Deserialize<Counted>(stored.Json!)!;
            return [Write(stored, JsonSerializer.SerializeToUtf8Bytes(current with { Count = current.Count + 1 }))];
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
        Assert.All(stored, item => Assert.Equal(1, JsonSerializer.Deserialize<Counted>(item.Value)!.Count));
    }
}
