using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Text;
using System.Text.Json;
using Aspire.Hosting.Testing;
using Npgsql;
using RabbitMQ.Client;
using StackExchange.Redis;

namespace Personalization.EndToEndTests;

[Collection(PlatformCollection.Name)]
public sealed class PlatformStartupTests(PlatformFixture platform)
{
    public static TheoryData<string> Services => new(PlatformFixture.Services);

    [Theory]
    [MemberData(nameof(Services))]
    public async Task EveryServiceReportsHealthyOnItsHealthEndpoint(string service)
    {
        using var client = platform.App.CreateHttpClient(service, "http");
        using var response = await client.GetAsync("/health");
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{service} /health answered {(int)response.StatusCode}: {body}");
        using var report = JsonDocument.Parse(body);
        Assert.Equal("Healthy", report.RootElement.GetProperty("status").GetString());
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task EveryServiceAnswersItsLivenessProbe(string service)
    {
        using var client = platform.App.CreateHttpClient(service, "http");
        using var response = await client.GetAsync("/alive");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task RedisAcceptsAWriteAndReadsItBack()
    {
        var connectionString = await platform.App.GetConnectionStringAsync("redis");
        await using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString!);
        var db = redis.GetDatabase();
        var key = $"e2e:{Guid.NewGuid():N}";

        await db.StringSetAsync(key, "written", TimeSpan.FromMinutes(1));

        Assert.Equal("written", (string?)await db.StringGetAsync(key));
    }

    [Fact]
    public async Task PostgresDatabaseAcceptsATableARowAndAQuery()
    {
        var connectionString = await platform.App.GetConnectionStringAsync("personalization");
        await using var dataSource = NpgsqlDataSource.Create(connectionString!);
        var table = $"e2e_{Guid.NewGuid():N}";

        await using (var create = dataSource.CreateCommand($"CREATE TABLE {table} (id int PRIMARY KEY, note text NOT NULL)"))
        {
            await create.ExecuteNonQueryAsync();
        }
        await using (var insert = dataSource.CreateCommand($"INSERT INTO {table} (id, note) VALUES (1, 'written')"))
        {
            await insert.ExecuteNonQueryAsync();
        }
        await using var select = dataSource.CreateCommand($"SELECT note FROM {table} WHERE id = 1");

        Assert.Equal("written", await select.ExecuteScalarAsync());
        Assert.Equal("personalization", new NpgsqlConnectionStringBuilder(connectionString).Database);
    }

    [Fact]
    public async Task RabbitMqAcceptsAPublishedMessageAndHandsItBack()
    {
        var connectionString = await platform.App.GetConnectionStringAsync("rabbitmq");
        var factory = new ConnectionFactory { Uri = new Uri(connectionString!) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var queue = (await channel.QueueDeclareAsync($"e2e-{Guid.NewGuid():N}", durable: false, exclusive: true, autoDelete: true)).QueueName;

        await channel.BasicPublishAsync("", queue, mandatory: true, new BasicProperties(), Encoding.UTF8.GetBytes("written"));
        BasicGetResult? got = null;
        for (var attempt = 0; attempt < 50 && got is null; attempt++)
        {
            got = await channel.BasicGetAsync(queue, autoAck: true);
            if (got is null)
            {
                await Task.Delay(100);
            }
        }

        Assert.NotNull(got);
        Assert.Equal("written", Encoding.UTF8.GetString(got.Body.Span));
    }

    [Fact]
    public async Task ServicesReceiveTheConnectionInformationOfTheirServers()
    {
        // What a service is given is what the tests above wrote through: one source of truth.
        var model = platform.App.Services.GetRequiredService<Aspire.Hosting.ApplicationModel.DistributedApplicationModel>();
        var collector = model.Resources.OfType<Aspire.Hosting.ApplicationModel.ProjectResource>().Single(r => r.Name == "collector");
        // Obsolete in favour of ExecutionConfigurationBuilder, which needs far more setup for the same
        // answer: the environment the orchestrator gives the process.
#pragma warning disable CS0618
        var environment = await collector.GetEnvironmentVariableValuesAsync(Aspire.Hosting.DistributedApplicationOperation.Run);
#pragma warning restore CS0618

        Assert.Equal(await platform.App.GetConnectionStringAsync("redis"), environment["ConnectionStrings__redis"]);
        Assert.Equal(await platform.App.GetConnectionStringAsync("rabbitmq"), environment["ConnectionStrings__rabbitmq"]);
    }
}
