using System.Diagnostics;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace Personalization.EndToEndTests;

/// <summary>
/// A service or sidecar killed with SIGKILL comes back by itself (the AppHost's supervisor starts it again, as
/// Kubernetes restarts a pod), and no event accepted meanwhile is lost or counted twice.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class CrashRestartTests(PlatformFixture platform)
{
    [Theory]
    [InlineData("enrichment-dapr")]
    [InlineData("aggregation")]
    public async Task AProcessKilledWhileEventsFlowIsRestartedAndEveryAcceptedEventCountsOnce(string resource)
    {
        using var client = new GatewayClient(platform.App);
        var userId = $"crash-{resource}-{Guid.NewGuid():N}";
        var before = ProcessId(resource);

        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                await client.SendAcceptedAsync(Events.Track(userId, "Crash Test"));
                await Task.Delay(100);
            }
        });
        await Task.Delay(500);
        Kill(before, resource);
        await sending;

        var started = Stopwatch.StartNew();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await platform.App.ResourceNotifications.WaitForResourceAsync(resource,
            e => e.Snapshot.State?.Text == KnownResourceStates.Running && PidOf(e.Snapshot) is { } pid && pid != before.Reported, timeout.Token);
        await platform.App.ResourceNotifications.WaitForResourceHealthyAsync(resource, timeout.Token);
        Assert.True(started.Elapsed < TimeSpan.FromMinutes(2), $"{resource} came back after {started.Elapsed}");

        var profile = await client.WaitForProfileAsync(userId, p => p.Count("Crash Test") >= 20, TimeSpan.FromSeconds(90));
        await Task.Delay(2000);
        profile = (await client.GetProfileAsync(userId))!;
        Assert.Equal(20, profile.Count("Crash Test"));
        Assert.Equal(20, profile.Long("totalEvents"));
    }

    private sealed record Target(int Reported, int Process);

    /// <summary>
    /// The pid the orchestrator reports, and the process to kill: for a project that is the service under its
    /// <c>dotnet run</c> wrapper; for an executable (a sidecar) the process itself.
    /// </summary>
    private Target ProcessId(string resource)
    {
        Assert.True(platform.App.ResourceNotifications.TryGetCurrentState(resource, out var current), $"no resource {resource}");
        var reported = PidOf(current.Snapshot) ?? throw new InvalidOperationException($"{resource} reports no pid");
        var children = File.ReadAllText($"/proc/{reported}/task/{reported}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var isWrapper = File.ReadAllText($"/proc/{reported}/cmdline").Contains("\0run\0", StringComparison.Ordinal);
        return new Target(reported, isWrapper && children.Length > 0 ? int.Parse(children[0]) : reported);
    }

    private static int? PidOf(CustomResourceSnapshot snapshot) =>
        snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value switch
        {
            int pid => pid,
            long pid => (int)pid,
            string text when int.TryParse(text, out var pid) => pid,
            _ => null,
        };

    private static void Kill(Target target, string resource)
    {
        using var process = Process.GetProcessById(target.Process);
        Assert.Contains("Personalization", process.MainModule?.FileName + " " + File.ReadAllText($"/proc/{target.Process}/cmdline"));
        // SIGKILL: no shutdown, no goodbye to the broker; unacknowledged messages go back to the queue.
        process.Kill();
        process.WaitForExit(TimeSpan.FromSeconds(10));
        Assert.True(process.HasExited, $"{resource} (pid {target.Process}) did not die");
    }
}
