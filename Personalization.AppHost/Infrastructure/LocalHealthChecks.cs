using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using RabbitMQ.Client;
using StackExchange.Redis;

namespace Personalization.AppHost.Infrastructure;

// Health checks for the local servers that really talk to them: Redis PING, PostgreSQL SELECT 1,
// an AMQP connection open. Each resolves the resource's connection string when it runs, so it
// always targets the port the orchestrator assigned.

internal sealed class RedisPingCheck(IResourceWithConnectionString redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var connectionString = await redis.ConnectionStringExpression.GetValueAsync(cancellationToken);
        var options = ConfigurationOptions.Parse(connectionString!);
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = 2000;
        await using var connection = await ConnectionMultiplexer.ConnectAsync(options);
        var latency = await connection.GetDatabase().PingAsync();
        return HealthCheckResult.Healthy($"PING in {latency.TotalMilliseconds:F1} ms");
    }
}

/// <summary>SELECT 1 on the platform's database, creating that database first when it is missing.</summary>
internal sealed class PostgresSelectCheck(LocalPostgresDatabaseResource database) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var serverConnectionString = await database.Parent.ConnectionStringExpression.GetValueAsync(cancellationToken);
        var builder = new NpgsqlConnectionStringBuilder(serverConnectionString) { Database = "postgres", Timeout = 3, Pooling = false };
        await using (var server = new NpgsqlConnection(builder.ConnectionString))
        {
            await server.OpenAsync(cancellationToken);
            await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", server);
            exists.Parameters.AddWithValue(database.DatabaseName);
            if (await exists.ExecuteScalarAsync(cancellationToken) is null)
            {
                // Identifiers cannot be parameters; the name comes from the AppHost's own code.
                await using var create = new NpgsqlCommand($"CREATE DATABASE \"{database.DatabaseName}\"", server);
                await create.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        builder.Database = database.DatabaseName;
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var select = new NpgsqlCommand("SELECT 1", connection);
        await select.ExecuteScalarAsync(cancellationToken);
        return HealthCheckResult.Healthy($"SELECT 1 on {database.DatabaseName}");
    }
}

internal sealed class RabbitMqOpenCheck(IResourceWithConnectionString rabbitMq) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var connectionString = await rabbitMq.ConnectionStringExpression.GetValueAsync(cancellationToken);
        var factory = new ConnectionFactory { Uri = new Uri(connectionString!), RequestedConnectionTimeout = TimeSpan.FromSeconds(3) };
        await using var connection = await factory.CreateConnectionAsync(cancellationToken);
        return HealthCheckResult.Healthy($"AMQP open to {connection.Endpoint}");
    }
}
