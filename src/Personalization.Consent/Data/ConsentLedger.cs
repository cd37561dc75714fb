using Npgsql;
using Personalization.Consent.Model;
using Personalization.Contracts;

namespace Personalization.Consent.Data;

/// <summary>
/// The durable, append-only record of every consent statement (PostgreSQL table <c>consent_ledger</c>). Rows are only
/// ever inserted; the current consent of a user is, per purpose, the newest row. The state store holds a copy of the
/// current consent for fast filtering and is rebuilt from here when it is missing.
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
            // Replicas start together on an empty database: two concurrent CREATE TABLE IF NOT EXISTS can still collide
            // (23505 on pg_type), so creation is serialized by a transaction-scoped advisory lock.
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
        finally
        {
            _schemaLock.Release();
        }
    }

    /// <summary>Appends one row per purpose of the request, all in one transaction.</summary>
    public async Task AppendAsync(string userId, ConsentRequest request, string source, string requestId, DateTimeOffset changedAt, CancellationToken ct)
    {
        await EnsureSchemaAsync(ct);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var (purpose, granted) in request.Purposes)
        {
            var command = new NpgsqlBatchCommand(
                "INSERT INTO consent_ledger (user_id, purpose, granted, changed_at, source, request_id) VALUES ($1, $2, $3, $4, $5, $6)");
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = userId });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = purpose });
            command.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = granted });
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = changedAt });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = source });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = requestId });
            batch.BatchCommands.Add(command);
        }
        await batch.ExecuteNonQueryAsync(ct);
        await transaction.CommitAsync(ct);
    }

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
