using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Personalization.LoadGenerator;

/// <summary>
/// The floor for ingestion: a minimal Kestrel endpoint in this process, on loopback, that reads the whole batch body and
/// answers 200 <c>{"success":true}</c>, as the collector does when all is well, with no parsing, no broker and no proxy.
/// </summary>
public sealed class BareKestrel : IAsyncDisposable
{
    private static readonly byte[] Success = """{"success":true}"""u8.ToArray();
    private readonly WebApplication _app;

    private BareKestrel(WebApplication app, Uri address) => (_app, Address) = (app, address);

    public Uri Address { get; }

    public static async Task<BareKestrel> StartAsync(CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapPost("/v1/batch", async (HttpContext context) =>
        {
            var buffer = new byte[16 * 1024];
            while (await context.Request.Body.ReadAsync(buffer, context.RequestAborted) > 0)
            {
            }
            context.Response.ContentType = "application/json";
            await context.Response.Body.WriteAsync(Success, context.RequestAborted);
        });
        await app.StartAsync(ct);
        var address = app.Urls.First();
        return new BareKestrel(app, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// The floor for reads and freshness: StackExchange.Redis against a Redis on loopback. Reads are GETs of a value the
/// size of a real profile answer; "freshness" is a SET followed by a GET that sees it.
/// </summary>
public sealed class RedisBaseline : IAsyncDisposable
{
    private const int Keys = 1000;
    private readonly ConnectionMultiplexer _redis;
    private readonly Process? _server;
    private readonly string _prefix = "loadgen-baseline:" + Guid.NewGuid().ToString("N")[..8] + ":";

    private RedisBaseline(ConnectionMultiplexer redis, Process? server, string description) =>
        (_redis, _server, Description) = (redis, server, description);

    public string Description { get; }

    /// <summary>Connects to <paramref name="endpoint"/>, or starts a private <c>redis-server</c> (no persistence) on a free loopback port.</summary>
    public static async Task<RedisBaseline> StartAsync(string? endpoint, CancellationToken ct)
    {
        Process? server = null;
        string description;
        if (endpoint is null)
        {
            var port = FreePort();
            var start = new ProcessStartInfo("redis-server",
                ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            server = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start");
            server.OutputDataReceived += (_, _) => { };
            server.ErrorDataReceived += (_, _) => { };
            server.BeginOutputReadLine();
            server.BeginErrorReadLine();
            endpoint = "127.0.0.1:" + port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            description = "a private redis-server started by the generator on loopback (no persistence)";
        }
        else
        {
            description = "the Redis at the address given with --redis";
        }

        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var redis = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
                {
                    EndPoints = { endpoint },
                    AbortOnConnectFail = true,
                    ConnectTimeout = 2000,
                });
                var version = redis.GetServer(redis.GetEndPoints()[0]).Version;
                return new RedisBaseline(redis, server, $"{description}, Redis {version}");
            }
            catch (RedisConnectionException) when (clock.Elapsed < TimeSpan.FromSeconds(15) && server is { HasExited: false })
            {
                await Task.Delay(200, ct);
            }
            catch
            {
                Stop(server);
                throw;
            }
        }
    }

    public async Task LoadAsync(byte[] value)
    {
        var db = _redis.GetDatabase();
        var writes = new Task[Keys];
        for (var i = 0; i < Keys; i++) writes[i] = db.StringSetAsync(_prefix + i, value, TimeSpan.FromMinutes(10));
        await Task.WhenAll(writes);
    }

    public Task<ScheduleOutcome> ReadsAsync(int perSecond, TimeSpan duration, LatencyRecorder latency, CancellationToken ct)
    {
        var db = _redis.GetDatabase();
        return FixedRate.RunAsync(perSecond, duration, 64, async _ =>
        {
            var start = Stopwatch.GetTimestamp();
            var value = await db.StringGetAsync(_prefix + Random.Shared.Next(Keys));
            if (value.IsNull) throw new InvalidOperationException("baseline key missing");
            latency.RecordSince(start);
        }, ct);
    }

    /// <summary>SET of a profile-sized value, then GET until it is the new value: the store's own write → visible time.</summary>
    public Task<ScheduleOutcome> SetThenGetAsync(int perSecond, TimeSpan duration, byte[] value, LatencyRecorder latency, CancellationToken ct)
    {
        var db = _redis.GetDatabase();
        return FixedRate.RunAsync(perSecond, duration, 64, async _ =>
        {
            var key = _prefix + "fresh:" + Random.Shared.Next(Keys);
            var stamp = Guid.NewGuid().ToByteArray();
            var payload = new byte[value.Length + stamp.Length];
            stamp.CopyTo(payload, 0);
            value.CopyTo(payload, stamp.Length);
            var start = Stopwatch.GetTimestamp();
            await db.StringSetAsync(key, payload, TimeSpan.FromMinutes(10));
            while (true)
            {
                byte[]? seen = await db.StringGetAsync(key);
                if (seen is not null && seen.AsSpan(0, stamp.Length).SequenceEqual(stamp)) break;
            }
            latency.RecordSince(start);
        }, ct);
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is null)
        {
            // Someone else's Redis: leave nothing behind.
            var db = _redis.GetDatabase();
            var deletes = new List<Task>();
            for (var i = 0; i < Keys; i++)
            {
                deletes.Add(db.KeyDeleteAsync(_prefix + i));
                deletes.Add(db.KeyDeleteAsync(_prefix + "fresh:" + i));
            }
            await Task.WhenAll(deletes);
        }
        await _redis.CloseAsync();
        _redis.Dispose();
        Stop(_server);
    }

    private static void Stop(Process? server)
    {
        if (server is null) return;
        try
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
                server.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        server.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
