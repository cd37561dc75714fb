namespace Personalization.Sidecar.Bench;

public sealed record LatencyStats(int Count, double P50Ms, double P99Ms, double MaxMs)
{
    public static LatencyStats From(IReadOnlyList<double> samplesMs)
    {
        if (samplesMs.Count == 0)
        {
            return new LatencyStats(0, double.NaN, double.NaN, double.NaN);
        }

        var sorted = samplesMs.Order().ToArray();
        return new LatencyStats(sorted.Length, Percentile(sorted, 0.50), Percentile(sorted, 0.99), sorted[^1]);
    }

    private static double Percentile(double[] sorted, double p)
    {
        var rank = (int)Math.Ceiling(p * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }
}

public sealed record Throughput(int Messages, TimeSpan Elapsed, bool Completed)
{
    /// <summary>Publish → receive latency of each delivered message, when the run delivered anything.</summary>
    public LatencyStats? Latency { get; init; }

    public double PerSecond => Messages / Elapsed.TotalSeconds;
}
