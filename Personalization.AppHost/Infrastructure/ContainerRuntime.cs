using System.Diagnostics;

namespace Personalization.AppHost.Infrastructure;

/// <summary>Finds a usable container runtime: a client on PATH whose engine answers <c>info</c>.</summary>
public static class ContainerRuntime
{
    /// <summary>The runtime name (docker or podman) when its engine answers within a few seconds, else null.</summary>
    public static string? Detect()
    {
        foreach (var runtime in new[] { "docker", "podman" })
        {
            if (Executables.FindOnPath(runtime) is not { } path)
            {
                continue;
            }
            // A docker client without an engine is common (CI images, remote contexts): ask the engine.
            using var process = Process.Start(new ProcessStartInfo(path, "info --format {{.ID}}")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            if (process is null)
            {
                continue;
            }
            if (process.WaitForExit(TimeSpan.FromSeconds(5)) && process.ExitCode == 0)
            {
                return runtime;
            }
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        return null;
    }
}

/// <summary>Looks up programs the way a shell would.</summary>
public static class Executables
{
    public static string? FindOnPath(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        // sbin folders are not on a non-root PATH on Debian, but that is where some servers live.
        var folders = path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/local/sbin", "/sbin"]);
        return folders.Select(folder => Path.Combine(folder, name)).FirstOrDefault(File.Exists);
    }
}
