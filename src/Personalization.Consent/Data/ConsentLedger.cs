using Npgsql;
using Personalization.Consent.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.Data;

/// <summary>Who recorded a statement: the request (correlation id), the API key (its id, never the key) and the policy version in force.</summary>
public sealed record LedgerContext(string RequestId, string KeyId, string PolicyVersion);

/// <summary>One row of the ledger, as <c>GET /v1/consent/{userId}/history</c> answers it.</summary>
public sealed record LedgerEntry(
    long Id, string Purpose, bool Granted, DateTimeOffset ChangedAt, string Source, string PolicyVersion, string KeyId, string RequestId);

/// <summary>
/// The durable, append-only record of every consent statement (PostgreSQL table <c>consent_ledger</c>). Rows are only
/// ever inserted; the current consent of a user is, per purpose, the newest row. The state store holds a copy of the
/// current consent for fast filtering and is rebuilt from here when it is missing. Erasure is the one exception to
/// "only inserted": it replaces the user's id in their rows by its keyed hash (<see cref="PseudonymizeAsync"/>).
/// <para>Also creates the service's other tables: the erasure log and the suppression list (<see cref="Erasures"/>) and
/// the dead letters (<see cref="DeadLetters"/>) and the events that broke their tracking plan (<see cref="QuarantinedEvents"/>).</para>
/// </summary>
public sealed class ConsentLedger(NpgsqlDataSource dataSource)
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS consent_ledger (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id     text        NOT NULL,
            purpose     text        NOT NULL,
            granted     boolean     NOT NULL,
            changed_at  timestamptz NOT NULL,
            source      text        NOT NULL,
            request_id  text        NOT NULL
        );
        CREATE INDEX IF NOT EXISTS consent_ledger_user_purpose ON consent_ledger (user_id, purpose, id DESC);
        ALTER TABLE consent_ledger ADD COLUMN IF NOT EXISTS policy_version text NOT NULL DEFAULT '';
        ALTER TABLE consent_ledger ADD COLUMN IF NOT EXISTS key_id text NOT NULL DEFAULT '';
        CREATE TABLE IF NOT EXISTS privacy_erasures (
            id            uuid        PRIMARY KEY,
            user_id       text,
            user_hash     text        NOT NULL,
            requested_at  timestamptz NOT NULL,
            requested_by  text        NOT NULL,
            status        text        NOT NULL,
            completed_at  timestamptz,
            result        jsonb
        );
        CREATE INDEX IF NOT EXISTS privacy_erasures_running ON privacy_erasures (status) WHERE status = 'running';
        CREATE TABLE IF NOT EXISTS dead_letters (
            id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            topic            text        NOT NULL,
            cloud_event_id   text        NOT NULL,
            received_at      timestamptz NOT NULL,
            reason           text,
            attempts         integer,
            first_failed_at  timestamptz,
            last_failed_at   timestamptz,
            profile_ids      text[]      NOT NULL,
            data             jsonb       NOT NULL,
            UNIQUE (topic, cloud_event_id)
        );
        CREATE INDEX IF NOT EXISTS dead_letters_profiles ON dead_letters USING gin (profile_ids);
        CREATE TABLE IF NOT EXISTS quarantined_events (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            message_id      text        NOT NULL UNIQUE,
            event_type      text        NOT NULL,
            event_name      text,
            plan_id         text        NOT NULL,
            plan_version    integer     NOT NULL,
            mode            text        NOT NULL,
            violations      text        NOT NULL,
            quarantined_at  timestamptz NOT NULL,
            profile_ids     text[]      NOT NULL,
            event           text        NOT NULL
        );
        CREATE INDEX IF NOT EXISTS quarantined_events_profiles ON quarantined_events USING gin (profile_ids);
        CREATE INDEX IF NOT EXISTS quarantined_events_name ON quarantined_events (event_name, id);
        CREATE TABLE IF NOT EXISTS privacy_suppressions (
            user_hash   text        PRIMARY KEY,
            erasure_id  uuid        NOT NULL,
            since       timestamptz NOT NULL
        );
        """;

    /// <summary>The advisory lock key of the ledger's schema creation ("consent_" in ASCII).</summary>
    private const long SchemaLockId = 0x636F6E73656E745F;

    private readonly SemaphoreSlim _schemaLock = new(1, 1);
    private volatile bool _schemaReady;

    public async Task EnsureSchemaAsync(CancellationToken ct)
    {
        if (_schemaReady) return;
        await _schemaLock.WaitAsync(ct);
        try
        {
            if (_schemaReady) return;
            await PostgresSchema.CreateAsync(dataSource, SchemaLockId, Schema, ct);
            _schemaReady = true;
        }
        finally
        {
            _schemaLock.Release();
        }
    }

    /// <summary>Appends one row per change, all in one transaction.</summary>
    public async Task AppendAsync(string userId, IReadOnlyList<ConsentChange> changes, LedgerContext context, DateTimeOffset changedAt, CancellationToken ct)
    {
        await EnsureSchemaAsync(ct);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var change in changes)
        {
            var command = new NpgsqlBatchCommand("""
                INSERT INTO consent_ledger (user_id, purpose, granted, changed_at, source, request_id, policy_version, key_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """);
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = userId });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = change.Purpose });
            command.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = change.Granted });
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = changedAt });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = change.Source });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = context.RequestId });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = context.PolicyVersion });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = context.KeyId });
            batch.BatchCommands.Add(command);
        }
        await batch.ExecuteNonQueryAsync(ct);
        await transaction.CommitAsync(ct);
    }

    /// <summary>The user's rows in the order they were written, after row <paramref name="afterId"/>, at most <paramref name="limit"/>.</summary>
    public async Task<List<LedgerEntry>> HistoryAsync(string userId, long afterId, int limit, CancellationToken ct)
    {
        await EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand("""
            SELECT id, purpose, granted, changed_at, source, policy_version, key_id, request_id
            FROM consent_ledger WHERE user_id = $1 AND id > $2
            ORDER BY id LIMIT $3
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = userId });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = afterId });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        await using var reader = await command.ExecuteReaderAsync(ct);
        var entries = new List<LedgerEntry>();
        while (await reader.ReadAsync(ct))
        {
            entries.Add(new LedgerEntry(reader.GetInt64(0), reader.GetString(1), reader.GetBoolean(2), reader.GetFieldValue<DateTimeOffset>(3),
                reader.GetString(4), reader.GetString(5), reader.GetString(6), reader.GetString(7)));
        }
        return entries;
    }

    /// <summary>
    /// Erasure: the rows of <paramref name="userIds"/> keep what was consented, when, how and under which policy, but
    /// their user id becomes <c>erased:{keyed hash}</c>. Returns the rows changed.
    /// </summary>
    public async Task<int> PseudonymizeAsync(IReadOnlyList<string> userIds, Func<string, string> hash, CancellationToken ct)
    {
        await EnsureSchemaAsync(ct);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var batch = new NpgsqlBatch(connection);
        foreach (var userId in userIds)
        {
            var command = new NpgsqlBatchCommand("UPDATE consent_ledger SET user_id = $1 WHERE user_id = $2");
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = ErasedPrefix + hash(userId) });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = userId });
            batch.BatchCommands.Add(command);
        }
        await batch.ExecuteNonQueryAsync(ct);
        var changed = 0;
        foreach (var command in batch.BatchCommands) changed += (int)command.RecordsAffected;
        return changed;
    }

    /// <summary>
    /// Erasure: deletes the ids from the aggregation service's directory of profiles (<c>profile_directory</c>, which a
    /// segment backfill pages through). Returns the rows deleted; 0 when aggregation has not created the table yet.
    /// </summary>
    public async Task<int> DeleteListedProfilesAsync(IReadOnlyCollection<string> ids, CancellationToken ct)
    {
        return await DeleteAsync("DELETE FROM profile_directory WHERE profile_id = ANY($1)", ids, ct);
    }

    /// <summary>Deletes the identity links (the aggregation service's <c>identity_links</c>) of or to any of <paramref name="ids"/>.</summary>
    public async Task<int> DeleteIdentityLinksAsync(IReadOnlyCollection<string> ids, CancellationToken ct) =>
        await DeleteAsync("DELETE FROM identity_links WHERE id = ANY($1) OR master = ANY($1)", ids, ct);

    /// <summary>Runs a delete of rows naming <paramref name="ids"/> in a table of another service, which may not exist yet.</summary>
    private async Task<int> DeleteAsync(string sql, IReadOnlyCollection<string> ids, CancellationToken ct)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. ids] });
        try
        {
            return await command.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }

    /// <summary>What an erased user's id becomes in the ledger, before the keyed hash.</summary>
    public const string ErasedPrefix = "erased:";

    /// <summary>The current consent per purpose from the ledger, or null when the user never stated any.</summary>
    public async Task<ConsentState?> CurrentAsync(string userId, CancellationToken ct)
    {
        await EnsureSchemaAsync(ct);
        await using var command = dataSource.CreateCommand("""
            SELECT DISTINCT ON (purpose) purpose, granted, changed_at
            FROM consent_ledger WHERE user_id = $1
            ORDER BY purpose, id DESC
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = userId });
        await using var reader = await command.ExecuteReaderAsync(ct);
        var purposes = new SortedDictionary<string, bool>(StringComparer.Ordinal);
        var updatedAt = DateTimeOffset.MinValue;
        while (await reader.ReadAsync(ct))
        {
            purposes[reader.GetString(0)] = reader.GetBoolean(1);
            var changedAt = reader.GetFieldValue<DateTimeOffset>(2);
            if (changedAt > updatedAt) updatedAt = changedAt;
        }
        return purposes.Count == 0 ? null : new ConsentState(userId, purposes, updatedAt);
    }
}

/// <summary>Creates the ledger table at start; PostgreSQL may still be starting, so it retries, and writes create it lazily too.</summary>
public sealed partial class ConsentLedgerSchema(ConsentLedger ledger, ILogger<ConsentLedgerSchema> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        for (var attempt = 1; !stoppingToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await ledger.EnsureSchemaAsync(stoppingToken);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                LogSchemaRetry(logger, attempt, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 10)), stoppingToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consent ledger table not created yet (attempt {Attempt}): {Reason}")]
    private static partial void LogSchemaRetry(ILogger logger, int attempt, string reason);
}
