using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Personalization.EndToEndTests;

public sealed class InfrastructureLifecycleTests
{
    [Fact]
    public async Task DisposingTheAppLeavesNoInfrastructureProcessRunning()
    {
        Prerequisites.EnsureLocalServersInstalled();
        var dataDirectory = Directory.CreateTempSubdirectory("personalization-shutdown-").FullName;
        try
        {
            var app = await PlatformFixture.StartAsync(dataDirectory, scope: "infrastructure", waitFor: PlatformFixture.Servers);
            var running = ProcessesUsing(dataDirectory);
            Assert.True(running.Count >= 4, $"expected redis, postgres, epmd and rabbitmq under {dataDirectory}, saw: {Describe(running)}");

            await app.DisposeAsync();

            var deadline = Stopwatch.StartNew();
            while (ProcessesUsing(dataDirectory).Count > 0 && deadline.Elapsed < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(250);
            }
            var left = ProcessesUsing(dataDirectory);
            Assert.True(left.Count == 0, $"still running 15 s after dispose: {Describe(left)}");
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    /// <summary>Processes whose command line, working directory or environment mention the folder: the servers this app started.</summary>
    private static List<(int Pid, string Command)> ProcessesUsing(string folder)
    {
        var found = new List<(int, string)>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            try
            {
                var command = File.ReadAllText(Path.Combine(entry, "cmdline")).Replace('\0', ' ');
                var environment = File.ReadAllText(Path.Combine(entry, "environ"));
                var cwd = new DirectoryInfo(Path.Combine(entry, "cwd")).LinkTarget ?? "";
                if (command.Contains(folder) || environment.Contains(folder) || cwd.StartsWith(folder))
                {
                    found.Add((pid, command));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked, or is not ours to read.
            }
        }
        return found;
    }

    private static string Describe(List<(int Pid, string Command)> processes) =>
        processes.Count == 0 ? "none" : string.Join("; ", processes.Select(p => $"{p.Pid}: {p.Command}"));
}

/// <summary>A setup that cannot work stops the AppHost at once with one message naming the fix.</summary>
public sealed class AppHostMisconfigurationTests
{
    [Fact]
    public async Task ForcedContainerModeWithoutARuntimeFailsFastNamingTheFix()
    {
        // A docker client whose engine does not answer, as on machines without a Docker daemon.
        var fakeBin = Directory.CreateTempSubdirectory("personalization-nodocker-").FullName;
        var docker = Path.Combine(fakeBin, "docker");
        await File.WriteAllTextAsync(docker, "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n");
        File.SetUnixFileMode(docker, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            var result = await AppHostProcess.RunAsync(new()
            {
                ["Infrastructure__Mode"] = "containers",
                ["PATH"] = $"{fakeBin}:{Path.GetDirectoryName(AppHostProcess.DotnetPath)}:/usr/bin:/bin",
            });

            Assert.Equal(2, result.ExitCode);
            Assert.Contains("no container runtime answers", result.StandardError);
            Assert.Contains("Infrastructure__Mode=local", result.StandardError);
            Assert.DoesNotContain("   at ", result.StandardError);
        }
        finally
        {
            Directory.Delete(fakeBin, recursive: true);
        }
    }

    [Fact]
    public async Task LocalModeWithAMissingServerBinaryFailsFastNamingTheInstallCommand()
    {
        var result = await AppHostProcess.RunAsync(new()
        {
            ["Infrastructure__Mode"] = "local",
            ["Infrastructure__RedisServer"] = "/nonexistent/redis-server",
        });

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("/nonexistent/redis-server", result.StandardError);
        Assert.Contains("apt-get install -y redis-server", result.StandardError);
    }

    [Fact]
    public async Task AGatewayPortAlreadyInUseFailsFastNamingThePort()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;

        var result = await AppHostProcess.RunAsync(new()
        {
            ["Infrastructure__Mode"] = "local",
            ["Gateway__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"Gateway port {port} is already in use", result.StandardError);
    }

    [Fact]
    public async Task AnUnknownModeIsRejectedNamingTheChoices()
    {
        var result = await AppHostProcess.RunAsync(new() { ["Infrastructure__Mode"] = "kubernetes" });

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("'auto', 'containers' or 'local'", result.StandardError);
    }
}

/// <summary>Runs the built AppHost as a user would, and returns how it ended.</summary>
internal static class AppHostProcess
{
    public static string DotnetPath => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    public static async Task<(int ExitCode, string StandardError)> RunAsync(Dictionary<string, string> environment)
    {
        // The AppHost is built beside this test assembly's configuration: bin/<Configuration>/net10.0.
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = testOutput.Parent!.Name;
        var appHostFolder = Projects.Personalization_AppHost.ProjectPath;
        if (appHostFolder.EndsWith(".csproj", StringComparison.Ordinal))
        {
            appHostFolder = Path.GetDirectoryName(appHostFolder)!;
        }
        var appHostDll = Path.Combine(appHostFolder, "bin", configuration, testOutput.Name, "Personalization.AppHost.dll");
        Assert.True(File.Exists(appHostDll), $"AppHost not built at {appHostDll}");

        var start = new ProcessStartInfo(DotnetPath, [appHostDll])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = Path.GetDirectoryName(appHostDll)!,
        };
        start.Environment["ASPIRE_ALLOW_UNSECURED_TRANSPORT"] = "true";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"The AppHost did not fail fast: still running after 30 s. Output: {await output}");
        }
        return (process.ExitCode, await error);
    }
}
