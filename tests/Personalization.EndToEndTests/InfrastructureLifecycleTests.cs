using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

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
            await PlatformFixture.DeleteDataDirectoryAsync(dataDirectory);
        }
    }

    [Fact]
    public async Task AServerThatFailsAtEveryStartIsReportedWithTheCommandThatResetsItsData()
    {
        Prerequisites.EnsureLocalServersInstalled();
        var data = Directory.CreateTempSubdirectory("personalization-corrupt-").FullName;
        try
        {
            // Redis's append-only manifest names files that are not there: Redis refuses to start, every time.
            var aof = Directory.CreateDirectory(Path.Combine(data, "appendonlydir")).FullName;
            File.WriteAllText(Path.Combine(aof, "appendonly.aof.manifest"),
                "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n");
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Personalization_AppHost>(
                ["Infrastructure:Mode=local", $"Infrastructure:DataDirectory={data}"]);
            var log = new CapturedLog();
            builder.Services.AddLogging(logging => logging.AddProvider(log));
            await using var app = await builder.BuildAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            // The whole platform: its start waits for Redis and does not finish while Redis is down; the report must
            // come anyway.
            var starting = app.StartAsync(timeout.Token);

            var report = await log.WaitForAsync(line => line.Contains("redis failed 2 times in a row", StringComparison.Ordinal), timeout.Token);

            Assert.Contains($"rm -rf '{aof}'", report);
            Assert.Contains(log.Lines, line => line.Contains("redis Finished (exit code 1)", StringComparison.Ordinal) && line.Contains("appendonly", StringComparison.Ordinal));
            await timeout.CancelAsync();
            await starting.ContinueWith(_ => { }, TaskScheduler.Default);
        }
        finally
        {
            await PlatformFixture.DeleteDataDirectoryAsync(data);
        }
    }

    /// <summary>Every log line of the AppHost, for tests that wait for what it reports.</summary>
    private sealed class CapturedLog : ILoggerProvider, ILogger
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IReadOnlyCollection<string> Lines => _lines;

        public async Task<string> WaitForAsync(Func<string, bool> match, CancellationToken cancellationToken)
        {
            while (true)
            {
                if (_lines.FirstOrDefault(match) is { } line)
                {
                    return line;
                }
                try
                {
                    await Task.Delay(250, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    Assert.Fail($"never logged; the last lines: {string.Join(Environment.NewLine, _lines.TakeLast(20))}");
                }
            }
        }

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                _lines.Enqueue(formatter(state, exception));
            }
        }

        public void Dispose()
        {
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
    public async Task ADataFolderThatCannotBeUsedFailsFastNamingTheSetting()
    {
        // A file where the folder should be: unusable even for root, whom permission bits do not stop.
        var file = Path.GetTempFileName();
        try
        {
            var result = await AppHostProcess.RunAsync(new()
            {
                ["Infrastructure__Mode"] = "local",
                ["Infrastructure__DataDirectory"] = file,
            });

            Assert.Equal(2, result.ExitCode);
            Assert.Contains($"The data folder '{file}' cannot be used", result.StandardError);
            Assert.Contains("Infrastructure__DataDirectory=<folder>", result.StandardError);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task ADamagedPostgresFolderFailsFastWithTheCommandThatResetsIt()
    {
        // What an interrupted first start leaves: PostgreSQL's folder with some files and no PG_VERSION.
        var data = Directory.CreateTempSubdirectory("personalization-damaged-").FullName;
        try
        {
            var postgres = Directory.CreateDirectory(Path.Combine(data, "postgres")).FullName;
            File.WriteAllText(Path.Combine(postgres, "postgresql.conf"), "# half-written\n");

            var result = await AppHostProcess.RunAsync(new()
            {
                ["Infrastructure__Mode"] = "local",
                ["Infrastructure__DataDirectory"] = data,
            });

            Assert.Equal(2, result.ExitCode);
            Assert.Contains("is damaged: it has no PG_VERSION", result.StandardError);
            Assert.Contains($"rm -rf '{postgres}'", result.StandardError);
        }
        finally
        {
            await PlatformFixture.DeleteDataDirectoryAsync(data);
        }
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
