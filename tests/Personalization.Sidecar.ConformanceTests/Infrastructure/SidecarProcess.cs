using System.Diagnostics;
using System.Reflection;
using System.Text;
using Dapr.Client;

namespace Personalization.Sidecar.ConformanceTests.Infrastructure;

public sealed record SidecarOptions(string AppId, string ResourcesPath)
{
    /// <summary>The subscriber app's port; null starts a sidecar without an app (publish and state only).</summary>
    public int? AppPort { get; init; }

    public string? ApiToken { get; init; }

    /// <summary>Fixed ports, for a restart that must look like the same sidecar; free ones when null.</summary>
    public int? HttpPort { get; init; }

    public int? GrpcPort { get; init; }

    public int? MetricsPort { get; init; }

    /// <summary>Environment variables of the sidecar process (for the env secret store).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>More command-line arguments, after daprd's flags.</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];
}

/// <summary>
/// The sidecar under test as a separate process: this repository's Personalization.Sidecar, or the real
/// daprd when CONFORMANCE_DAPRD names one. Both get daprd's flags.
/// </summary>
public sealed class SidecarProcess : IAsyncDisposable
{
    public const string DaprdVariable = "CONFORMANCE_DAPRD";
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<DaprClient> _clients = [];

    private SidecarProcess(SidecarOptions options, Process process, int httpPort, int grpcPort)
    {
        Options = options;
        _process = process;
        HttpPort = httpPort;
        GrpcPort = grpcPort;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public SidecarOptions Options { get; }

    public int HttpPort { get; }

    public int GrpcPort { get; }

    public int ProcessId => _process.Id;

    /// <summary>Raw HTTP to the sidecar's Dapr HTTP API (no token header).</summary>
    public HttpClient Http { get; }

    public bool HasExited => _process.HasExited;

    public static bool UsesRealDaprd => !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(DaprdVariable));

