using Npgsql;

namespace Personalization.Aggregation.Data;

/// <summary>
/// Every profile id the aggregation service has written, in PostgreSQL (<c>profile_directory</c>), so a segment
/// backfill can page through all profiles: the state store has no way to list its keys. Listed before a profile is
/// first written (an id whose write then failed is listed with no profile, and skipped). Erasure deletes a user's rows.
/// </summary>
public sealed class ProfileDirectory(NpgsqlDataSource dataSource)
{
    public const string Table = "profile_directory";

    private const string Schema = $"""
        CREATE TABLE IF NOT EXISTS {Table} (
            profile_id text COLLATE "C" PRIMARY KEY,
            listed_at  timestamptz NOT NULL DEFAULT now()
        );
        """;

    /// <summary>The advisory lock key of the directory's schema creation ("profdir_" in ASCII).</summary>
    private const long SchemaLockId = 0x70726F666469725F;

    private volatile bool _schemaReady;

    public async Task AddAsync(IEnumerable<string> profileIds, CancellationToken ct)
    {
        var ids = profileIds.ToArray();
        if (ids.Length == 0) return;
        await EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand($"INSERT INTO {Table} (profile_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING");
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = ids });
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Up to <paramref name="limit"/> ids after <paramref name="after"/>, in id order.</summary>
    public async Task<List<string>> PageAsync(string after, int limit, CancellationToken ct)
    {
        await EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand($"SELECT profile_id FROM {Table} WHERE profile_id > $1 ORDER BY profile_id LIMIT $2");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = after });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        var ids = new List<string>(limit);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) ids.Add(reader.GetString(0));
        return ids;
    }

    private async Task EnsureSchemaAsync(CancellationToken ct)
    {
        if (_schemaReady) return;
        // Replicas start together on an empty database: concurrent CREATE TABLE IF NOT EXISTS can collide, so creation
        // is serialized by a transaction-scoped advisory lock.
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, transaction))
        {
            lockCommand.Parameters.Add(new NpgsqlParameter<long> { TypedValue = SchemaLockId });
            await lockCommand.ExecuteNonQueryAsync(ct);
        }
        await using (var command = new NpgsqlCommand(Schema, connection, transaction))
        {
            await command.ExecuteNonQueryAsync(ct);
        }
        await transaction.CommitAsync(ct);
        _schemaReady = true;
    }
}
