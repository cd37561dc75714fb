namespace Personalization.Collector.Model;

/// <summary>
/// The pace of imports, shared by every import of a collector. It adapts to how late live traffic is — the pipeline
/// heartbeat's latency, a few seconds old at most — as TCP adapts to loss: halve the rate when the heartbeat is later than
/// <see cref="ImportOptions.TargetFreshness"/>, add a twentieth of the maximum when it is within half of it. Imports so
/// take the capacity live events leave, and give it back within a heartbeat or two when live traffic grows.
/// Written by hand: the rate limiters of System.Threading.RateLimiting have a fixed rate.
/// </summary>
public sealed class ImportThrottle
{
    private readonly ImportOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private double _rate;
    private long _nextFree;

    public ImportThrottle(ImportOptions options, TimeProvider time)
    {
        (_options, _time) = (options, time);
        _rate = Adaptive ? options.MinRowsPerSecond : options.MaxRowsPerSecond;
        _nextFree = time.GetTimestamp();
    }

    private bool Adaptive => _options.TargetFreshness > TimeSpan.Zero;

    public double RowsPerSecond
    {
        get
        {
            lock (_lock) return _rate;
        }
    }

    /// <summary>Takes in how late live traffic is now (null: unknown, the rate stays).</summary>
    public void Observe(TimeSpan? lag)
    {
        if (!Adaptive || lag is not { } late) return;
        lock (_lock)
        {
            if (late > _options.TargetFreshness) _rate = Math.Max(_options.MinRowsPerSecond, _rate / 2);
            else if (late < _options.TargetFreshness / 2) _rate = Math.Min(_options.MaxRowsPerSecond, _rate + _options.MaxRowsPerSecond / 20.0);
        }
    }

    /// <summary>Books <paramref name="rows"/> rows at the current rate; returns how long to wait before sending them.</summary>
    public TimeSpan Reserve(int rows)
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            var start = Math.Max(now, _nextFree);
            _nextFree = start + (long)(rows / _rate * _time.TimestampFrequency);
            return _time.GetElapsedTime(now, start);
        }
    }

    /// <summary>How late live traffic is, from the last heartbeat aggregation saw: its latency, or longer when the next is overdue.</summary>
    public static TimeSpan? Lag(Contracts.PipelineHeartbeat? last, DateTimeOffset now, TimeSpan heartbeatInterval)
    {
        if (last is null) return null;
        var latency = TimeSpan.FromMilliseconds(last.LatencyMs);
        var overdue = now - last.ArrivedAt - heartbeatInterval;
        return overdue > latency ? overdue : latency;
    }
}
