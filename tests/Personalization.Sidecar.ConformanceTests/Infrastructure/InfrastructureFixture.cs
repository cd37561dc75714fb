using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Npgsql;
using StackExchange.Redis;

namespace Personalization.Sidecar.ConformanceTests.Infrastructure;

/// <summary>
/// Real Redis, PostgreSQL and RabbitMQ for the whole suite, started once through the project's AppHost
/// in infrastructure-only mode (local executables, a temporary data directory).
/// </summary>
public sealed class InfrastructureFixture : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    private DistributedApplication? _app;
    private string? _dataDirectory;

    /// <summary>StackExchange.Redis configuration string, as the AppHost hands it out.</summary>
    public string Redis { get; private set; } = "";

    /// <summary>Npgsql connection string to the platform database.</summary>
    public string Postgres { get; private set; } = "";

    /// <summary>amqp:// URI of the RabbitMQ node.</summary>
    public Uri RabbitMq { get; private set; } = null!;

    /// <summary>Redis host:port for a Dapr state.redis component.</summary>
    public string RedisHost { get; private set; } = "";

    public string RedisPassword { get; private set; } = "";

    /// <summary>The same database as <see cref="Postgres"/>, in the key=value form Dapr's pgx driver reads.</summary>
    public string PostgresForDapr { get; private set; } = "";

    public async Task InitializeAsync()
    {
        RequireServerBinaries();

        _dataDirectory = Directory.CreateTempSubdirectory("sidecar-conformance-infra-").FullName;
        // PostgreSQL runs as the postgres user when the suite runs as root: let it traverse into the folder.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_dataDirectory, (UnixFileMode)0b111_101_101);
        }

        using var cts = new CancellationTokenSource(StartTimeout);
        try
        {
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Personalization_AppHost>(
                [
                    "Infrastructure:Mode=local",
                    "AppHost:Scope=infrastructure",
                    $"Infrastructure:DataDirectory={_dataDirectory}",
                ],
                cts.Token);
            _app = await builder.BuildAsync(cts.Token);
            await _app.StartAsync(cts.Token);

            foreach (var resource in new[] { "redis", "postgres", "rabbitmq" })
            {
                await _app.ResourceNotifications.WaitForResourceHealthyAsync(resource, cts.Token);
            }

            Redis = await _app.GetConnectionStringAsync("redis", cts.Token)
                ?? throw new InvalidOperationException("The AppHost gave no connection string for 'redis'.");
            Postgres = await _app.GetConnectionStringAsync("personalization", cts.Token)
                ?? throw new InvalidOperationException("The AppHost gave no connection string for 'personalization'.");
            var rabbit = await _app.GetConnectionStringAsync("rabbitmq", cts.Token)
                ?? throw new InvalidOperationException("The AppHost gave no connection string for 'rabbitmq'.");
            RabbitMq = new Uri(rabbit);
        }
        catch (OperationCanceledException ex) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"The AppHost did not bring redis, postgres and rabbitmq to healthy within {StartTimeout.TotalSeconds} s " +
                "(infrastructure-only mode, local executables). If a server is missing, install it: " +
                "apt-get install -y redis-server rabbitmq-server postgresql", ex);
        }

        var redisOptions = ConfigurationOptions.Parse(Redis);
        RedisHost = redisOptions.EndPoints[0] switch
        {
            System.Net.DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
            System.Net.IPEndPoint ip => $"{ip.Address}:{ip.Port}",
            var other => other.ToString() ?? "",
        };
        RedisPassword = redisOptions.Password ?? "";
        PostgresForDapr = ToLibpqKeyValue(new NpgsqlConnectionStringBuilder(Postgres));
    }

    /// <summary>Stops the RabbitMQ node (the AppHost's resource-stop command) and waits until it is down.</summary>
    public async Task StopRabbitMqAsync()
    {
        var app = _app ?? throw new InvalidOperationException("The infrastructure is not started.");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var result = await app.ResourceCommands.ExecuteCommandAsync("rabbitmq", "resource-stop", timeout.Token);
        if (!result.Success)
        {
            throw new InvalidOperationException($"Stopping rabbitmq failed: {result.Message}");
        }

        await app.ResourceNotifications.WaitForResourceAsync(
            "rabbitmq", e => e.Snapshot.State?.Text is "Exited" or "Finished" or "Stopped", timeout.Token);
    }

    /// <summary>Starts the RabbitMQ node again (resource-start) and waits until it is healthy.</summary>
    public async Task StartRabbitMqAsync()
    {
        var app = _app ?? throw new InvalidOperationException("The infrastructure is not started.");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var result = await app.ResourceCommands.ExecuteCommandAsync("rabbitmq", "resource-start", timeout.Token);
        if (!result.Success)
        {
            throw new InvalidOperationException($"Starting rabbitmq failed: {result.Message}");
        }

        await app.ResourceNotifications.WaitForResourceHealthyAsync("rabbitmq", timeout.Token);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _app.StopAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                // DisposeAsync below still tears the resources down.
            }

            await _app.DisposeAsync();
        }

        if (_dataDirectory is not null)
        {
            try
            {
                Directory.Delete(_dataDirectory, recursive: true);
            }
            catch (IOException)
            {
                // A server may still hold a file for a moment; the folder is in the temp directory.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private static string ToLibpqKeyValue(NpgsqlConnectionStringBuilder npgsql)
    {
        static string Quote(string value) =>
            value.Length > 0 && value.All(c => !char.IsWhiteSpace(c) && c is not '\'' and not '\\')
                ? value
                : "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

        var parts = new List<string>
        {
            $"host={Quote(npgsql.Host ?? "localhost")}",
            $"port={npgsql.Port}",
            $"user={Quote(npgsql.Username ?? "postgres")}",
        };
        if (!string.IsNullOrEmpty(npgsql.Password))
        {
            parts.Add($"password={Quote(npgsql.Password)}");
        }

        parts.Add($"database={Quote(npgsql.Database ?? "postgres")}");
        parts.Add("sslmode=disable");
        return string.Join(' ', parts);
    }

    private static void RequireServerBinaries()
    {
        var missing = new List<string>();
        if (!OnPath("redis-server"))
        {
            missing.Add("redis-server");
        }

        if (!OnPath("rabbitmq-server") && !File.Exists("/usr/lib/rabbitmq/bin/rabbitmq-server"))
        {
            missing.Add("rabbitmq-server");
        }

        var postgresInstalled = OnPath("postgres")
            || (Directory.Exists("/usr/lib/postgresql")
                && Directory.EnumerateFiles("/usr/lib/postgresql", "postgres", SearchOption.AllDirectories).Any());
        if (!postgresInstalled)
        {
            missing.Add("postgresql");
        }

        if (missing.Count > 0)
        {
            throw new InvalidOperationException(
                $"The conformance suite needs real servers; missing: {string.Join(", ", missing)}. Install them with: " +
                $"apt-get install -y redis-server rabbitmq-server{(missing.Contains("postgresql") ? " postgresql" : "")}");
        }
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin"])
            .Any(dir => File.Exists(Path.Combine(dir, program)));
}

/// <summary>Every test class shares one AppHost; xunit runs the classes of one collection one after another.</summary>
[CollectionDefinition(Name)]
public sealed class ConformanceCollection : ICollectionFixture<InfrastructureFixture>
{
    public const string Name = "Sidecar conformance";
}
