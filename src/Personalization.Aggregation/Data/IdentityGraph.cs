using Npgsql;
using Personalization.Aggregation.Model;
using Personalization.Streaming;

namespace Personalization.Aggregation.Data;

/// <summary>
/// The identity links in PostgreSQL (<c>identity_links</c>: id → master, by the rules of <see cref="IdentityRules"/>),
/// durable and shared by every replica. A delivery reads the masters of its ids in one query; only when its links
/// would join profiles does it take the graph's lock (a transaction-scoped advisory lock, so two replicas never join
/// the same ids differently), read again, and write the joins. Erasure deletes a user's rows.
/// </summary>
public sealed class IdentityGraph(NpgsqlDataSource dataSource, AggregationSchema schema)
{
    public const string Table = "identity_links";

    /// <summary>The advisory lock key of changes to the graph ("identity" in ASCII).</summary>
    private const long LockId = 0x6964656E74697479;

    /// <summary>The master of each of <paramref name="ids"/> that has one, once <paramref name="links"/> are taken in.</summary>
    public async Task<Dictionary<string, string>> ResolveAsync(IReadOnlyCollection<string> ids, IReadOnlyList<IdentityLink> links, CancellationToken ct)
    {
        await schema.EnsureAsync(ct);
        var involved = ids.Concat(links.SelectMany(l => new[] { l.From, l.To })).Distinct(StringComparer.Ordinal).ToArray();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var masters = await MastersAsync(connection, null, involved, ct);
        if (links.Count == 0 || IdentityRules.Apply(new Dictionary<string, string>(masters, StringComparer.Ordinal), links).Count == 0) return masters;

        await using var transaction = await connection.BeginTransactionAsync(ct);
        await transaction.LockAsync(LockId, ct);
        masters = await MastersAsync(connection, transaction, involved, ct);
        foreach (var join in IdentityRules.Apply(masters, links))
        {
            await using (var move = new NpgsqlCommand($"UPDATE {Table} SET master = $2 WHERE master = $1", connection, transaction))
            {
                move.Parameters.Add(new NpgsqlParameter<string> { TypedValue = join.Root });
                move.Parameters.Add(new NpgsqlParameter<string> { TypedValue = join.Master });
                await move.ExecuteNonQueryAsync(ct);
            }
            await using var link = new NpgsqlCommand($"""
                INSERT INTO {Table} (id, master, message_id) VALUES ($1, $2, $3)
                ON CONFLICT (id) DO UPDATE SET master = excluded.master, message_id = excluded.message_id, linked_at = now()
                """, connection, transaction);
            link.Parameters.Add(new NpgsqlParameter<string> { TypedValue = join.Root });
            link.Parameters.Add(new NpgsqlParameter<string> { TypedValue = join.Master });
            link.Parameters.Add(new NpgsqlParameter<string> { TypedValue = join.MessageId });
            await link.ExecuteNonQueryAsync(ct);
        }
        await transaction.CommitAsync(ct);
        return masters;
    }

    /// <summary>Every id linked to one of <paramref name="masters"/> (newest links first, at most <paramref name="limit"/>).</summary>
    public async Task<ILookup<string, string>> LinkedToAsync(IReadOnlyCollection<string> masters, int limit, CancellationToken ct)
    {
        if (masters.Count == 0) return Array.Empty<string>().ToLookup(id => id);
        await schema.EnsureAsync(ct);
        await using var command = dataSource.CreateCommand($"SELECT id, master FROM {Table} WHERE master = ANY($1) ORDER BY linked_at DESC LIMIT $2");
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. masters] });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        var rows = new List<(string Id, string Master)>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) rows.Add((reader.GetString(0), reader.GetString(1)));
        return rows.ToLookup(r => r.Master, r => r.Id, StringComparer.Ordinal);
    }

    private static async Task<Dictionary<string, string>> MastersAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string[] ids, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"SELECT id, master FROM {Table} WHERE id = ANY($1)", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = ids });
        var masters = new Dictionary<string, string>(ids.Length, StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) masters[reader.GetString(0)] = reader.GetString(1);
        return masters;
    }
}
