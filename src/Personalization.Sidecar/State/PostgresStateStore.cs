using Microsoft.Extensions.Logging;
using Npgsql;

namespace Personalization.Sidecar.State;

/// <summary>
/// <c>state.postgresql</c> v2 with components-contrib's v2 layout: table <c>{tablePrefix}state</c>
/// (key text primary key, value bytea, etag uuid, created_at, updated_at, expires_at indexed), created by migration
/// level 1 recorded in the metadata table (<c>dapr_metadata</c>: key text, value text) under
/// <c>migrations-state-v2-{tablePrefix}</c>. Every write sets a new random uuid ETag; expired rows are invisible and
/// deleted every <c>cleanupInterval</c> (default 1 h, ≤ 0 disables), the last run noted in the metadata table.
/// </summary>
public sealed partial class PostgresStateStore : IStateStore
{
    private readonly NpgsqlDataSource _db;
    private readonly string _table;
    private readonly string _metadataTable;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Task _cleanup = Task.CompletedTask;

    private PostgresStateStore(string name, NpgsqlDataSource db, string table, string metadataTable, ILogger logger) =>
        (Name, _db, _table, _metadataTable, _logger) = (name, db, table, metadataTable, logger);

    public string Name { get; }

    public static async Task<PostgresStateStore> ConnectAsync(Components.ComponentDefinition component, ILogger logger, CancellationToken ct)
    {
        var connectionString = component.Get("connectionString");
        if (connectionString.Length == 0) throw new Components.ResourceException($"component '{component.Name}': metadata 'connectionString' is required");
        var prefix = component.Get("tablePrefix");
        var metadataTable = component.Get("metadataTableName", "dapr_metadata");
        foreach (var identifier in new[] { prefix + "state", metadataTable })
        {
            if (!IdentifierPattern().IsMatch(identifier))
                throw new Components.ResourceException($"component '{component.Name}': table name '{identifier}' is not a valid [schema.]table identifier");
        }
        string npgsql;
        try
        {
            npgsql = PostgresConnectionString.ToNpgsql(connectionString);
        }
        catch (Exception e) when (e is FormatException or UriFormatException or ArgumentException)
        {
            throw new Components.ResourceException($"component '{component.Name}': metadata 'connectionString' is not a PostgreSQL connection string: {e.Message}");
        }
        var store = new PostgresStateStore(component.Name, NpgsqlDataSource.Create(npgsql), prefix + "state", metadataTable, logger);
        await store.MigrateAsync(prefix, ct);
        var interval = component.GetDuration("cleanupInterval") ?? component.GetDuration("cleanupIntervalInSeconds") ?? TimeSpan.FromHours(1);
        if (interval > TimeSpan.Zero) store._cleanup = store.CleanupLoopAsync(interval);
        return store;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")]
    private static partial System.Text.RegularExpressions.Regex IdentifierPattern();

    private async Task MigrateAsync(string prefix, CancellationToken ct)
    {
        await using var connection = await _db.OpenConnectionAsync(ct);
        await Exec(connection, null, $"CREATE TABLE IF NOT EXISTS {_metadataTable} (key text NOT NULL PRIMARY KEY, value text NOT NULL)", ct);
        await Exec(connection, null, $"INSERT INTO {_metadataTable} (key, value) VALUES ('lock', 'lock') ON CONFLICT (key) DO NOTHING", ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        // The row lock on 'lock' serialises migrations between sidecars (and daprd) starting together.
        await Exec(connection, tx, $"SELECT value FROM {_metadataTable} WHERE key = 'lock' FOR UPDATE", ct);
        var versionKey = "migrations-state-v2-" + prefix;
        await using var read = new NpgsqlCommand($"SELECT value FROM {_metadataTable} WHERE key = $1", connection, tx) { Parameters = { new() { Value = versionKey } } };
        var level = await read.ExecuteScalarAsync(ct) is string s && int.TryParse(s, out var l) ? l : 0;
        if (level < 1)
        {
            await Exec(connection, tx, $"""
                CREATE TABLE {_table} (
                  key text NOT NULL PRIMARY KEY,
                  value bytea NOT NULL,
                  etag uuid NOT NULL DEFAULT gen_random_uuid(),
                  created_at timestamp with time zone NOT NULL DEFAULT now(),
                  updated_at timestamp with time zone,
                  expires_at timestamp with time zone
                );
                CREATE INDEX ON {_table} (expires_at);
                """, ct);
            await using var write = new NpgsqlCommand(
                $"INSERT INTO {_metadataTable} (key, value) VALUES ($1, '1') ON CONFLICT (key) DO UPDATE SET value = '1'", connection, tx)
            { Parameters = { new() { Value = versionKey } } };
            await write.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    private static async Task Exec(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        await command.ExecuteNonQueryAsync(ct);
    }

    public async Task<StateEntry?> GetAsync(string key, CancellationToken ct) => (await GetBulkAsync([key], ct))[0];

    public async Task<IReadOnlyList<StateEntry?>> GetBulkAsync(IReadOnlyList<string> keys, CancellationToken ct)
    {
        await using var command = _db.CreateCommand(
            $"SELECT key, value, etag, expires_at FROM {_table} WHERE key = ANY($1) AND (expires_at IS NULL OR expires_at >= now())");
        command.Parameters.Add(new NpgsqlParameter { Value = keys.ToArray() });
        var found = new Dictionary<string, StateEntry>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var metadata = reader.IsDBNull(3) ? null : new Dictionary<string, string>
            {
                ["ttlExpireTime"] = reader.GetFieldValue<DateTimeOffset>(3).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            };
            found[reader.GetString(0)] = new StateEntry(reader.GetFieldValue<byte[]>(1), reader.GetGuid(2).ToString(), metadata);
        }
        return keys.Select(k => found.GetValueOrDefault(k)).ToList();
    }

    public async Task SetAsync(StateSet request, CancellationToken ct)
    {
        await using var connection = await _db.OpenConnectionAsync(ct);
        await SetAsync(connection, null, request, ct);
    }

    private async Task SetAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, StateSet request, CancellationToken ct)
    {
        var ttl = StateMetadata.Ttl(request.Metadata);
        var expires = ttl > 0 ? $"now() + interval '{ttl.Value} seconds'" : "NULL";
        var etag = ParseETag(request.Key, request.ETag);
        string sql;
        if (etag is null)
        {
            // Upsert. Under first-write an existing row is only replaced when it has expired (not yet cleaned up).
            var onlyExpired = request.Concurrency == StateConcurrency.FirstWrite
                ? $" WHERE {_table}.expires_at IS NOT NULL AND {_table}.expires_at < now()" : "";
            sql = $"""
                INSERT INTO {_table} (key, value, etag, expires_at) VALUES ($1, $2, gen_random_uuid(), {expires})
                ON CONFLICT (key) DO UPDATE SET value = $2, updated_at = now(), etag = gen_random_uuid(), expires_at = {expires}{onlyExpired}
                """;
        }
        else
        {
            sql = $"""
                UPDATE {_table} SET value = $2, updated_at = now(), etag = gen_random_uuid(), expires_at = {expires}
                WHERE key = $1 AND etag = $3 AND (expires_at IS NULL OR expires_at >= now())
                """;
        }
        await using var command = new NpgsqlCommand(sql, connection, tx);
        command.Parameters.Add(new NpgsqlParameter { Value = request.Key });
        command.Parameters.Add(new NpgsqlParameter { Value = request.Value.ToArray() });
        if (etag is not null) command.Parameters.Add(new NpgsqlParameter { Value = etag.Value });
        if (await command.ExecuteNonQueryAsync(ct) != 1)
        {
            if (etag is not null || request.Concurrency == StateConcurrency.FirstWrite) throw new ETagMismatchException(request.Key);
            throw new InvalidOperationException($"no row was written for key '{request.Key}'");
        }
    }

    public async Task DeleteAsync(StateDelete request, CancellationToken ct)
    {
        await using var connection = await _db.OpenConnectionAsync(ct);
        await DeleteAsync(connection, null, request, ct);
    }

    private async Task DeleteAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, StateDelete request, CancellationToken ct)
    {
        var etag = ParseETag(request.Key, request.ETag);
        await using var command = new NpgsqlCommand(
            etag is null ? $"DELETE FROM {_table} WHERE key = $1" : $"DELETE FROM {_table} WHERE key = $1 AND etag = $2", connection, tx);
        command.Parameters.Add(new NpgsqlParameter { Value = request.Key });
        if (etag is not null) command.Parameters.Add(new NpgsqlParameter { Value = etag.Value });
        if (await command.ExecuteNonQueryAsync(ct) != 1 && etag is not null) throw new ETagMismatchException(request.Key);
    }

    public async Task TransactAsync(IReadOnlyList<object> operations, CancellationToken ct)
    {
        await using var connection = await _db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        foreach (var op in operations)
        {
            if (op is StateSet set) await SetAsync(connection, tx, set, ct);
            else if (op is StateDelete delete) await DeleteAsync(connection, tx, delete, ct);
        }
        await tx.CommitAsync(ct);
    }

    // Dapr's v2 store treats an etag that is not a uuid as one that matches no row: a mismatch, not bad input.
    private static Guid? ParseETag(string key, string? etag) =>
        string.IsNullOrEmpty(etag) ? null : Guid.TryParse(etag, out var g) ? g : throw new ETagMismatchException(key);

    private async Task CleanupLoopAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                try
                {
                    await using var connection = await _db.OpenConnectionAsync(_stop.Token);
                    // Only one sidecar cleans per interval: the one that manages to move the last-cleanup mark.
                    await using var mark = new NpgsqlCommand($"""
                        INSERT INTO {_metadataTable} (key, value) VALUES ('last-cleanup-state-v2-{_metadataTable}', now()::text)
                        ON CONFLICT (key) DO UPDATE SET value = now()::text
                        WHERE (EXTRACT('epoch' FROM now() - {_metadataTable}.value::timestamp with time zone) * 1000)::bigint > $1
                        """, connection) { Parameters = { new() { Value = (long)interval.TotalMilliseconds - 1000 } } };
                    if (await mark.ExecuteNonQueryAsync(_stop.Token) == 0) continue;
                    await using var delete = new NpgsqlCommand($"DELETE FROM {_table} WHERE expires_at IS NOT NULL AND expires_at < now()", connection);
                    var removed = await delete.ExecuteNonQueryAsync(_stop.Token);
                    LogCleanup(_logger, Name, removed);
                }
                catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
                {
                    LogCleanupFailed(_logger, Name, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "State store {Store}: removed {Count} expired rows")]
    private static partial void LogCleanup(ILogger logger, string store, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "State store {Store}: cleanup of expired rows failed")]
    private static partial void LogCleanupFailed(ILogger logger, string store, Exception error);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _cleanup;
        await _db.DisposeAsync();
        _stop.Dispose();
    }
}
