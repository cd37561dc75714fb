using Microsoft.Extensions.Logging;
using Npgsql;

namespace Personalization.Sidecar.State;

/// <summary>
/// <c>state.postgresql</c> v2 with components-contrib's v2 layout: table <c>{tablePrefix}state</c>
/// (key text primary key, value bytea, etag uuid, created_at, updated_at, expires_at indexed, row_id bigint identity),
/// created by migration levels 1 and 2, the level reached recorded in the metadata table (<c>dapr_metadata</c>: key text,
/// value text) under <c>migrations-state-v2-{tablePrefix}</c> (see <see cref="PostgresMigrations"/>). Every write sets a
/// new random uuid ETag; expired rows are invisible and deleted every <c>cleanupInterval</c> (default 1 h, ≤ 0 disables),
/// the last run noted in the metadata table.
/// </summary>
public sealed partial class PostgresStateStore : IStateStore
{
    private readonly NpgsqlDataSource _db;
    private readonly string _tablePrefix;
    private readonly string _table;
    private readonly string _metadataTable;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Task _cleanup = Task.CompletedTask;

    private PostgresStateStore(string name, NpgsqlDataSource db, string tablePrefix, string metadataTable, ILogger logger) =>
        (Name, _db, _tablePrefix, _table, _metadataTable, _logger) = (name, db, tablePrefix, tablePrefix + "state", metadataTable, logger);

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
        var store = new PostgresStateStore(component.Name, NpgsqlDataSource.Create(npgsql), prefix, metadataTable, logger);
        try
        {
            await store.MigrateAsync(ct);
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
        var interval = component.GetDuration("cleanupInterval") ?? component.GetDuration("cleanupIntervalInSeconds") ?? TimeSpan.FromHours(1);
        if (interval > TimeSpan.Zero) store._cleanup = store.CleanupLoopAsync(interval);
        return store;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")]
    private static partial System.Text.RegularExpressions.Regex IdentifierPattern();

    // daprd's levels of the v2 state table (components-contrib state/postgresql/v2), run under PostgresMigrations' lock
    // protocol; the version key and every name below are daprd's, so either process opens a database the other migrated.
    private Task MigrateAsync(CancellationToken ct) =>
        new PostgresMigrations(_metadataTable, "migrations-state-v2-" + _tablePrefix, _logger)
            .MigrateAsync(_db, [CreateStateTableAsync, AddRowIdAsync], ct);

    // Level 1: the table, and its expires_at index under the name PostgreSQL chooses (daprd leaves the choice to it too).
    private async Task CreateStateTableAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        // The lock keeps other sidecars of this component out, but not a component with another metadata table on the same
        // state table; should one create it at this moment, theirs stands (with its index), as daprd lets it.
        await tx.SaveAsync("state_table", ct);
        try
        {
            await Exec(connection, tx, $"""
                CREATE TABLE IF NOT EXISTS {_table} (
                  key text NOT NULL PRIMARY KEY,
                  value bytea NOT NULL,
                  etag uuid NOT NULL DEFAULT gen_random_uuid(),
                  created_at timestamp with time zone NOT NULL DEFAULT now(),
                  updated_at timestamp with time zone,
                  expires_at timestamp with time zone
                );
                CREATE INDEX ON {_table} (expires_at);
                """, ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            await tx.RollbackAsync("state_table", ct);
        }
    }

    // Level 2: row_id, a bigint identity with a unique index named {table}_row_id_uidx. Each step looks before it acts, so a
    // table that already has part of it keeps it. Rows already there are numbered in creation order (ties by key), as daprd
    // numbers them, and the identity continues after the highest number.
    private async Task AddRowIdAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        await Exec(connection, tx, $"""
            ALTER TABLE {_table} ADD COLUMN IF NOT EXISTS row_id bigint;
            UPDATE {_table} AS t SET row_id = numbered.n
              FROM (SELECT key, row_number() OVER (ORDER BY created_at, key) AS n FROM {_table} WHERE row_id IS NULL) AS numbered
              WHERE t.key = numbered.key;
            ALTER TABLE {_table} ALTER COLUMN row_id SET NOT NULL;
            """, ct);

        await using var inspect = new NpgsqlCommand(
            "SELECT c.relname, a.attidentity <> '' FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'row_id' WHERE c.oid = to_regclass($1)",
            connection, tx) { Parameters = { new() { Value = _table } } };
        string tableName;
        bool isIdentity;
        await using (var reader = await inspect.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct)) throw new InvalidOperationException($"table {_table} has no row_id column after adding it");
            (tableName, isIdentity) = (reader.GetString(0), reader.GetBoolean(1));
        }
        if (!isIdentity) await Exec(connection, tx, $"ALTER TABLE {_table} ALTER COLUMN row_id ADD GENERATED BY DEFAULT AS IDENTITY", ct);

        await using var continueAfter = new NpgsqlCommand(
            $"SELECT setval(pg_get_serial_sequence($1, 'row_id'), (SELECT coalesce(max(row_id), 0) + 1 FROM {_table}), false)",
            connection, tx) { Parameters = { new() { Value = _table } } };
        await continueAfter.ExecuteNonQueryAsync(ct);

        var indexName = "\"" + (tableName + "_row_id_uidx").Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
        await Exec(connection, tx, $"CREATE UNIQUE INDEX IF NOT EXISTS {indexName} ON {_table} (row_id)", ct);
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
                    // Only one sidecar cleans per interval: the one that manages to move the last-cleanup mark. The mark's key is
                    // daprd's (last-cleanup-state-v2-{tablePrefix}), so daprd and this sidecar share one schedule per table.
                    await using var mark = new NpgsqlCommand($"""
                        INSERT INTO {_metadataTable} (key, value) VALUES ($2, now()::text)
                        ON CONFLICT (key) DO UPDATE SET value = now()::text
                        WHERE (EXTRACT('epoch' FROM now() - {_metadataTable}.value::timestamp with time zone) * 1000)::bigint > $1
                        """, connection)
                    {
                        Parameters = { new() { Value = (long)interval.TotalMilliseconds - 1000 }, new() { Value = "last-cleanup-state-v2-" + _tablePrefix } },
                    };
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
