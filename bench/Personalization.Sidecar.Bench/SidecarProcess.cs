using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace Personalization.Sidecar.Bench;

/// <summary>The local sidecar (or daprd when CONFORMANCE_DAPRD names one) as a separate process with daprd's flags.</summary>
public sealed class SidecarProcess : IAsyncDisposable
{
    private readonly Process _process;

    private SidecarProcess(Process process, int httpPort, int grpcPort)
    {
        _process = process;
        HttpPort = httpPort;
        GrpcPort = grpcPort;
    }

    public int HttpPort { get; }

    public int GrpcPort { get; }

    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public static async Task<SidecarProcess> StartAsync(string appId, string resourcesPath, int appPort, CancellationToken cancellationToken)
    {
        var httpPort = FreePort();
        var grpcPort = FreePort();
        var daprd = Environment.GetEnvironmentVariable("CONFORMANCE_DAPRD");
        var start = new ProcessStartInfo { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (string.IsNullOrWhiteSpace(daprd))
        {
            start.FileName = "dotnet";
            start.ArgumentList.Add(LocateSidecarAssembly());
        }
        else
        {
            start.FileName = daprd;
        }

        string[] flags =
        [
            "--app-id", appId, "--app-port", appPort.ToString(CultureInfo.InvariantCulture), "--app-protocol", "http",
            "--app-channel-address", "127.0.0.1", "--dapr-http-port", httpPort.ToString(CultureInfo.InvariantCulture),
            "--dapr-grpc-port", grpcPort.ToString(CultureInfo.InvariantCulture), "--metrics-port", FreePort().ToString(CultureInfo.InvariantCulture),
            "--resources-path", resourcesPath, "--log-level", "warn",
            // As the platform runs it: the project's Configuration (tracing sampling) applies.
            "--config", Path.Combine(FindRepositoryRoot(), "components", "config.yaml"),
        ];
        foreach (var flag in flags)
        {
            start.ArgumentList.Add(flag);
        }

        foreach (var inherited in new[] { "DAPR_API_TOKEN", "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "OTEL_EXPORTER_OTLP_ENDPOINT" })
        {
            start.Environment.Remove(inherited);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the sidecar");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { Console.WriteLine($"  [sidecar] {e.Data}"); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.WriteLine($"  [sidecar] {e.Data}"); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var sidecar = new SidecarProcess(process, httpPort, grpcPort);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the sidecar exited with code {process.ExitCode} during start");
            }

            try
            {
                using var response = await http.GetAsync("/v1.0/healthz", cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return sidecar;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                await sidecar.DisposeAsync();
                throw new TimeoutException("the sidecar was not healthy within 30 s");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    public static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Personalization.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("Personalization.sln not found above the benchmark's output folder");
    }

    private static string LocateSidecarAssembly()
    {
        var configuration = typeof(SidecarProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        var path = Path.Combine(FindRepositoryRoot(), "src", "Personalization.Sidecar", "bin", configuration, "net10.0", "Personalization.Sidecar.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"the sidecar is not built at {path}", path);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
