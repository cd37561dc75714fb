using System.Diagnostics;

namespace Personalization.LoadGenerator;

/// <summary>Percentiles of a set of samples, in milliseconds. <see cref="Count"/> 0 means nothing was measured.</summary>
public sealed record LatencySummary(int Count, double P50, double P95, double P99, double Max, double Mean)
{
    public static readonly LatencySummary Empty = new(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);

    /// <summary>Exact percentiles of <paramref name="samples"/> (sorted in place).</summary>
    public static LatencySummary Of(double[] samples)
    {
        if (samples.Length == 0) return Empty;
        Array.Sort(samples);
        var sum = 0.0;
        foreach (var s in samples) sum += s;
        return new LatencySummary(samples.Length, Rank(samples, 0.50), Rank(samples, 0.95), Rank(samples, 0.99), samples[^1], sum / samples.Length);
    }

    /// <summary>Nearest-rank percentile: the smallest sample with at least <paramref name="p"/> of the samples at or below it.</summary>
    private static double Rank(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <summary>Collects latency samples from many tasks at once. Every sample is kept (a run is bounded), so percentiles are exact.</summary>
public sealed class LatencyRecorder
{
    private readonly Lock _gate = new();
    private readonly List<double> _samples = [];

    public int Count
    {
        get { lock (_gate) return _samples.Count; }
    }

    public void Record(double milliseconds)
    {
        lock (_gate) _samples.Add(milliseconds);
    }

    public void RecordSince(long startTimestamp) => Record(Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds);

    public LatencySummary Summarize()
    {
        double[] samples;
        lock (_gate) samples = [.. _samples];
        return LatencySummary.Of(samples);
    }
}

/// <summary>
/// Latency samples filed by the moment they belong to (for freshness, when the batch was accepted; for a read, when it
/// started), in consecutive windows from an origin: how a figure moves over a long run.
/// </summary>
public sealed class WindowedLatency(long origin, TimeSpan window)
{
    private readonly Lock _gate = new();
    private readonly List<List<double>> _windows = [];

    public void Record(long at, double milliseconds)
    {
        var index = (int)Math.Max(0, Stopwatch.GetElapsedTime(origin, at) / window);
        lock (_gate)
        {
            while (_windows.Count <= index) _windows.Add([]);
            _windows[index].Add(milliseconds);
        }
    }

    /// <summary>The samples of window <paramref name="index"/>; the last window also takes any that fall after it.</summary>
    public LatencySummary Summarize(int index, bool last)
    {
        lock (_gate)
        {
            var samples = new List<double>();
            for (var i = index; i < _windows.Count && (i == index || last); i++) samples.AddRange(_windows[i]);
            return LatencySummary.Of([.. samples]);
        }
    }
}

/// <summary>Runs an operation at a fixed rate (open loop), with at most <c>maxInFlight</c> at once.</summary>
public static class FixedRate
{
    /// <summary>
    /// Starts <paramref name="operation"/> every 1/<paramref name="perSecond"/> s for <paramref name="duration"/>. A start that
    /// finds every slot busy waits for one and is counted late; when the schedule falls more than a second behind it is
    /// reset, and the starts it gave up are counted as skipped, so the offered rate is never silently lower.
    /// </summary>
    public static async Task<ScheduleOutcome> RunAsync(
        double perSecond, TimeSpan duration, int maxInFlight, Func<CancellationToken, Task> operation, CancellationToken ct)
    {
        var slots = new SemaphoreSlim(maxInFlight, maxInFlight);
        var interval = TimeSpan.FromSeconds(1 / perSecond);
        var started = 0L;
        var late = 0L;
        var skipped = 0L;
        var inFlight = new List<Task>();
        var clock = Stopwatch.StartNew();
        var next = TimeSpan.Zero;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (next >= duration) break;
                var wait = next - clock.Elapsed;
                if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait, ct);
                if (!slots.Wait(0))
                {
                    late++;
                    await slots.WaitAsync(ct);
                }
                var behind = clock.Elapsed - next;
                if (behind > TimeSpan.FromSeconds(1))
                {
                    var missed = (long)(behind / interval);
                    skipped += missed;
                    next += interval * missed;
                }
                started++;
                inFlight.Add(RunOneAsync(operation, slots, ct));
                if (inFlight.Count > 4096) inFlight.RemoveAll(t => t.IsCompleted);
                next += interval;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        var elapsed = clock.Elapsed;
        await Task.WhenAll(inFlight);
        return new ScheduleOutcome(started, late, skipped, elapsed);
    }

    private static async Task RunOneAsync(Func<CancellationToken, Task> operation, SemaphoreSlim slots, CancellationToken ct)
    {
        try
        {
            await operation(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            slots.Release();
        }
    }
}

public sealed record ScheduleOutcome(long Started, long Late, long Skipped, TimeSpan Elapsed);
