using System.Text;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Npgsql;
using RabbitMQ.Client;
using StackExchange.Redis;

namespace Personalization.EndToEndTests;

/// <summary>
/// Looks through every store of a running platform for any of some strings (a user's ids, their message ids): every
/// Redis key and value, every row of every PostgreSQL table, every message waiting in a queue of the broker.
/// </summary>
public static class StoreScan
{
    /// <summary>The apps that subscribe, and the topics they may have queues for.</summary>
    private static readonly string[] Apps = ["collector", "consent", "enrichment", "aggregation", "profile-query"];

    private static readonly string[] TopicNames = ["events.collected", "events.consented", "events.enriched", "profiles.updated", "consent.changed"];

    /// <summary>Where the strings were found, one line per place; empty when nowhere.</summary>
    public static async Task<List<string>> FindAsync(DistributedApplication app, params string[] needles)
    {
        var found = new List<string>();
        await ScanRedisAsync(app, needles, found);
        await ScanPostgresAsync(app, needles, found);
        await ScanBrokerAsync(app, needles, found);
        return found;
    }

    private static bool Contains(string text, string[] needles) => needles.Any(n => text.Contains(n, StringComparison.Ordinal));

    private static async Task ScanRedisAsync(DistributedApplication app, string[] needles, List<string> found)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync((await app.GetConnectionStringAsync("redis"))!);
        var db = redis.GetDatabase();
        foreach (var server in redis.GetServers())
        {
            await foreach (var key in server.KeysAsync(pageSize: 1000))
            {
                if (Contains(key.ToString(), needles))
                {
                    found.Add($"redis key {key}");
                    continue;
                }
                var value = await db.KeyTypeAsync(key) switch
                {
                    RedisType.Hash => string.Join(" ", (await db.HashGetAllAsync(key)).Select(e => e.Value.ToString())),
                    RedisType.String => (await db.StringGetAsync(key)).ToString(),
                    _ => "",
                };
                if (Contains(value, needles)) found.Add($"redis value of {key}");
            }
        }
    }

    private static async Task ScanPostgresAsync(DistributedApplication app, string[] needles, List<string> found)
    {
        await using var dataSource = NpgsqlDataSource.Create((await app.GetConnectionStringAsync("personalization"))!);
        var tables = new List<string>();
        await using (var list = dataSource.CreateCommand(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
        }
        Assert.NotEmpty(tables);
        foreach (var table in tables)
        {
            await using var rows = dataSource.CreateCommand($"SELECT t::text FROM {table} t");
            await using var reader = await rows.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                if (Contains(reader.GetString(0), needles)) found.Add($"postgresql row of {table}: {reader.GetString(0)}");
            }
        }
    }

    /// <summary>Takes every waiting message off each queue without acknowledging it, then closes the channel: they go back.</summary>
    private static async Task ScanBrokerAsync(DistributedApplication app, string[] needles, List<string> found)
    {
        var factory = new ConnectionFactory { Uri = new Uri((await app.GetConnectionStringAsync("rabbitmq"))!) };
        await using var connection = await factory.CreateConnectionAsync();
        var queues = Apps.SelectMany(a => TopicNames.SelectMany(t => new[] { t, t + ".dead-letter" }).Select(t => $"{a}-{t}"))
            .SelectMany(q => new[] { q, "dlq-" + q });
        foreach (var queue in queues)
        {
            await using var channel = await connection.CreateChannelAsync();
            try
            {
                await channel.QueueDeclarePassiveAsync(queue);
            }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
            {
                continue; // no such queue
            }
            while (await channel.BasicGetAsync(queue, autoAck: false) is { } message)
            {
                if (Contains(Encoding.UTF8.GetString(message.Body.Span), needles)) found.Add($"rabbitmq message in {queue}");
            }
        }
    }
}
