using Microsoft.Extensions.Logging;
using Npgsql;

namespace Personalization.Sidecar.State;

/// <summary>
/// Brings a PostgreSQL component's tables to their latest level with daprd's protocol (components-contrib
/// <c>common/component/sql/migrations/postgres</c>), so that any number of sidecars and daprd processes may start together
/// on one database, and a database migrated by either is the other's:
/// <list type="number">
/// <item>the metadata table (<c>key text</c> primary key, <c>value text</c>) is created with <c>IF NOT EXISTS</c>. Two
/// sessions creating it at the same moment can still collide in the catalog: <c>IF NOT EXISTS</c> looks before the winner
/// commits, and the loser fails later, once the winner's rows are there. daprd tries again, up to three attempts, on
/// <c>23505</c> (<c>pg_type_typname_nsp_index</c>), the collision it knows; this sidecar also on <c>42710</c> (type already
/// exists) and <c>42P07</c> (relation already exists), the same collision seen a moment later, which ten sessions
/// started together do meet. The next attempt finds the winner's table;</item>
/// <item>a <c>lock</c> row is inserted outside any transaction with <c>ON CONFLICT DO NOTHING</c>;</item>
/// <item>a transaction holds that row with <c>SELECT … FOR UPDATE</c> while the levels run: one process migrates, the
/// others wait, then read the level it reached. A row lock rather than an advisory lock, because CockroachDB has none;</item>
/// <item>the level reached is the decimal text under the component's version key; a level above the steps known here
/// (written by a newer daprd) is left alone.</item>
/// </list>
/// One difference from daprd, invisible to a daprd waiting on the lock: daprd runs each level on other connections and drops the lock by rolling
/// back, while here each level runs inside the lock transaction and commits with its version row. PostgreSQL's DDL is
/// transactional, so a start killed half-way leaves the previous level whole instead of half a level, and whoever waited
/// on the lock reads the level together with its tables.
/// </summary>
public sealed partial class PostgresMigrations(string metadataTable, string versionKey, ILogger logger)
{
    private const string LockKey = "lock";
    private const int MetadataTableAttempts = 3;
    private static readonly TimeSpan MetadataTableRetryDelay = TimeSpan.FromMilliseconds(50);

    // daprd waits up to a minute for the lock row: a migration of a large table may hold it that long.
    private const int LockWaitSeconds = 60;

    /// <summary>One level: the statements that take the tables from the level before to this one, in the lock transaction.</summary>
    public delegate Task Level(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken ct);

    /// <summary>Runs the levels the database has not reached yet (<paramref name="levels"/>[0] is level 1).</summary>
    public async Task MigrateAsync(NpgsqlDataSource db, IReadOnlyList<Level> levels, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await EnsureMetadataTableAsync(connection, ct);
        await ExecuteAsync(connection, null, $"INSERT INTO {metadataTable} (key, value) VALUES ('{LockKey}', 'lock') ON CONFLICT (key) DO NOTHING", ct);

        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var takeLock = new NpgsqlCommand($"SELECT value FROM {metadataTable} WHERE key = '{LockKey}' FOR UPDATE", connection, transaction))
        {
            takeLock.CommandTimeout = LockWaitSeconds;
            if (await takeLock.ExecuteScalarAsync(ct) is null)
                throw new InvalidOperationException($"the migration lock row '{LockKey}' is missing from {metadataTable}");
        }

        // Read only now, under the lock: a process that held it before may have migrated while this one waited.
        var reached = await ReadLevelAsync(connection, transaction, ct);
        if (reached >= levels.Count)
        {
            await transaction.RollbackAsync(ct);
            return;
        }

        for (var level = reached + 1; level <= levels.Count; level++)
        {
            await levels[level - 1](connection, transaction, ct);
            await WriteLevelAsync(connection, transaction, level, ct);
        }
        await transaction.CommitAsync(ct);
        LogMigrated(logger, versionKey, reached, levels.Count);
    }

    private async Task EnsureMetadataTableAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await ExecuteAsync(connection, null, $"CREATE TABLE IF NOT EXISTS {metadataTable} (key text NOT NULL PRIMARY KEY, value text NOT NULL)", ct);
                return;
            }
            catch (PostgresException e) when (IsConcurrentCreation(e) && attempt < MetadataTableAttempts)
            {
                LogMetadataTableRace(logger, metadataTable, e.SqlState, attempt);
                await Task.Delay(MetadataTableRetryDelay, ct);
            }
        }
    }

    private static bool IsConcurrentCreation(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateObject or PostgresErrorCodes.DuplicateTable;

    private async Task<int> ReadLevelAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken ct)
    {
        await using var read = new NpgsqlCommand($"SELECT value FROM {metadataTable} WHERE key = $1", connection, transaction)
        {
            Parameters = { new() { Value = versionKey } },
        };
        return await read.ExecuteScalarAsync(ct) switch
        {
            null => 0,
            string text when int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var level) => level,
            var other => throw new InvalidOperationException($"invalid migration level '{other}' under '{versionKey}' in {metadataTable}"),
        };
    }

    private async Task WriteLevelAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int level, CancellationToken ct)
    {
        await using var write = new NpgsqlCommand(
            $"INSERT INTO {metadataTable} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", connection, transaction)
        {
            Parameters =
            {
                new() { Value = versionKey },
                new() { Value = level.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            },
        };
        await write.ExecuteNonQueryAsync(ct);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(ct);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "PostgreSQL schema {VersionKey} migrated from level {From} to level {To}")]
    private static partial void LogMigrated(ILogger logger, string versionKey, int from, int to);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Metadata table {Table} was created by another process at the same moment ({SqlState}, attempt {Attempt}); trying again")]
    private static partial void LogMetadataTableRace(ILogger logger, string table, string sqlState, int attempt);
}
