using System.Text.Json;
using Dapr.Client;
using Npgsql;
using NpgsqlTypes;
using Personalization.Sidecar.ConformanceTests.Infrastructure;
using StackExchange.Redis;

namespace Personalization.Sidecar.ConformanceTests;

public sealed class LayoutSidecarFixture : SidecarFixture
{
    public StoreSidecars Stores { get; private set; } = null!;

    public ConnectionMultiplexer Redis { get; private set; } = null!;

    public string AppId { get; } = $"conf-layout-{RunId}";

    protected override async Task StartAsync()
    {
        Stores = Own(new StoreSidecars(AppId, Infra));
        Redis = await ConnectionMultiplexer.ConnectAsync(Infra.Redis);
        Own(new AsyncDisposable(Redis.DisposeAsync));
    }

    private sealed class AsyncDisposable(Func<ValueTask> dispose) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => dispose();
    }
}

/// <summary>
/// Data written through the sidecar must sit in the stores exactly as daprd's components write it
/// (dapr/components-contrib state/redis and state/postgresql/v2), so either sidecar can read the other's data.
/// </summary>
[Collection(ConformanceCollection.Name)]
public sealed class StorageLayoutTests(InfrastructureFixture infra, LayoutSidecarFixture fixture)
    : IClassFixture<LayoutSidecarFixture>, IAsyncLifetime
{
    public sealed record Profile(string Name, int Visits);

    public Task InitializeAsync() => fixture.EnsureStartedAsync(infra);

    public Task DisposeAsync() => Task.CompletedTask;

    private static string NewKey() => "layout-" + Guid.NewGuid().ToString("N");

    private static byte[] Json(Profile p) => JsonSerializer.SerializeToUtf8Bytes(p, JsonSerializerOptions.Web);

    [Fact]
    public async Task RedisStateIsAHashUnderAppIdPrefixedKeyWithDataAndAnIncrementingVersion()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.RedisStore);
        var key = NewKey();
        var db = fixture.Redis.GetDatabase();
        var redisKey = $"{fixture.AppId}||{key}";

        await dapr.SaveStateAsync(ResourcesFolder.RedisStore, key, new Profile("ada", 1));

        Assert.Equal(RedisType.Hash, await db.KeyTypeAsync(redisKey));
        var fields = (await db.HashGetAllAsync(redisKey)).ToDictionary(e => e.Name.ToString(), e => e.Value);
        Assert.Equal(Json(new Profile("ada", 1)), (byte[]?)fields["data"]);
        Assert.Equal("1", fields["version"].ToString());
        Assert.False(fields.ContainsKey("first-write"), "last-write saves must not set the first-write field");
        Assert.Equal(2, fields.Count);

        await dapr.SaveStateAsync(ResourcesFolder.RedisStore, key, new Profile("ada", 2));
        Assert.Equal("2", (await db.HashGetAsync(redisKey, "version")).ToString());
        var (_, etag) = await dapr.GetStateAndETagAsync<Profile>(ResourcesFolder.RedisStore, key);
        Assert.Equal("2", etag);
        Assert.Null(await db.KeyTimeToLiveAsync(redisKey));
    }

    [Fact]
    public async Task RedisFirstWriteSaveMarksTheHashWithFirstWriteZero()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.RedisStore);
        var key = NewKey();
        var db = fixture.Redis.GetDatabase();
        await dapr.SaveStateAsync(ResourcesFolder.RedisStore, key, new Profile("ada", 1));

        Assert.True(await dapr.TrySaveStateAsync(ResourcesFolder.RedisStore, key, new Profile("ada", 2), "1",
            new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }));

        var redisKey = $"{fixture.AppId}||{key}";
        Assert.Equal("0", (await db.HashGetAsync(redisKey, "first-write")).ToString());
        Assert.Equal("2", (await db.HashGetAsync(redisKey, "version")).ToString());
    }

    [Fact]
    public async Task RedisTtlBecomesAnExpireOnTheHash()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.RedisStore);
        var key = NewKey();
        await dapr.SaveStateAsync(ResourcesFolder.RedisStore, key, new Profile("ada", 1),
            metadata: new Dictionary<string, string> { ["ttlInSeconds"] = "100" });

        var ttl = await fixture.Redis.GetDatabase().KeyTimeToLiveAsync($"{fixture.AppId}||{key}");
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value.TotalSeconds, 90, 100);
    }

    [Fact]
    public async Task AHashWrittenTheWayDaprdWritesItIsReadThroughTheSidecar()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.RedisStore);
        var key = NewKey();
        var db = fixture.Redis.GetDatabase();
        await db.HashSetAsync($"{fixture.AppId}||{key}", [new HashEntry("data", Json(new Profile("written-by-daprd", 5))), new HashEntry("version", 7)]);

        var (value, etag) = await dapr.GetStateAndETagAsync<Profile>(ResourcesFolder.RedisStore, key);

        Assert.Equal(new Profile("written-by-daprd", 5), value);
        Assert.Equal("7", etag);
        Assert.False(await dapr.TrySaveStateAsync(ResourcesFolder.RedisStore, key, new Profile("x", 0), "6"));
        Assert.True(await dapr.TrySaveStateAsync(ResourcesFolder.RedisStore, key, new Profile("x", 0), "7"));
        Assert.Equal("8", (await db.HashGetAsync($"{fixture.AppId}||{key}", "version")).ToString());
    }

    [Fact]
    public async Task PostgresStateTableHasDaprV2Columns()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.PostgresStore);
        // Any write makes sure the component created its schema.
        await dapr.SaveStateAsync(ResourcesFolder.PostgresStore, NewKey(), new Profile("schema", 0));
        await using var db = await OpenPostgresAsync();

        await using var columns = new NpgsqlCommand(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'state'", db);
        var found = new Dictionary<string, string>();
        await using (var reader = await columns.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                found[reader.GetString(0)] = reader.GetString(1);
            }
        }

        Assert.Equal("text", found.GetValueOrDefault("key"));
        Assert.Equal("bytea", found.GetValueOrDefault("value"));
        Assert.Equal("uuid", found.GetValueOrDefault("etag"));
        Assert.Equal("timestamp with time zone", found.GetValueOrDefault("created_at"));
        Assert.Equal("timestamp with time zone", found.GetValueOrDefault("updated_at"));
        Assert.Equal("timestamp with time zone", found.GetValueOrDefault("expires_at"));

        await using var primaryKey = new NpgsqlCommand(
            """
            SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = 'state'::regclass AND i.indisprimary
            """, db);
        Assert.Equal("key", (string?)await primaryKey.ExecuteScalarAsync());

        await using var metadataTable = new NpgsqlCommand(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'dapr_metadata' AND column_name IN ('key', 'value')", db);
        Assert.Equal(2L, (long)(await metadataTable.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task PostgresRowHoldsTheValueBytesUnderAppIdPrefixedKeyWithAUuidEtagThatChangesOnEveryWrite()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.PostgresStore);
        var key = NewKey();
        await dapr.SaveStateAsync(ResourcesFolder.PostgresStore, key, new Profile("ada", 1));
        var (_, etag) = await dapr.GetStateAndETagAsync<Profile>(ResourcesFolder.PostgresStore, key);

        var first = await ReadRowAsync($"{fixture.AppId}||{key}");
        Assert.NotNull(first);
        Assert.Equal(Json(new Profile("ada", 1)), first.Value.Value);
        Assert.Equal(Guid.Parse(etag), first.Value.Etag);
        Assert.Null(first.Value.ExpiresAt);
        Assert.Null(first.Value.UpdatedAt);

        await dapr.SaveStateAsync(ResourcesFolder.PostgresStore, key, new Profile("ada", 2));
        var second = await ReadRowAsync($"{fixture.AppId}||{key}");
        Assert.NotNull(second);
        Assert.Equal(Json(new Profile("ada", 2)), second.Value.Value);
        Assert.NotEqual(first.Value.Etag, second.Value.Etag);
        Assert.NotNull(second.Value.UpdatedAt);
    }

    [Fact]
    public async Task PostgresTtlSetsExpiresAt()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.PostgresStore);
        var key = NewKey();
        await dapr.SaveStateAsync(ResourcesFolder.PostgresStore, key, new Profile("ada", 1),
            metadata: new Dictionary<string, string> { ["ttlInSeconds"] = "100" });

        var row = await ReadRowAsync($"{fixture.AppId}||{key}");

        Assert.NotNull(row);
        Assert.NotNull(row.Value.ExpiresAt);
        Assert.InRange((row.Value.ExpiresAt.Value - DateTimeOffset.UtcNow).TotalSeconds, 80, 101);
    }

    [Fact]
    public async Task APostgresRowWrittenTheWayDaprdWritesItIsReadThroughTheSidecar()
    {
        var dapr = await fixture.Stores.ClientAsync(ResourcesFolder.PostgresStore);
        var key = NewKey();
        var etag = Guid.NewGuid();
        await using (var db = await OpenPostgresAsync())
        await using (var insert = new NpgsqlCommand("INSERT INTO state (key, value, etag) VALUES (@k, @v, @e)", db))
        {
            insert.Parameters.AddWithValue("k", $"{fixture.AppId}||{key}");
            insert.Parameters.AddWithValue("v", NpgsqlDbType.Bytea, Json(new Profile("written-by-daprd", 5)));
            insert.Parameters.AddWithValue("e", etag);
            await insert.ExecuteNonQueryAsync();
        }

        var (value, readEtag) = await dapr.GetStateAndETagAsync<Profile>(ResourcesFolder.PostgresStore, key);

        Assert.Equal(new Profile("written-by-daprd", 5), value);
        Assert.Equal(etag, Guid.Parse(readEtag));
    }

    private async Task<NpgsqlConnection> OpenPostgresAsync()
    {
        var connection = new NpgsqlConnection(infra.Postgres);
        await connection.OpenAsync();
        return connection;
    }

    private async Task<(byte[] Value, Guid Etag, DateTimeOffset? UpdatedAt, DateTimeOffset? ExpiresAt)?> ReadRowAsync(string key)
    {
        await using var db = await OpenPostgresAsync();
        await using var select = new NpgsqlCommand("SELECT value, etag, updated_at, expires_at FROM state WHERE key = @k", db);
        select.Parameters.AddWithValue("k", key);
        await using var reader = await select.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            return null;
        }

        return (
            reader.GetFieldValue<byte[]>(0),
            reader.GetGuid(1),
            reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2),
            reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3));
    }
}
