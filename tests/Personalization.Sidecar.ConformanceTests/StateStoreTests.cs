using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapr.Client;
using Grpc.Core;
using Personalization.Sidecar.ConformanceTests.Infrastructure;

namespace Personalization.Sidecar.ConformanceTests;

public sealed class StateSidecarFixture : SidecarFixture
{
    public StoreSidecars Stores { get; private set; } = null!;

    protected override Task StartAsync()
    {
        Stores = Own(new StoreSidecars($"conf-state-{RunId}", Infra));
        return Task.CompletedTask;
    }
}

/// <summary>State API semantics through Dapr.Client (gRPC) and raw HTTP, on state.redis and state.postgresql v2.</summary>
[Collection(ConformanceCollection.Name)]
public sealed class StateStoreTests(InfrastructureFixture infra, StateSidecarFixture fixture)
    : IClassFixture<StateSidecarFixture>, IAsyncLifetime
{
    public sealed record Profile(string Name, int Visits);

    public Task InitializeAsync() => fixture.EnsureStartedAsync(infra);

    public Task DisposeAsync() => Task.CompletedTask;

    private static string NewKey() => "key-" + Guid.NewGuid().ToString("N");

    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task SavedStateIsReadBackUpdatedAndDeleted(string store)
    {
        var dapr = await fixture.Stores.ClientAsync(store);
        var key = NewKey();

        await dapr.SaveStateAsync(store, key, new Profile("ada", 1));
        var (saved, etag) = await dapr.GetStateAndETagAsync<Profile>(store, key);
        Assert.Equal(new Profile("ada", 1), saved);
        Assert.False(string.IsNullOrEmpty(etag));

        await dapr.SaveStateAsync(store, key, new Profile("ada", 2));
        var (updated, newEtag) = await dapr.GetStateAndETagAsync<Profile>(store, key);
        Assert.Equal(new Profile("ada", 2), updated);
        Assert.NotEqual(etag, newEtag);

        await dapr.DeleteStateAsync(store, key);
        Assert.Null(await dapr.GetStateAsync<Profile>(store, key));
    }

    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task MissingKeyReadsAsNoValueAndNoEtag(string store)
    {
        var dapr = await fixture.Stores.ClientAsync(store);
        var (value, etag) = await dapr.GetStateAndETagAsync<Profile>(store, NewKey());

        Assert.Null(value);
        Assert.True(string.IsNullOrEmpty(etag));
    }

    [Theory]
    [InlineData(ResourcesFolder.RedisStore, null)]
    [InlineData(ResourcesFolder.RedisStore, ConcurrencyMode.FirstWrite)]
    [InlineData(ResourcesFolder.PostgresStore, null)]
    [InlineData(ResourcesFolder.PostgresStore, ConcurrencyMode.FirstWrite)]
    [InlineData(ResourcesFolder.PostgresStore, ConcurrencyMode.LastWrite)]
    public async Task TrySaveWithAStaleEtagReturnsFalseAndKeepsTheStoredValue(string store, ConcurrencyMode? concurrency)
    {
        var dapr = await fixture.Stores.ClientAsync(store);
        var key = NewKey();
        var options = concurrency is null ? null : new StateOptions { Concurrency = concurrency };
        await dapr.SaveStateAsync(store, key, new Profile("first", 1));
        var (_, staleEtag) = await dapr.GetStateAndETagAsync<Profile>(store, key);

        Assert.True(await dapr.TrySaveStateAsync(store, key, new Profile("second", 2), staleEtag, options));
        Assert.False(await dapr.TrySaveStateAsync(store, key, new Profile("third", 3), staleEtag, options));

        Assert.Equal(new Profile("second", 2), await dapr.GetStateAsync<Profile>(store, key));
        Assert.False(await dapr.TryDeleteStateAsync(store, key, staleEtag, options));
        Assert.NotNull(await dapr.GetStateAsync<Profile>(store, key));
    }

    /// <summary>Dapr's state.redis ignores the etag under last-write concurrency: the last write wins.</summary>
    [Fact]
    public async Task RedisLastWriteConcurrencyIgnoresAStaleEtagAndTheLastWriteWins()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.RedisStore);
        var store = ResourcesFolder.RedisStore;
        var key = NewKey();
        var lastWrite = new StateOptions { Concurrency = ConcurrencyMode.LastWrite };
        await dapr.SaveStateAsync(store, key, new Profile("first", 1));
        var (_, staleEtag) = await dapr.GetStateAndETagAsync<Profile>(store, key);
        await dapr.SaveStateAsync(store, key, new Profile("second", 2));

        Assert.True(await dapr.TrySaveStateAsync(store, key, new Profile("third", 3), staleEtag, lastWrite));

        Assert.Equal(new Profile("third", 3), await dapr.GetStateAsync<Profile>(store, key));
    }

    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task TrySaveWithTheCurrentEtagSucceedsAndChangesTheEtag(string store)
    {
        var dapr = await fixture.Stores.ClientAsync(store);
        var key = NewKey();
        await dapr.SaveStateAsync(store, key, new Profile("first", 1));
        var (_, etag) = await dapr.GetStateAndETagAsync<Profile>(store, key);

        Assert.True(await dapr.TrySaveStateAsync(store, key, new Profile("second", 2), etag));

        var (value, newEtag) = await dapr.GetStateAndETagAsync<Profile>(store, key);
        Assert.Equal(new Profile("second", 2), value);
        Assert.NotEqual(etag, newEtag);
        Assert.True(await dapr.TryDeleteStateAsync(store, key, newEtag));
        Assert.Null(await dapr.GetStateAsync<Profile>(store, key));
    }

    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task BulkGetReturnsEveryRequestedKeyWithValuesAndEtags(string store)
    {
        var dapr = await fixture.Stores.ClientAsync(store);
        var keys = Enumerable.Range(0, 3).Select(_ => NewKey()).ToArray();
        for (var i = 0; i < keys.Length; i++)
        {
            await dapr.SaveStateAsync(store, keys[i], new Profile($"user{i}", i));
        }

        var missing = NewKey();
        var items = await dapr.GetBulkStateAsync(store, [.. keys, missing], parallelism: 2);

        Assert.Equal(4, items.Count);
        for (var i = 0; i < keys.Length; i++)
        {
            var item = Assert.Single(items, x => x.Key == keys[i]);
            Assert.Equal(new Profile($"user{i}", i), JsonSerializer.Deserialize<Profile>(item.Value, JsonSerializerOptions.Web));
            var (_, etag) = await dapr.GetStateAndETagAsync<Profile>(store, keys[i]);
            Assert.Equal(etag, item.ETag);
        }

        var absent = Assert.Single(items, x => x.Key == missing);
        Assert.True(string.IsNullOrEmpty(absent.Value));
    }

    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task TransactionAppliesEveryUpsertAndDelete(string store)
    {
        var dapr = await fixture.Stores.ClientAsync(store);
        var (a, b, doomed) = (NewKey(), NewKey(), NewKey());
        await dapr.SaveStateAsync(store, doomed, new Profile("doomed", 0));

        await dapr.ExecuteStateTransactionAsync(store,
        [
            new StateTransactionRequest(a, JsonSerializer.SerializeToUtf8Bytes(new Profile("a", 1), JsonSerializerOptions.Web), StateOperationType.Upsert),
            new StateTransactionRequest(b, JsonSerializer.SerializeToUtf8Bytes(new Profile("b", 2), JsonSerializerOptions.Web), StateOperationType.Upsert),
            new StateTransactionRequest(doomed, null, StateOperationType.Delete),
        ]);

        Assert.Equal(new Profile("a", 1), await dapr.GetStateAsync<Profile>(store, a));
        Assert.Equal(new Profile("b", 2), await dapr.GetStateAsync<Profile>(store, b));
        Assert.Null(await dapr.GetStateAsync<Profile>(store, doomed));
    }

    /// <summary>
    /// PostgreSQL runs the whole transaction in one database transaction, so a stale etag rolls everything back.
    /// (For state.redis see <see cref="TransactionOfHundredsOfOperationsAppliesAllOrNone"/>.)
    /// </summary>
    [Fact]
    public async Task PostgresTransactionWithOneStaleEtagAppliesNoOperation()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.PostgresStore);
        var store = ResourcesFolder.PostgresStore;
        var (fresh, guarded) = (NewKey(), NewKey());
        await dapr.SaveStateAsync(store, guarded, new Profile("guarded", 1));
        var (_, staleEtag) = await dapr.GetStateAndETagAsync<Profile>(store, guarded);
        await dapr.SaveStateAsync(store, guarded, new Profile("guarded", 2));

        var call = () => dapr.ExecuteStateTransactionAsync(store,
        [
            new StateTransactionRequest(fresh, JsonSerializer.SerializeToUtf8Bytes(new Profile("fresh", 1), JsonSerializerOptions.Web), StateOperationType.Upsert),
            new StateTransactionRequest(guarded, JsonSerializer.SerializeToUtf8Bytes(new Profile("guarded", 3), JsonSerializerOptions.Web), StateOperationType.Upsert, staleEtag),
        ]);
        await Assert.ThrowsAnyAsync<global::Dapr.DaprException>(call);

        Assert.Null(await dapr.GetStateAsync<Profile>(store, fresh));
        Assert.Equal(new Profile("guarded", 2), await dapr.GetStateAsync<Profile>(store, guarded));
    }

    /// <summary>
    /// A first-write upsert without etag of a key that exists (created under first-write) is refused, and with it
    /// every other operation of the transaction: Redis through a WATCH condition that aborts the EXEC, PostgreSQL by
    /// rolling the database transaction back. The caller gets the etag-mismatch status (ABORTED).
    /// </summary>
    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task TransactionWithAFirstWriteUpsertOfAnExistingKeyAppliesNothingAndIsAborted(string store)
    {
        var dapr = await fixture.Stores.ClientAsync(store);
        var firstWrite = new StateOptions { Concurrency = ConcurrencyMode.FirstWrite };
        var (fresh, existing, doomed) = (NewKey(), NewKey(), NewKey());
        await dapr.SaveStateAsync(store, existing, new Profile("existing", 1), firstWrite);
        await dapr.SaveStateAsync(store, doomed, new Profile("doomed", 1));

        var status = await DaprErrors.GrpcStatusOfAsync(() => dapr.ExecuteStateTransactionAsync(store,
        [
            new StateTransactionRequest(fresh, Json(new Profile("fresh", 1)), StateOperationType.Upsert),
            new StateTransactionRequest(existing, Json(new Profile("existing", 2)), StateOperationType.Upsert, options: firstWrite),
            new StateTransactionRequest(doomed, null, StateOperationType.Delete),
        ]));

        Assert.Equal(StatusCode.Aborted, status);
        Assert.Null(await dapr.GetStateAsync<Profile>(store, fresh));
        Assert.Equal(new Profile("existing", 1), await dapr.GetStateAsync<Profile>(store, existing));
        Assert.Equal(new Profile("doomed", 1), await dapr.GetStateAsync<Profile>(store, doomed));
    }

    /// <summary>
    /// state.redis refuses any write without etag to a key written under first-write concurrency (its set script checks
    /// the key's <c>first-write</c> field), so inside a transaction that refusal must abort everything too.
    /// </summary>
    [Fact]
    public async Task RedisTransactionOverwritingAFirstWriteKeyWithoutEtagAppliesNothing()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.RedisStore);
        var store = ResourcesFolder.RedisStore;
        var (fresh, existing) = (NewKey(), NewKey());
        await dapr.SaveStateAsync(store, existing, new Profile("existing", 1), new StateOptions { Concurrency = ConcurrencyMode.FirstWrite });

        var status = await DaprErrors.GrpcStatusOfAsync(() => dapr.ExecuteStateTransactionAsync(store,
        [
            new StateTransactionRequest(fresh, Json(new Profile("fresh", 1)), StateOperationType.Upsert),
            new StateTransactionRequest(existing, Json(new Profile("existing", 2)), StateOperationType.Upsert),
        ]));

        Assert.Equal(StatusCode.Aborted, status);
        Assert.Null(await dapr.GetStateAsync<Profile>(store, fresh));
        Assert.Equal(new Profile("existing", 1), await dapr.GetStateAsync<Profile>(store, existing));
    }

    /// <summary>
    /// Services write a whole batch's state in one transaction: 300 operations (new keys, etag-guarded updates,
    /// first-write creations with a TTL, deletes) are applied together; the same batch with one stale etag among them
    /// applies none of them.
    /// </summary>
    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task TransactionOfHundredsOfOperationsAppliesAllOrNone(string store)
    {
        var dapr = await fixture.Stores.ClientAsync(store);
        var created = Enumerable.Range(0, 100).Select(_ => NewKey()).ToArray();
        var updated = Enumerable.Range(0, 100).Select(_ => NewKey()).ToArray();
        var firstWritten = Enumerable.Range(0, 50).Select(_ => NewKey()).ToArray();
        var deleted = Enumerable.Range(0, 50).Select(_ => NewKey()).ToArray();
        await dapr.ExecuteStateTransactionAsync(store,
            [.. updated.Concat(deleted).Select(k => new StateTransactionRequest(k, Json(new Profile(k, 0)), StateOperationType.Upsert))]);
        var etags = (await dapr.GetBulkStateAsync(store, updated, parallelism: 1)).ToDictionary(i => i.Key, i => i.ETag);

        List<StateTransactionRequest> Batch(string suffix) =>
        [
            .. created.Select(k => new StateTransactionRequest(k, Json(new Profile(k + suffix, 1)), StateOperationType.Upsert)),
            .. updated.Select(k => new StateTransactionRequest(k, Json(new Profile(k + suffix, 2)), StateOperationType.Upsert, etags[k])),
            .. firstWritten.Select(k => new StateTransactionRequest(k, Json(new Profile(k + suffix, 3)), StateOperationType.Upsert,
                metadata: new Dictionary<string, string> { ["ttlInSeconds"] = "600" }, options: new StateOptions { Concurrency = ConcurrencyMode.FirstWrite })),
            .. deleted.Select(k => new StateTransactionRequest(k, null, StateOperationType.Delete)),
        ];

        // One etag of the batch goes stale: the whole batch must be refused.
        var last = updated[^1];
        await dapr.SaveStateAsync(store, last, new Profile(last, 0));
        Assert.Equal(StatusCode.Aborted, await DaprErrors.GrpcStatusOfAsync(() => dapr.ExecuteStateTransactionAsync(store, Batch("-stale"))));
        Assert.All(await dapr.GetBulkStateAsync(store, [.. created, .. firstWritten], parallelism: 1), i => Assert.True(string.IsNullOrEmpty(i.Value), $"{i.Key} was written"));
        Assert.All(await dapr.GetBulkStateAsync(store, [.. updated, .. deleted], parallelism: 1), i => Assert.Equal(new Profile(i.Key, 0), Read(i.Value)));

        (_, etags[last]) = await dapr.GetStateAndETagAsync<Profile>(store, last);
        await dapr.ExecuteStateTransactionAsync(store, Batch(""));

        Assert.All(await dapr.GetBulkStateAsync(store, created, parallelism: 1), i => Assert.Equal(new Profile(i.Key, 1), Read(i.Value)));
        Assert.All(await dapr.GetBulkStateAsync(store, updated, parallelism: 1), i => Assert.Equal(new Profile(i.Key, 2), Read(i.Value)));
        Assert.All(await dapr.GetBulkStateAsync(store, firstWritten, parallelism: 1), i => Assert.Equal(new Profile(i.Key, 3), Read(i.Value)));
        Assert.All(await dapr.GetBulkStateAsync(store, deleted, parallelism: 1), i => Assert.True(string.IsNullOrEmpty(i.Value), $"{i.Key} was not deleted"));
    }

    private static byte[] Json(Profile profile) => JsonSerializer.SerializeToUtf8Bytes(profile, JsonSerializerOptions.Web);

    private static Profile? Read(string json) => JsonSerializer.Deserialize<Profile>(json, JsonSerializerOptions.Web);

    [Fact]
    public async Task RedisTransactionWithAMalformedEtagIsRejectedBeforeAnythingIsApplied()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.RedisStore);
        var store = ResourcesFolder.RedisStore;
        var (fresh, guarded) = (NewKey(), NewKey());
        await dapr.SaveStateAsync(store, guarded, new Profile("guarded", 1));

        var status = await DaprErrors.GrpcStatusOfAsync(() => dapr.ExecuteStateTransactionAsync(store,
        [
            new StateTransactionRequest(fresh, JsonSerializer.SerializeToUtf8Bytes(new Profile("fresh", 1), JsonSerializerOptions.Web), StateOperationType.Upsert),
            new StateTransactionRequest(guarded, JsonSerializer.SerializeToUtf8Bytes(new Profile("guarded", 3), JsonSerializerOptions.Web), StateOperationType.Upsert, "not-a-version"),
        ]));

        Assert.NotEqual(StatusCode.OK, status);
        Assert.Null(await dapr.GetStateAsync<Profile>(store, fresh));
        Assert.Equal(new Profile("guarded", 1), await dapr.GetStateAsync<Profile>(store, guarded));
    }

    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task StateSavedWithTtlExpires(string store)
    {
        var sidecar = await fixture.Stores.SidecarAsync(store);
        var dapr = sidecar.CreateClient();
        var key = NewKey();
        var keeper = NewKey();

        await dapr.SaveStateAsync(store, key, new Profile("brief", 1), metadata: new Dictionary<string, string> { ["ttlInSeconds"] = "1" });
        await dapr.SaveStateAsync(store, keeper, new Profile("keeper", 1));

        Assert.Equal(new Profile("brief", 1), await dapr.GetStateAsync<Profile>(store, key));
        await Eventually.IsTrueAsync(
            async () => await dapr.GetStateAsync<Profile>(store, key) is null,
            $"key {key} in {store} to expire after its 1 s TTL",
            TimeSpan.FromSeconds(6),
            () => sidecar.OutputTail());
        Assert.Equal(new Profile("keeper", 1), await dapr.GetStateAsync<Profile>(store, keeper));
    }

    /// <summary>daprd decodes request bodies with Go's encoding/json: names match ignoring case, unknown fields are ignored.</summary>
    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task HttpSaveBulkGetAndTransactionReadFieldNamesIgnoringCaseAsDaprdDoes(string store)
    {
        var http = (await fixture.Stores.SidecarAsync(store)).Http;
        var (saved, transacted) = (NewKey(), NewKey());

        async Task<string> PostAsync(string path, string json)
        {
            using var response = await http.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{path} answered {(int)response.StatusCode}: {body}");
            return body;
        }

        await PostAsync($"/v1.0/state/{store}",
            $$"""[{"KEY":"{{saved}}","Value":{"name":"cased","visits":1},"Options":{"Concurrency":"first-write"},"MetaData":{},"Unknown":1}]""");
        await PostAsync($"/v1.0/state/{store}/transaction",
            $$$$"""{"Operations":[{"Operation":"upsert","Request":{"Key":"{{{{transacted}}}}","VALUE":{"name":"tx","visits":2}}}],"Unknown":{}}""");
        var bulk = JsonNode.Parse(await PostAsync($"/v1.0/state/{store}/bulk", $$"""{"Keys":["{{saved}}","{{transacted}}"],"Parallelism":2}"""))!.AsArray();

        Assert.Equal("cased", (string?)bulk.Single(i => (string?)i!["key"] == saved)!["data"]!["name"]);
        Assert.Equal(2, (int?)bulk.Single(i => (string?)i!["key"] == transacted)!["data"]!["visits"]);
        using var refused = await http.PostAsJsonAsync($"/v1.0/state/{store}", new[] { new { key = saved, value = 3, options = new { concurrency = "first-write" } } });
        Assert.False(refused.IsSuccessStatusCode, "the first write's Options were read: a second first-write without etag is refused");
    }

    [Theory]
    [InlineData(ResourcesFolder.RedisStore)]
    [InlineData(ResourcesFolder.PostgresStore)]
    public async Task HttpStateApiSavesReadsWithAnEtagHeaderAndDeletesWithIfMatch(string store)
    {
        var http = (await fixture.Stores.SidecarAsync(store)).Http;
        var key = NewKey();

        using (var save = await http.PostAsJsonAsync($"/v1.0/state/{store}", new[] { new { key, value = new { name = "http", visits = 7 } } }))
        {
            Assert.Equal(HttpStatusCode.NoContent, save.StatusCode);
        }

        using var get = await http.GetAsync($"/v1.0/state/{store}/{key}");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        var body = JsonNode.Parse(await get.Content.ReadAsStringAsync())!;
        Assert.Equal("http", (string?)body["name"]);
        Assert.Equal(7, (int?)body["visits"]);
        var etag = Assert.Single(get.Headers.GetValues("ETag"));

        using (var staleDelete = new HttpRequestMessage(HttpMethod.Delete, $"/v1.0/state/{store}/{key}"))
        {
            staleDelete.Headers.TryAddWithoutValidation("If-Match", store == ResourcesFolder.RedisStore ? "999" : Guid.NewGuid().ToString());
            using var response = await http.SendAsync(staleDelete);
            Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        }

        using (var delete = new HttpRequestMessage(HttpMethod.Delete, $"/v1.0/state/{store}/{key}"))
        {
            delete.Headers.TryAddWithoutValidation("If-Match", etag);
            using var response = await http.SendAsync(delete);
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        using var gone = await http.GetAsync($"/v1.0/state/{store}/{key}");
        Assert.Equal(HttpStatusCode.NoContent, gone.StatusCode);
    }

    [Fact]
    public async Task UnknownStateStoreIsAnInvalidArgumentOverGrpcAndErrStateStoreNotFoundOverHttp()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.RedisStore);
        Assert.Equal(StatusCode.InvalidArgument,
            await DaprErrors.GrpcStatusOfAsync(() => dapr.GetStateAsync<Profile>("no-such-store", "k")));

        using var response = await (await fixture.Stores.SidecarAsync(ResourcesFolder.RedisStore)).Http.GetAsync("/v1.0/state/no-such-store/k");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("ERR_STATE_STORE_NOT_FOUND", (string?)error["errorCode"]);
        Assert.Contains("no-such-store", (string?)error["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task MalformedRedisEtagIsInvalidArgumentOverGrpcAndBadRequestOverHttp()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.RedisStore);
        var store = ResourcesFolder.RedisStore;
        var key = NewKey();
        await dapr.SaveStateAsync(store, key, new Profile("x", 1));

        Assert.Equal(StatusCode.InvalidArgument,
            await DaprErrors.GrpcStatusOfAsync(() => dapr.TrySaveStateAsync(store, key, new Profile("y", 2), "not-a-number")));

        using var content = new StringContent(
            $$"""[{"key":"{{key}}","value":{"name":"y","visits":2},"etag":"not-a-number"}]""", Encoding.UTF8, "application/json");
        using var response = await (await fixture.Stores.SidecarAsync(store)).Http.PostAsync($"/v1.0/state/{store}", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(new Profile("x", 1), await dapr.GetStateAsync<Profile>(store, key));
    }

    /// <summary>Dapr's state.postgresql v2 treats an etag that is not a uuid as a mismatch (ABORTED), not as invalid.</summary>
    [Fact]
    public async Task MalformedPostgresEtagIsAMismatchSoTrySaveReturnsFalse()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.PostgresStore);
        var store = ResourcesFolder.PostgresStore;
        var key = NewKey();
        await dapr.SaveStateAsync(store, key, new Profile("x", 1));

        Assert.False(await dapr.TrySaveStateAsync(store, key, new Profile("y", 2), "not-a-uuid"));

        Assert.Equal(new Profile("x", 1), await dapr.GetStateAsync<Profile>(store, key));
    }
}
