using System.Diagnostics;

namespace Personalization.LoadGenerator;

/// <summary>What the monitor saw at the end of one window of a phase.</summary>
public sealed record MonitorSample(double Seconds, long EventsAccepted, ResourceSnapshot? Resources, IReadOnlyDictionary<string, long?>? Depths);

/// <summary>
/// Watches the running system while a phase runs: at the end of every window, its processes' CPU and memory (from
/// <c>/proc</c>) and the broker's queue depths. Either source may be missing (no <c>/proc</c>, no broker): its figures are then absent.
/// </summary>
public sealed class SystemMonitor(SystemUnderTest? system, SystemBroker? broker, TimeSpan window)
{
    public TimeSpan Window => window;

    public ResourceSnapshot? Snapshot() => system is null ? null : ResourceSnapshot.Take(system);

    public async Task<IReadOnlyDictionary<string, long?>?> DepthsAsync(CancellationToken ct)
    {
        if (broker is null) return null;
        try
        {
            return await broker.DepthsAsync(ct);
        }
        catch (Exception e) when (e is RabbitMQ.Client.Exceptions.RabbitMQClientException or IOException or ObjectDisposedException
            or TimeoutException or OperationCanceledException)
        {
            // The broker went away or did not answer in time: no depths in this sample, the phase goes on.
            return null;
        }
    }

    /// <summary>Samples at every window boundary after <paramref name="origin"/> until <paramref name="stop"/>, then once more for a last partial window of at least a second.</summary>
    public async Task<IReadOnlyList<MonitorSample>> RunAsync(long origin, Func<long> accepted, CancellationToken stop)
    {
        var samples = new List<MonitorSample>();
        var last = TimeSpan.Zero;
        for (var n = 1; ; n++)
        {
            var due = window * n - Stopwatch.GetElapsedTime(origin);
            try
            {
                if (due > TimeSpan.Zero) await Task.Delay(due, stop);
            }
            catch (OperationCanceledException)
            {
                if (Stopwatch.GetElapsedTime(origin) - last >= TimeSpan.FromSeconds(1)) samples.Add(await SampleAsync(origin, accepted));
                return samples;
            }
            samples.Add(await SampleAsync(origin, accepted));
            last = window * n;
        }
    }

    private async Task<MonitorSample> SampleAsync(long origin, Func<long> accepted)
    {
        var seconds = Stopwatch.GetElapsedTime(origin).TotalSeconds;
        var events = accepted();
        var resources = Snapshot();
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var depths = await DepthsAsync(bounded.Token);
        return new MonitorSample(seconds, events, resources, depths);
    }
}