    /// <summary>Starts the sidecar and waits until /v1.0/healthz answers 2xx.</summary>
    public static async Task<SidecarProcess> StartAsync(SidecarOptions options)
    {
        var sidecar = Launch(options);
        try
        {
            await sidecar.WaitUntilHealthyAsync();
            return sidecar;
        }
        catch
        {
            await sidecar.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the sidecar without waiting for it (for start-up failure tests).</summary>
    public static SidecarProcess Launch(SidecarOptions options)
    {
        var httpPort = options.HttpPort ?? FreePort.Next();
        var grpcPort = options.GrpcPort ?? FreePort.Next();
        var daprd = Environment.GetEnvironmentVariable(DaprdVariable);

        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (string.IsNullOrWhiteSpace(daprd))
        {
            start.FileName = "dotnet";
            start.ArgumentList.Add(LocateSidecarAssembly());
        }
        else
        {
            start.FileName = daprd;
        }

        void Flag(string name, string value)
        {
            start.ArgumentList.Add(name);
            start.ArgumentList.Add(value);
        }

        Flag("--app-id", options.AppId);
        Flag("--dapr-http-port", httpPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Flag("--dapr-grpc-port", grpcPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Flag("--metrics-port", (options.MetricsPort ?? FreePort.Next()).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Flag("--resources-path", options.ResourcesPath);
        Flag("--log-level", "info");
        if (options.AppPort is int appPort)
        {
            Flag("--app-port", appPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Flag("--app-protocol", "http");
            Flag("--app-channel-address", "127.0.0.1");
        }

        if (!string.IsNullOrWhiteSpace(daprd))
        {
            // daprd would otherwise try to reach a placement service and a scheduler that do not exist here.
            Flag("--dapr-internal-grpc-port", FreePort.Next().ToString(System.Globalization.CultureInfo.InvariantCulture));
            Flag("--placement-host-address", "");
            Flag("--scheduler-host-address", "");
        }

        foreach (var extra in options.ExtraArgs)
        {
            start.ArgumentList.Add(extra);
        }

        // The sidecar must see only what the test gives it.
        foreach (var inherited in new[]
                 {
                     "DAPR_API_TOKEN", "APP_API_TOKEN", "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS",
                     "DOTNET_URLS", "OTEL_EXPORTER_OTLP_ENDPOINT", "DAPR_HTTP_PORT", "DAPR_GRPC_PORT",
                 })
        {
            start.Environment.Remove(inherited);
        }

        if (options.ApiToken is not null)
        {
            start.Environment["DAPR_API_TOKEN"] = options.ApiToken;
        }
        foreach (var (name, value) in options.Environment) start.Environment[name] = value;

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var sidecar = new SidecarProcess(options, process, httpPort, grpcPort);
        process.OutputDataReceived += (_, e) => sidecar.Append(e.Data);
        process.ErrorDataReceived += (_, e) => sidecar.Append(e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {start.FileName}.");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return sidecar;
    }

    /// <summary>A Dapr.Client 1.19 client over gRPC (and HTTP for health), with this sidecar's API token.</summary>
    public DaprClient CreateClient(string? apiToken = null)
    {
        var builder = new DaprClientBuilder()
            .UseGrpcEndpoint($"http://127.0.0.1:{GrpcPort}")
            .UseHttpEndpoint($"http://127.0.0.1:{HttpPort}");
        var token = apiToken ?? Options.ApiToken;
        if (token is not null)
        {
            builder.UseDaprApiToken(token);
        }

        var client = builder.Build();
        lock (_clients)
        {
            _clients.Add(client);
        }

        return client;
    }

    /// <summary>The last lines the process wrote, for failure messages.</summary>
    public string OutputTail(int maxChars = 6000)
    {
        lock (_output)
        {
            var text = _output.ToString();
            var tail = text.Length <= maxChars ? text : text[^maxChars..];
            var exit = _process.HasExited ? $"exited with code {_process.ExitCode}" : "still running";
            return $"--- sidecar {Options.AppId} (pid {_process.Id}, {exit}) output tail ---{Environment.NewLine}{tail}";
        }
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public async Task WaitUntilHealthyAsync()
    {
        await Eventually.IsTrueAsync(
            async () =>
            {
                if (_process.HasExited)
                {
                    throw new GiveUpException($"The sidecar {Options.AppId} exited with code {_process.ExitCode} before it was healthy.{Environment.NewLine}{OutputTail()}");
                }

                using var response = await Http.GetAsync("/v1.0/healthz");
                return response.IsSuccessStatusCode;
            },
            $"sidecar {Options.AppId} to answer 2xx on /v1.0/healthz",
            ReadyTimeout,
            () => OutputTail());
    }

    /// <summary>Waits for the process to end by itself; returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The sidecar did not exit within {timeout.TotalSeconds} s.{Environment.NewLine}{OutputTail()}");
        }

        return _process.ExitCode;
    }

    /// <summary>SIGKILL to this process (kill -9 by PID): no chance to ack, nack or drain.</summary>
    public async Task KillHardAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (_clients)
        {
            foreach (var client in _clients)
            {
                client.Dispose();
            }

            _clients.Clear();
        }

        Http.Dispose();
        try
        {
            await KillHardAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
            if (_output.Length > 400_000)
            {
                _output.Remove(0, 200_000);
            }
        }
    }

    private static string LocateSidecarAssembly()
    {
        var overridden = Environment.GetEnvironmentVariable("CONFORMANCE_SIDECAR_DLL");
        if (!string.IsNullOrWhiteSpace(overridden))
        {
            return overridden;
        }

        var configuration = typeof(SidecarProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Personalization.sln")))
            {
                var candidate = Path.Combine(dir.FullName, "src", "Personalization.Sidecar", "bin", configuration, "net10.0", "Personalization.Sidecar.dll");
                if (File.Exists(candidate))
                {
                    return candidate;
                }

                throw new FileNotFoundException(
                    $"The sidecar is not built at {candidate}; build the test project (it references the sidecar) first.", candidate);
            }
        }

        throw new DirectoryNotFoundException("Could not find Personalization.sln above the test output folder.");
    }
}
