using System.Diagnostics;
using System.Globalization;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Personalization.AppHost.Infrastructure;

/// <summary>The three servers every service builds on, whichever way they run.</summary>
public sealed record Infrastructure(
    InfrastructureMode Mode,
    IResourceBuilder<IResourceWithConnectionString> Redis,
    IResourceBuilder<IResourceWithConnectionString> Postgres,
    IResourceBuilder<IResourceWithConnectionString> Database,
    IResourceBuilder<IResourceWithConnectionString> RabbitMq,
    IReadOnlyDictionary<string, ReferenceExpression> DaprSecrets);

public static class InfrastructureExtensions
{
    public const string RedisName = "redis";
    public const string PostgresName = "postgres";
    public const string DatabaseName = "personalization";
    public const string RabbitMqName = "rabbitmq";

    private const string AptInstall = "apt-get update && apt-get install -y redis-server rabbitmq-server postgresql";

    /// <summary>
    /// Adds Redis, PostgreSQL (with the platform's database) and RabbitMQ as containers when a container
    /// runtime answers, else as local executables. <c>Infrastructure:Mode</c> = auto | containers | local forces it.
    /// </summary>
    public static Infrastructure AddInfrastructure(this IDistributedApplicationBuilder builder)
    {
        var options = InfrastructureOptions.From(builder.Configuration, builder.AppHostDirectory);
        var mode = ResolveMode(options.Mode, builder.ExecutionContext.IsPublishMode);
        return mode == InfrastructureMode.Containers ? AddContainers(builder) : AddLocal(builder, options);
    }

    private static InfrastructureMode ResolveMode(string configured, bool publishing)
    {
        switch (configured)
        {
            case "containers" when !publishing && ContainerRuntime.Detect() is null:
                throw new InfrastructureUnavailableException(
                    "Infrastructure:Mode is 'containers' but no container runtime answers ('docker info' and 'podman info' failed). " +
                    "Start Docker or Podman, or run with Infrastructure__Mode=local (needs: " + AptInstall + ").");
            case "containers":
                return InfrastructureMode.Containers;
            case "local":
                return InfrastructureMode.Local;
            case "auto" or "":
                // Publishing (manifests for Kubernetes) always describes containers.
                return publishing || ContainerRuntime.Detect() is not null ? InfrastructureMode.Containers : InfrastructureMode.Local;
            default:
                throw new InfrastructureUnavailableException(
                    $"Infrastructure:Mode is '{configured}'; use 'auto', 'containers' or 'local'.");
        }
    }

    private static Infrastructure AddContainers(IDistributedApplicationBuilder builder)
    {
        var redis = builder.AddRedis(RedisName);
        var postgres = builder.AddPostgres(PostgresName);
        var database = postgres.AddDatabase(DatabaseName);
        var rabbitMq = builder.AddRabbitMQ(RabbitMqName);
        var secrets = new Dictionary<string, ReferenceExpression>
        {
            ["REDIS_HOST"] = ReferenceExpression.Create($"{redis.Resource.PrimaryEndpoint.Property(EndpointProperty.HostAndPort)}"),
            ["REDIS_PASSWORD"] = ReferenceExpression.Create($"{redis.Resource.PasswordParameter!}"),
            ["RABBITMQ_CONNECTION_STRING"] = rabbitMq.Resource.ConnectionStringExpression,
            ["POSTGRES_CONNECTION_STRING"] = ReferenceExpression.Create(
                $"host={postgres.Resource.PrimaryEndpoint.Property(EndpointProperty.Host)} port={postgres.Resource.PrimaryEndpoint.Property(EndpointProperty.Port)} user={postgres.Resource.UserNameReference} password={postgres.Resource.PasswordParameter} dbname={DatabaseName}"),
        };
        return new Infrastructure(InfrastructureMode.Containers, As(redis), As(postgres), As(database), As(rabbitMq), secrets);
    }

