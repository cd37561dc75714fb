using System.Text.Json;
using Dapr.Client;
using Npgsql;
using NpgsqlTypes;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.Data;

/// <summary>A kept dead letter, as the admin API lists it (<see cref="Data"/> only when one is read alone).</summary>
public sealed record DeadLetter(
    long Id, string Topic, string CloudEventId, DateTimeOffset ReceivedAt, string? Reason, int? Attempts,
    DateTimeOffset? FirstFailedAt, DateTimeOffset? LastFailedAt, IReadOnlyList<string> ProfileIds, JsonElement? Data);

/// <summary>
/// The dead letters of every topic, kept in PostgreSQL (<c>dead_letters</c>) with why and how often their message failed
/// (the <see cref="RetryRecord"/> the failing service left) and whose they are (the user and anonymous ids in them, so
/// erasure finds them). A redelivered dead letter is kept once (topic + CloudEvent id).
/// </summary>
public sealed class DeadLetters(NpgsqlDataSource dataSource, ConsentLedger ledger, DaprClient dapr) : IDeadLetterStore
{
    public async Task StoreAsync(string topic, string cloudEventId, JsonElement data, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        var retry = await dapr.GetStateAsync<RetryRecord?>(StateKeys.Store, StateKeys.DeadLetterReason(cloudEventId), cancellationToken: ct);
        await using var command = dataSource.CreateCommand("""
            INSERT INTO dead_letters (topic, cloud_event_id, received_at, reason, attempts, first_failed_at, last_failed_at, profile_ids, data)
            VALUES ($1, $2, now(), $3, $4, $5, $6, $7, $8) ON CONFLICT (topic, cloud_event_id) DO NOTHING
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = topic });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = cloudEventId });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)retry?.Reason ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)retry?.Attempts ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Integer });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)retry?.FirstFailedAt ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)retry?.LastFailedAt ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. ProfileIds(data)] });
        command.Parameters.Add(new NpgsqlParameter { Value = data.GetRawText(), NpgsqlDbType = NpgsqlDbType.Jsonb });
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Dead letters after <paramref name="afterId"/>, oldest first, of one topic or all; with their data when asked.</summary>
    public async Task<List<DeadLetter>> ListAsync(string? topic, long afterId, int limit, bool withData, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand($"""
            SELECT {Columns}, {(withData ? "data::text" : "NULL")} FROM dead_letters WHERE id > $1 AND ($2::text IS NULL OR topic = $2) ORDER BY id LIMIT $3
            """);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = afterId });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)topic ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        return await ReadAsync(command, ct);
    }

    public async Task<DeadLetter?> GetAsync(long id, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand($"SELECT {Columns}, data::text FROM dead_letters WHERE id = $1");
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
        return (await ReadAsync(command, ct)).SingleOrDefault();
    }

    /// <summary>Deletes one dead letter (by id), those of a topic, or all; returns how many.</summary>
    public async Task<int> DeleteAsync(long? id, string? topic, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand("DELETE FROM dead_letters WHERE ($1::bigint IS NULL OR id = $1) AND ($2::text IS NULL OR topic = $2)");
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)id ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)topic ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        return await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Erasure: deletes every dead letter holding any of <paramref name="profileIds"/>; returns how many.</summary>
    public async Task<int> EraseAsync(IReadOnlyCollection<string> profileIds, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand("DELETE FROM dead_letters WHERE profile_ids && $1");
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. profileIds] });
        return await command.ExecuteNonQueryAsync(ct);
    }

    private const string Columns = "id, topic, cloud_event_id, received_at, reason, attempts, first_failed_at, last_failed_at, profile_ids";

    private static async Task<List<DeadLetter>> ReadAsync(NpgsqlCommand command, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct);
        var letters = new List<DeadLetter>();
        while (await reader.ReadAsync(ct))
        {
            letters.Add(new DeadLetter(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetInt32(5),
                reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
                reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
                reader.GetFieldValue<string[]>(8),
                reader.IsDBNull(9) ? null : JsonDocument.Parse(reader.GetString(9)).RootElement.Clone()));
        }
        return letters;
    }

    /// <summary>Every user, anonymous and previous id in a message, however deep its events sit (batches, enriched events).</summary>
    public static HashSet<string> ProfileIds(JsonElement data)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        Collect(data, ids, depth: 0);
        return ids;
    }

    private static void Collect(JsonElement element, HashSet<string> ids, int depth)
    {
        if (depth > 6) return;
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray()) Collect(item, ids, depth + 1);
            return;
        }
        if (element.ValueKind != JsonValueKind.Object) return;
        foreach (var property in element.EnumerateObject())
        {
            if (property.Name is "userId" or "anonymousId" or "previousId" && property.Value.ValueKind == JsonValueKind.String)
            {
                ids.Add(property.Value.GetString()!);
            }
            else if (property.Name is "events" or "event" or "batch")
            {
                Collect(property.Value, ids, depth + 1);
            }
        }
    }
}
