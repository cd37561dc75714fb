using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Personalization.Consent.Extensions;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.Data;

/// <summary>
/// A quarantined event as the admin API shows it: which plan it broke and how (<see cref="Violations"/>: path, rule,
/// message), whose it is, and, when read alone, the event itself (<see cref="Data"/>).
/// </summary>
public sealed record QuarantinedEntry(
    long Id, string MessageId, string Type, string? EventName, string PlanId, int PlanVersion, string Mode,
    IReadOnlyList<PlanViolation> Violations, DateTimeOffset QuarantinedAt, IReadOnlyList<string> ProfileIds, CollectedEvent? Data);

/// <summary>
/// The events that broke their tracking plan, kept in PostgreSQL (<c>quarantined_events</c>), once per message id (a
/// redelivered quarantine message adds nothing), with whose they are (user and anonymous id, so erasure finds them).
/// The event and its violations are kept as JSON text, not jsonb: an event may carry <c>\u0000</c> in a string, which
/// jsonb refuses; in the plain text columns a NUL (which PostgreSQL text cannot hold) becomes U+FFFD.
/// </summary>
public sealed class QuarantinedEvents(NpgsqlDataSource dataSource, ConsentLedger ledger)
{
    /// <summary>Keeps every event in one round trip; returns how many were new.</summary>
    public async Task<int> StoreAsync(IReadOnlyList<QuarantinedEvent> events, CancellationToken ct)
    {
        if (events.Count == 0) return 0;
        await ledger.EnsureSchemaAsync(ct);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var batch = new NpgsqlBatch(connection);
        foreach (var quarantined in events)
        {
            var e = quarantined.Event;
            var command = new NpgsqlBatchCommand("""
                INSERT INTO quarantined_events (message_id, event_type, event_name, plan_id, plan_version, mode, violations, quarantined_at, profile_ids, event)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (message_id) DO NOTHING
                """);
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Text(e.MessageId)! });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Text(e.Type)! });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)Text(NameOf(e)) ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = quarantined.PlanId });
            command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = quarantined.PlanVersion });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = quarantined.Mode });
            command.Parameters.Add(new NpgsqlParameter
            {
                Value = JsonSerializer.Serialize(quarantined.Violations, ConsentJsonContext.Default.IReadOnlyListPlanViolation), NpgsqlDbType = NpgsqlDbType.Text,
            });
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = quarantined.QuarantinedAt });
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = ProfileIds(e) });
            command.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(e, ContractsJsonContext.Default.CollectedEvent), NpgsqlDbType = NpgsqlDbType.Text });
            batch.BatchCommands.Add(command);
        }
        await batch.ExecuteNonQueryAsync(ct);
        var added = 0;
        foreach (var command in batch.BatchCommands)
        {
            if (command.RecordsAffected > 0) added++;
        }
        return added;
    }

    /// <summary>Entries after <paramref name="afterId"/>, oldest first, of one event name (or all); with their events when asked.</summary>
    public async Task<List<QuarantinedEntry>> ListAsync(string? eventName, long afterId, int limit, bool withData, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand($"""
            SELECT {Columns}, {(withData ? "event" : "NULL")} FROM quarantined_events
            WHERE id > $1 AND ($2::text IS NULL OR event_name = $2) ORDER BY id LIMIT $3
            """);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = afterId });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)Text(eventName) ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        return await ReadAsync(command, ct);
    }

    public async Task<QuarantinedEntry?> GetAsync(long id, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand($"SELECT {Columns}, event FROM quarantined_events WHERE id = $1");
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
        return (await ReadAsync(command, ct)).SingleOrDefault();
    }

    /// <summary>Access: every entry of any of <paramref name="profileIds"/>, with its event, oldest first (at most 1,000).</summary>
    public async Task<List<QuarantinedEntry>> OfProfilesAsync(IReadOnlyCollection<string> profileIds, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand($"SELECT {Columns}, event FROM quarantined_events WHERE profile_ids && $1 ORDER BY id LIMIT 1000");
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. profileIds.Select(id => Text(id)!)] });
        return await ReadAsync(command, ct);
    }

    /// <summary>Deletes one entry (by id), those of an event name, or all; returns how many.</summary>
    public async Task<int> DeleteAsync(long? id, string? eventName, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand(
            "DELETE FROM quarantined_events WHERE ($1::bigint IS NULL OR id = $1) AND ($2::text IS NULL OR event_name = $2)");
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)id ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)Text(eventName) ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        return await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Erasure: deletes every entry of any of <paramref name="profileIds"/>; returns how many.</summary>
    public async Task<int> EraseAsync(IReadOnlyCollection<string> profileIds, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand("DELETE FROM quarantined_events WHERE profile_ids && $1");
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. profileIds.Select(id => Text(id)!)] });
        return await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>A value for a text column: PostgreSQL text cannot hold NUL.</summary>
    private static string? Text(string? value) => value?.Replace('\0', '\uFFFD');

    /// <summary>The name a plan knows the event by: the track event's name, the page's or screen's.</summary>
    public static string? NameOf(CollectedEvent e) => e.Type == EventTypes.Track ? e.Event : e.Type is EventTypes.Page or EventTypes.Screen ? e.Name : null;

    private static string[] ProfileIds(CollectedEvent e) => (Text(e.UserId), Text(e.AnonymousId)) switch
    {
        ({ } user, { } anonymous) when user != anonymous => [user, anonymous],
        ({ } user, _) => [user],
        (_, { } anonymous) => [anonymous],
        _ => [],
    };

    private const string Columns = "id, message_id, event_type, event_name, plan_id, plan_version, mode, violations::text, quarantined_at, profile_ids";

    private static async Task<List<QuarantinedEntry>> ReadAsync(NpgsqlCommand command, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct);
        var entries = new List<QuarantinedEntry>();
        while (await reader.ReadAsync(ct))
        {
            entries.Add(new QuarantinedEntry(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetString(4), reader.GetInt32(5), reader.GetString(6),
                JsonSerializer.Deserialize(reader.GetString(7), ConsentJsonContext.Default.IReadOnlyListPlanViolation) ?? [],
                reader.GetFieldValue<DateTimeOffset>(8), reader.GetFieldValue<string[]>(9),
                reader.IsDBNull(10) ? null : JsonSerializer.Deserialize(reader.GetString(10), ContractsJsonContext.Default.CollectedEvent)));
        }
        return entries;
    }
}
