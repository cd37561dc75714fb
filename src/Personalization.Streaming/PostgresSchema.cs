using Npgsql;

namespace Personalization.Streaming;

/// <summary>PostgreSQL advisory locks, and a service's tables created once under one.</summary>
public static class PostgresSchema
{
    /// <summary>Takes the transaction-scoped advisory lock <paramref name="key"/>: it is held until the transaction ends.</summary>
    public static async Task LockAsync(this NpgsqlTransaction transaction, long key, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", transaction.Connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = key });
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Runs <paramref name="ddl"/> (<c>CREATE … IF NOT EXISTS</c>) in one transaction under the advisory lock
    /// <paramref name="lockKey"/>: replicas starting together on an empty database would otherwise collide even on
    /// <c>IF NOT EXISTS</c> (23505 on pg_type).
    /// </summary>
    public static async Task CreateAsync(NpgsqlDataSource dataSource, long lockKey, string ddl, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await transaction.LockAsync(lockKey, ct);
        await using (var command = new NpgsqlCommand(ddl, connection, transaction))
        {
            await command.ExecuteNonQueryAsync(ct);
        }
        await transaction.CommitAsync(ct);
    }
}
