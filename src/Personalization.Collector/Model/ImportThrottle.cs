namespace Personalization.Collector.Model;

/// <summary>
/// The pace of imports, shared by every import of a collector. It adapts to how late live traffic is — the pipeline
/// heartbeat's latency, a few seconds old at most — as TCP adapts to loss: halve the rate when the heartbeat is later than
/// <see cref="ImportOptions.TargetFreshness"/>, grow it by a tenth (at least <see cref="ImportOptions.MinRowsPerSecond"/>)
/// when it is within half of it. Growth is gentle because the signal is late (a heartbeat every few seconds, and a backlog
/// shows only once the heartbeat has waited behind it): a step of a tenth overshoots the pipeline's capacity by little.
/// It grows only while rows go at it, and every import starts slow, at <see cref="ImportOptions.MinRowsPerSecond"/>: a rate
/// grown on an idle pipeline says nothing of what the pipeline takes.
/// Imports so take the capacity live events leave, and give it back within a heartbeat or two when live traffic grows.
/// Written by hand: the rate limiters of System.Threading.RateLimiting have a fixed rate.
/// </summary>
public sealed class ImportThrottle
{
    private readonly ImportOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private double _rate;
    private long _nextFree;
    private bool _used;

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

    /// <summary>An import starts: slowly, whatever the rate was.</summary>
    public void Start()
    {
        if (!Adaptive) return;
        lock (_lock) (_rate, _used) = (_options.MinRowsPerSecond, false);
    }

    /// <summary>Takes in how late live traffic is now (null: unknown, the rate stays); grows only if rows went since the last time.</summary>
    public void Observe(TimeSpan? lag)
    {
        if (!Adaptive || lag is not { } late) return;
        lock (_lock)
        {
            if (late > _options.TargetFreshness) _rate = Math.Max(_options.MinRowsPerSecond, _rate / 2);
            else if (late < _options.TargetFreshness / 2 && _used) _rate = Math.Min(_options.MaxRowsPerSecond, _rate + Math.Max(_options.MinRowsPerSecond, _rate / 10));
            _used = false;
        }
    }

    /// <summary>Books <paramref name="rows"/> rows at the current rate; returns how long to wait before sending them.</summary>
    public TimeSpan Reserve(int rows)
    {
        lock (_lock)
        {
            _used = true;
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
