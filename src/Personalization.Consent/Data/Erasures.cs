using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Personalization.Consent.Extensions;
using Personalization.Consent.Model;

namespace Personalization.Consent.Data;

/// <summary>
/// The erasure log (<c>privacy_erasures</c>) and the suppression list (<c>privacy_suppressions</c>) in PostgreSQL. An
/// erasure row holds the user's id only while it runs (so a restarted service can finish it); once complete it keeps
/// the keyed hash, who asked, when, and the counts removed: the proof that the request was honoured.
/// </summary>
public sealed class Erasures(NpgsqlDataSource dataSource, ConsentLedger ledger)
{
    public async Task CreateAsync(Guid id, string userId, string userHash, string requestedBy, DateTimeOffset now, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand("""
            INSERT INTO privacy_erasures (id, user_id, user_hash, requested_at, requested_by, status) VALUES ($1, $2, $3, $4, $5, 'running')
            """);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = id });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = userId });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = userHash });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = now });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = requestedBy });
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Puts hashes on the suppression list; returns how many were not on it yet.</summary>
    public async Task<int> SuppressAsync(IEnumerable<string> userHashes, Guid erasureId, DateTimeOffset now, CancellationToken ct)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO privacy_suppressions (user_hash, erasure_id, since) SELECT h, $2, $3 FROM unnest($1) AS h ON CONFLICT DO NOTHING
            """);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. userHashes] });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = erasureId });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = now });
        return await command.ExecuteNonQueryAsync(ct);
    }

    public async Task UnsuppressAsync(IEnumerable<string> userHashes, CancellationToken ct)
    {
        await using var command = dataSource.CreateCommand("DELETE FROM privacy_suppressions WHERE user_hash = ANY($1)");
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. userHashes] });
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The erasures not finished: (id, user id), oldest first.</summary>
    public async Task<List<(Guid Id, string UserId)>> RunningAsync(CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand("SELECT id, user_id FROM privacy_erasures WHERE status = 'running' ORDER BY requested_at");
        await using var reader = await command.ExecuteReaderAsync(ct);
        var running = new List<(Guid, string)>();
        while (await reader.ReadAsync(ct)) running.Add((reader.GetGuid(0), reader.GetString(1)));
        return running;
    }

    /// <summary>Marks the erasure complete with its counts, and forgets the user id it held.</summary>
    public async Task CompleteAsync(Guid id, ErasureTally tally, AfterErasure after, DateTimeOffset now, CancellationToken ct)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE privacy_erasures SET status = 'completed', user_id = NULL, completed_at = $2, result = $3 WHERE id = $1
            """);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = id });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = now });
        var result = new ErasureResult(after, tally.Redis, tally.Postgres);
        command.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(result, ConsentJsonContext.Default.ErasureResult), NpgsqlDbType = NpgsqlDbType.Jsonb });
        await command.ExecuteNonQueryAsync(ct);
    }

    public async Task<ErasureStatus?> GetAsync(Guid id, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand(
            "SELECT status, requested_at, requested_by, completed_at, result::text FROM privacy_erasures WHERE id = $1");
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = id });
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return null;
        var status = reader.GetString(0);
        var tally = new ErasureTally();
        AfterErasure? after = null;
        if (!reader.IsDBNull(4) && JsonSerializer.Deserialize(reader.GetString(4), ConsentJsonContext.Default.ErasureResult) is { } result)
        {
            foreach (var (kind, count) in result.Redis) tally.Redis[kind] = count;
            foreach (var (kind, count) in result.Postgres) tally.Postgres[kind] = count;
            after = result.AfterErasure;
        }
        return new ErasureStatus(id, status, reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2),
            reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3), after, tally.Stores(status));
    }
}

/// <summary>The counts kept in <c>privacy_erasures.result</c>.</summary>
public sealed record ErasureResult(AfterErasure AfterErasure, IReadOnlyDictionary<string, long> Redis, IReadOnlyDictionary<string, long> Postgres);