    private static Infrastructure AddLocal(IDistributedApplicationBuilder builder, InfrastructureOptions options)
    {
        var redisServer = Existing(options.RedisServer) ?? Executables.FindOnPath("redis-server")
            ?? throw Missing("redis-server", "apt-get install -y redis-server");
        var postgresBin = Existing(options.PostgresBin, "postgres") ?? FindPostgresBin()
            ?? throw Missing("PostgreSQL (initdb, postgres)", "apt-get install -y postgresql");
        var rabbitMqServer = Existing(options.RabbitMqServer) ?? FindRabbitMqServer()
            ?? throw Missing("rabbitmq-server", "apt-get install -y rabbitmq-server");
        var epmd = Executables.FindOnPath("epmd")
            ?? throw Missing("epmd (Erlang)", "apt-get install -y rabbitmq-server");

        var data = options.DataDirectory;
        DataFolders.EnsureUsable(data);
        // The PostgreSQL server runs as its own user when we are root; it must be able to reach its folder.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(data, (UnixFileMode)0b111_101_101);
        }

        // Redis: profiles, sessions and the de-duplication and seen-markers that make counting exactly-once. Profiles are
        // derived, but from events no longer kept anywhere, so Redis must survive a restart: an append-only file synced
        // every second (a clean stop or restart loses nothing; a power cut or kill -9 of Redis at most its last second).
        var redisPassword = builder.AddParameter("redis-password", new GenerateParameterDefault { MinLength = 24, Special = false }, secret: true);
        var redis = builder.AddResource(new LocalRedisResource(RedisName, redisServer, data, redisPassword.Resource))
            .WithLoopbackEndpoint()
            .WithAnnotation(new DataFolderAnnotation(Path.Combine(data, "appendonlydir")))
            .WithArgs(context =>
            {
                var endpoint = ((LocalRedisResource)context.Resource).Endpoint;
                context.Args.Add("--port");
                context.Args.Add(endpoint.Property(EndpointProperty.TargetPort));
                AddAll(context.Args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", data, "--requirepass", redisPassword.Resource);
            });
        AddHealthCheck(builder, redis, new RedisPingCheck(redis.Resource));

        // PostgreSQL: the durable record. It refuses to run as root, so as root it runs as 'postgres'.
        var postgresData = Path.Combine(data, "postgres");
        DataFolders.EnsurePostgresUsable(postgresData, postgresBin);
        var runAs = Environment.UserName == "root" ? "postgres" : null;
        // PostgreSQL writes every log line, routine ones included, to stderr, which the dashboard shows as errors: a
        // shell that replaces itself with the server (exec, same process) sends them to stdout instead.
        var postgres = builder.AddResource(new LocalPostgresResource(PostgresName, "/bin/sh", data))
            .WithLoopbackEndpoint()
            .WithAnnotation(new DataFolderAnnotation(postgresData))
            .WithArgs(context =>
            {
                var endpoint = ((LocalPostgresResource)context.Resource).Endpoint;
                AddAll(context.Args, "-c", "exec \"$0\" \"$@\" 2>&1", runAs is null ? Path.Combine(postgresBin, "postgres") : "setpriv");
                if (runAs is not null)
                {
                    AddAll(context.Args, $"--reuid={runAs}", $"--regid={runAs}", "--clear-groups", "--", Path.Combine(postgresBin, "postgres"));
                }
                AddAll(context.Args, "-D", postgresData, "-k", postgresData, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-p");
                context.Args.Add(endpoint.Property(EndpointProperty.TargetPort));
            });
        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(postgres.Resource, (_, cancellationToken) =>
            InitPostgresAsync(postgresBin, postgresData, runAs, cancellationToken));
        var database = builder.AddResource(new LocalPostgresDatabaseResource(DatabaseName, DatabaseName, postgres.Resource))
            .WithParentRelationship(postgres);
        AddHealthCheck(builder, postgres, new PostgresSelectCheck(database.Resource));

        // RabbitMQ: an isolated node (its own name, ports, folders and Erlang cookie), with its own
        // epmd run in the foreground so that it stops with the rest instead of outliving the node.
        var rabbitData = Path.Combine(data, "rabbitmq");
        // epmd and the distribution port serve only the node and its CLI, not clients: free ports picked here.
        var epmdPort = Ports.FreeLoopbackPort();
        var distributionPort = Ports.FreeLoopbackPort();
        var epmdResource = builder.AddExecutable($"{RabbitMqName}-epmd", epmd, data, "-port", epmdPort.ToString(CultureInfo.InvariantCulture));
        var rabbitMq = builder.AddResource(new LocalRabbitMqResource(RabbitMqName, rabbitMqServer, data))
            .WithLoopbackEndpoint()
            .WithAnnotation(new DataFolderAnnotation(rabbitData))
            .WithEnvironment(context =>
            {
                var resource = (LocalRabbitMqResource)context.Resource;
                var env = context.EnvironmentVariables;
                env["RABBITMQ_NODENAME"] = "personalization@localhost";
                env["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1";
                env["RABBITMQ_NODE_PORT"] = resource.Endpoint.Property(EndpointProperty.TargetPort);
                env["RABBITMQ_DIST_PORT"] = distributionPort.ToString(CultureInfo.InvariantCulture);
                env["ERL_EPMD_PORT"] = epmdPort.ToString(CultureInfo.InvariantCulture);
                env["RABBITMQ_MNESIA_BASE"] = Path.Combine(rabbitData, "mnesia");
                env["RABBITMQ_LOG_BASE"] = Path.Combine(rabbitData, "log");
                env["RABBITMQ_LOGS"] = "-";   // to stdout, so the dashboard shows the node's log
                env["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(rabbitData, "enabled_plugins");
                env["RABBITMQ_CONFIG_FILE"] = Path.Combine(rabbitData, "rabbitmq.conf");
                env["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(rabbitData, "advanced.config");
                env["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(rabbitData, "rabbitmq-env.conf");
                env["RABBITMQ_PID_FILE"] = Path.Combine(rabbitData, "rabbitmq.pid");
                env["HOME"] = Path.Combine(rabbitData, "home");
            })
            .WaitFor(epmdResource);
        epmdResource.WithParentRelationship(rabbitMq);
        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(rabbitMq.Resource, (_, _) =>
        {
            PrepareRabbitMqFolder(rabbitData);
            return Task.CompletedTask;
        });
        AddHealthCheck(builder, rabbitMq, new RabbitMqOpenCheck(rabbitMq.Resource));

        // What the Dapr components read through the env secret store (see components/*.yaml).
        var secrets = new Dictionary<string, ReferenceExpression>
        {
            ["REDIS_HOST"] = ReferenceExpression.Create($"127.0.0.1:{redis.Resource.Endpoint.Property(EndpointProperty.Port)}"),
            ["REDIS_PASSWORD"] = ReferenceExpression.Create($"{redisPassword}"),
            ["RABBITMQ_CONNECTION_STRING"] = rabbitMq.Resource.ConnectionStringExpression,
            ["POSTGRES_CONNECTION_STRING"] = ReferenceExpression.Create(
                $"host=127.0.0.1 port={postgres.Resource.Endpoint.Property(EndpointProperty.Port)} user=postgres dbname={DatabaseName}"),
        };
        return new Infrastructure(InfrastructureMode.Local, As(redis), As(postgres), As(database), As(rabbitMq), secrets);
    }

    /// <summary>
    /// The server's client endpoint on a free loopback port, not proxied by the orchestrator: every state call and
    /// every message goes to it, and a proxy would copy each byte through one more process.
    /// </summary>
    private static IResourceBuilder<T> WithLoopbackEndpoint<T>(this IResourceBuilder<T> server) where T : IResourceWithEndpoints
    {
        var port = Ports.FreeLoopbackPort();
        return server.WithEndpoint(name: "tcp", scheme: "tcp", port: port, targetPort: port, isProxied: false);
    }

    private static void AddAll(IList<object> args, params object[] values)
    {
        foreach (var value in values)
        {
            args.Add(value);
        }
    }

    private static void AddHealthCheck<T>(IDistributedApplicationBuilder builder, IResourceBuilder<T> resource, IHealthCheck check)
        where T : IResource
    {
        var key = $"{resource.Resource.Name}-ready";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(key, check, failureStatus: null, tags: null));
        resource.WithHealthCheck(key);
    }

    private static async Task InitPostgresAsync(string postgresBin, string dataDirectory, string? runAs, CancellationToken cancellationToken)
    {
        if (File.Exists(Path.Combine(dataDirectory, "PG_VERSION")))
        {
            return;
        }
        if (runAs is null)
        {
            Directory.CreateDirectory(dataDirectory);
            await RunAsync(Path.Combine(postgresBin, "initdb"), ["-D", dataDirectory, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-instructions"], cancellationToken);
            return;
        }
        await RunAsync("install", ["-d", "-m", "0700", "-o", runAs, "-g", runAs, dataDirectory], cancellationToken);
        await RunAsync("setpriv", [$"--reuid={runAs}", $"--regid={runAs}", "--clear-groups", "--",
            Path.Combine(postgresBin, "initdb"), "-D", dataDirectory, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-instructions"], cancellationToken);
    }

    private static void PrepareRabbitMqFolder(string rabbitData)
    {
        foreach (var folder in new[] { "mnesia", "log", "home" })
        {
            Directory.CreateDirectory(Path.Combine(rabbitData, folder));
        }
        // No plugins: the node starts faster and needs nothing but AMQP.
        File.WriteAllText(Path.Combine(rabbitData, "enabled_plugins"), "[].\n");
        File.WriteAllText(Path.Combine(rabbitData, "rabbitmq.conf"), "loopback_users.guest = true\n");
        File.WriteAllText(Path.Combine(rabbitData, "advanced.config"), "[].\n");
        File.WriteAllText(Path.Combine(rabbitData, "rabbitmq-env.conf"), "");
    }

    private static async Task RunAsync(string command, string[] arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true };
        arguments.ToList().ForEach(start.ArgumentList.Add);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {command}");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await error}{await output}");
        }
    }

    /// <summary>A configured path, when it is set; a set path that does not exist counts as missing.</summary>
    private static string? Existing(string? configured, string? fileInFolder = null) =>
        configured is null ? null
        : File.Exists(fileInFolder is null ? configured : Path.Combine(configured, fileInFolder)) ? configured
        : throw new InfrastructureUnavailableException($"Configured path '{configured}' does not exist. " +
            "Remove the setting to use the installed servers, or install them with: " + AptInstall);

    private static string? FindPostgresBin()
    {
        // Debian keeps the server binaries out of PATH, one folder per major version: take the newest.
        var debian = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(folder => Path.Combine(folder, "bin"))
                .Where(bin => File.Exists(Path.Combine(bin, "postgres")) && File.Exists(Path.Combine(bin, "initdb")))
                .OrderByDescending(bin => int.TryParse(Path.GetFileName(Path.GetDirectoryName(bin)), out var major) ? major : 0)
                .FirstOrDefault()
            : null;
        return debian ?? (Executables.FindOnPath("postgres") is { } onPath ? Path.GetDirectoryName(onPath) : null);
    }

    private static string? FindRabbitMqServer()
    {
        // Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user; the script behind it runs as we are.
        const string debian = "/usr/lib/rabbitmq/bin/rabbitmq-server";
        return File.Exists(debian) ? debian : Executables.FindOnPath("rabbitmq-server");
    }

    private static InfrastructureUnavailableException Missing(string what, string install) =>
        new($"Infrastructure mode 'local' needs {what}, which is not installed. Install it with: {install} " +
            "(or set Infrastructure__Mode=containers with Docker or Podman running).");

    private static IResourceBuilder<IResourceWithConnectionString> As<T>(IResourceBuilder<T> resource)
        where T : IResourceWithConnectionString => (IResourceBuilder<IResourceWithConnectionString>)resource;
}
