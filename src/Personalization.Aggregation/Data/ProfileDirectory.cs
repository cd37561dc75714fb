using Npgsql;

namespace Personalization.Aggregation.Data;

/// <summary>
/// Every profile id the aggregation service has written, in PostgreSQL (<c>profile_directory</c>), so a segment
/// backfill can page through all profiles (the state store has no way to list its keys), with the time each is next
/// due for an evaluation without an event (<c>due_at</c>), so the scheduled evaluation visits only those, and the
/// segments it is a member of (<c>segments</c>, GIN-indexed), so a segment's members can be paged
/// (<see cref="MembersAsync"/>). Rows are written just after their profiles, so they follow the profiles within a
/// delivery (and catch up after a PostgreSQL outage at the profile's next change). Erasure deletes a user's rows.
/// </summary>
/// <summary>A profile's row: when it is next due for an evaluation by time alone, and the segments it is a member of.</summary>
public readonly record struct DirectoryEntry(string ProfileId, DateTimeOffset? DueAt, IReadOnlyCollection<string> Segments);

public sealed class ProfileDirectory(NpgsqlDataSource dataSource, AggregationSchema schema)
{
    public const string Table = "profile_directory";

    /// <summary>
    /// Lists profiles just written, each with when its evaluation can next change by itself
    /// (<see cref="Model.InsightsEvaluator.NextChange"/>). A profile listed already keeps the earlier of its two due
    /// times: of two replicas writing one profile, the one listing last must not push back what the other found due.
    /// </summary>
    public Task ListAsync(IEnumerable<DirectoryEntry> profiles, CancellationToken ct) =>
        WriteAsync(profiles, "LEAST(d.due_at, excluded.due_at)", ct);

    /// <summary>Sets when evaluated profiles are next due (null: never by themselves), as their evaluation found.</summary>
    public Task SetDueAsync(IEnumerable<DirectoryEntry> profiles, CancellationToken ct) =>
        WriteAsync(profiles, "excluded.due_at", ct);

    /// <summary>Up to <paramref name="limit"/> members of <paramref name="segmentId"/> after <paramref name="after"/>, in id order.</summary>
    public async Task<List<string>> MembersAsync(string segmentId, string after, int limit, CancellationToken ct)
    {
        await schema.EnsureAsync(ct);
        await using var command = dataSource.CreateCommand(
            $"SELECT profile_id FROM {Table} WHERE segments @> ARRAY[$1]::text[] AND profile_id > $2 ORDER BY profile_id LIMIT $3");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = segmentId });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = after });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        return await ReadIdsAsync(command, limit, ct);
    }

    /// <summary>Up to <paramref name="limit"/> profiles due at <paramref name="now"/>, the longest due first.</summary>
    public async Task<List<string>> DueAsync(DateTimeOffset now, int limit, CancellationToken ct)
    {
        await schema.EnsureAsync(ct);
        await using var command = dataSource.CreateCommand($"SELECT profile_id FROM {Table} WHERE due_at <= $1 ORDER BY due_at LIMIT $2");
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = now });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        return await ReadIdsAsync(command, limit, ct);
    }

    private async Task WriteAsync(IEnumerable<DirectoryEntry> profiles, string dueOnConflict, CancellationToken ct)
    {
        var rows = profiles.ToArray();
        if (rows.Length == 0) return;
        await schema.EnsureAsync(ct);
        // Arrays of arrays must be rectangular in PostgreSQL: each row's segments travel as one separated text.
        await using var command = dataSource.CreateCommand($"""
            INSERT INTO {Table} AS d (profile_id, due_at, segments)
            SELECT p, due, string_to_array(s, E'\\x1F') FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS t(p, due, s)
            ON CONFLICT (profile_id) DO UPDATE SET due_at = {dueOnConflict}, segments = excluded.segments
            """);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. rows.Select(r => r.ProfileId)] });
        command.Parameters.Add(new NpgsqlParameter<DateTime?[]> { TypedValue = [.. rows.Select(r => r.DueAt?.UtcDateTime)] });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. rows.Select(r => string.Join('\u001F', r.Segments))] });
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Up to <paramref name="limit"/> ids after <paramref name="after"/>, in id order.</summary>
    public async Task<List<string>> PageAsync(string after, int limit, CancellationToken ct)
    {
        await schema.EnsureAsync(ct);
        await using var command = dataSource.CreateCommand($"SELECT profile_id FROM {Table} WHERE profile_id > $1 ORDER BY profile_id LIMIT $2");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = after });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        return await ReadIdsAsync(command, limit, ct);
    }

    private static async Task<List<string>> ReadIdsAsync(NpgsqlCommand command, int limit, CancellationToken ct)
    {
        var ids = new List<string>(limit);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) ids.Add(reader.GetString(0));
        return ids;
    }
}
