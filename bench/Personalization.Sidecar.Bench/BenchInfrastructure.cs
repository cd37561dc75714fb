using Aspire.Hosting;
using Aspire.Hosting.Testing;
using StackExchange.Redis;

namespace Personalization.Sidecar.Bench;

/// <summary>Redis and RabbitMQ from the project's AppHost in infrastructure-only mode (local executables).</summary>
public sealed class BenchInfrastructure : IAsyncDisposable
{
    private readonly DistributedApplication _app;
    private readonly string _dataDirectory;

    private BenchInfrastructure(DistributedApplication app, string dataDirectory, string redis, Uri rabbitMq)
    {
        _app = app;
        _dataDirectory = dataDirectory;
        Redis = redis;
        RabbitMq = rabbitMq;
        var options = ConfigurationOptions.Parse(redis);
        RedisHost = options.EndPoints[0] switch
        {
            System.Net.DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
            System.Net.IPEndPoint ip => $"{ip.Address}:{ip.Port}",
            var other => other.ToString() ?? "",
        };
        RedisPassword = options.Password ?? "";
    }

    public string Redis { get; }

    public string RedisHost { get; }

    public string RedisPassword { get; }

    public Uri RabbitMq { get; }

    public static async Task<BenchInfrastructure> StartAsync(CancellationToken cancellationToken)
    {
        var dataDirectory = Directory.CreateTempSubdirectory("sidecar-bench-infra-").FullName;
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(dataDirectory, (UnixFileMode)0b111_101_101);
        }

        Console.WriteLine("starting redis, postgres and rabbitmq through the AppHost (infrastructure-only)…");
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Personalization_AppHost>(
            [
                "Infrastructure:Mode=local",
                "AppHost:Scope=infrastructure",
                $"Infrastructure:DataDirectory={dataDirectory}",
            ],
            cancellationToken);
        var app = await builder.BuildAsync(cancellationToken);
        await app.StartAsync(cancellationToken);
        foreach (var resource in new[] { "redis", "rabbitmq" })
        {
            await app.ResourceNotifications.WaitForResourceHealthyAsync(resource, cancellationToken);
        }

        var redis = await app.GetConnectionStringAsync("redis", cancellationToken)
            ?? throw new InvalidOperationException("The AppHost gave no connection string for 'redis'.");
        var rabbit = await app.GetConnectionStringAsync("rabbitmq", cancellationToken)
            ?? throw new InvalidOperationException("The AppHost gave no connection string for 'rabbitmq'.");
        return new BenchInfrastructure(app, dataDirectory, redis, new Uri(rabbit));
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _app.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
