using System.Diagnostics;
using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace Personalization.EndToEndTests;

/// <summary>The process behind a resource of the running AppHost, to kill or pause it (by pid, nothing else).</summary>
public static class ResourceProcesses
{
    public sealed record Target(int Reported, int Process);

    /// <summary>
    /// The pid the orchestrator reports, and the process to signal: for a project that is the service under its
    /// <c>dotnet run</c> wrapper; for an executable (a sidecar) the process itself.
    /// </summary>
    public static Target Of(DistributedApplication app, string resource)
    {
        Assert.True(app.ResourceNotifications.TryGetCurrentState(resource, out var current), $"no resource {resource}");
        var reported = PidOf(current.Snapshot) ?? throw new InvalidOperationException($"{resource} reports no pid");
        var children = File.ReadAllText($"/proc/{reported}/task/{reported}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var isWrapper = File.ReadAllText($"/proc/{reported}/cmdline").Contains("\0run\0", StringComparison.Ordinal);
        var target = new Target(reported, isWrapper && children.Length > 0 ? int.Parse(children[0], CultureInfo.InvariantCulture) : reported);
        Assert.Contains("Personalization", File.ReadAllText($"/proc/{target.Process}/cmdline"));
        return target;
    }

    public static int? PidOf(CustomResourceSnapshot snapshot) =>
        snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value switch
        {
            int pid => pid,
            long pid => (int)pid,
            string text when int.TryParse(text, out var pid) => pid,
            _ => null,
        };

    /// <summary>SIGKILL: no shutdown, no goodbye to the broker; unacknowledged messages go back to the queue.</summary>
    public static void Kill(Target target, string resource)
    {
        using var process = Process.GetProcessById(target.Process);
        process.Kill();
        process.WaitForExit(TimeSpan.FromSeconds(10));
        Assert.True(process.HasExited, $"{resource} (pid {target.Process}) did not die");
    }

    /// <summary>
    /// SIGSTOP until disposed, then SIGCONT: the process takes nothing meanwhile (its sidecar's requests wait), as a
    /// service stalled by a long pause would.
    /// </summary>
    public static IDisposable Pause(Target target)
    {
        Signal(target.Process, "STOP");
        return new Resume(target.Process);
    }

    private sealed class Resume(int pid) : IDisposable
    {
        public void Dispose() => Signal(pid, "CONT");
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", $"-{signal} {pid}") { UseShellExecute = false })!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }
}
