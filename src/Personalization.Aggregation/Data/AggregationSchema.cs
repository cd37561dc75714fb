using Npgsql;
using Personalization.Streaming;

namespace Personalization.Aggregation.Data;

/// <summary>
/// The aggregation service's tables in PostgreSQL: the profile directory (<see cref="ProfileDirectory"/>) and the
/// identity links (<see cref="IdentityGraph"/>), created on first use.
/// </summary>
public sealed class AggregationSchema(NpgsqlDataSource dataSource)
{
    private const string Ddl = $"""
        CREATE TABLE IF NOT EXISTS {ProfileDirectory.Table} (
            profile_id text COLLATE "C" PRIMARY KEY,
            listed_at  timestamptz NOT NULL DEFAULT now()
        );
        ALTER TABLE {ProfileDirectory.Table} ADD COLUMN IF NOT EXISTS due_at timestamptz;
        CREATE INDEX IF NOT EXISTS {ProfileDirectory.Table}_due ON {ProfileDirectory.Table} (due_at) WHERE due_at IS NOT NULL;
        ALTER TABLE {ProfileDirectory.Table} ADD COLUMN IF NOT EXISTS segments text[] NOT NULL DEFAULT ARRAY[]::text[];
        CREATE INDEX IF NOT EXISTS {ProfileDirectory.Table}_segments ON {ProfileDirectory.Table} USING gin (segments);
        CREATE TABLE IF NOT EXISTS {IdentityGraph.Table} (
            id         text COLLATE "C" PRIMARY KEY,
            master     text COLLATE "C" NOT NULL,
            message_id text NOT NULL,
            linked_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX IF NOT EXISTS {IdentityGraph.Table}_master ON {IdentityGraph.Table} (master);
        """;

    /// <summary>The advisory lock key of the schema creation ("profdir_" in ASCII).</summary>
    private const long SchemaLockId = 0x70726F666469725F;

    private volatile bool _ready;

    public async Task EnsureAsync(CancellationToken ct)
    {
        if (_ready) return;
        await PostgresSchema.CreateAsync(dataSource, SchemaLockId, Ddl, ct);
        _ready = true;
    }
}
