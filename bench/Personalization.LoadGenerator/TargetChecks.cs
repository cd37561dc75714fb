namespace Personalization.LoadGenerator;

/// <summary>The same-run baselines a target is read against (any may be missing).</summary>
public sealed record BaselineFigures(
    IReadOnlyDictionary<int, IngestSummary> KestrelByRate, LatencySummary? RedisGet, LatencySummary? RedisSetGet,
    IReadOnlyDictionary<int, BrokerRun> RabbitMqByRate);

/// <summary>The issue's targets ("Real time under load"), each checked against the run's figures and its same-run baselines.</summary>
public static class TargetChecks
{
    private const double Gigabyte = 1e9;

    public static List<TargetCheck> Evaluate(
        IReadOnlyList<PhaseResult> phases, PhaseResult? soak, SystemFindings system, BaselineFigures baselines, LoadOptions options)
    {
        var checks = new List<TargetCheck>();
        var all = soak is null ? phases : [.. phases, soak];

        // Throughput: the max phase, accepted and counted, nothing lost or counted twice.
        if (phases.FirstOrDefault(p => p.TargetRate == 0) is { } max)
        {
            var rate = Math.Min(max.Ingest.AcceptedPerSecond, max.CountedPerSecond);
            var lossless = max.Loss.Complete && max.Loss.Missing == 0 && max.Loss.Extra == 0;
            var compare = new List<string>();
            if (baselines.KestrelByRate.TryGetValue(0, out var kestrel)) compare.Add($"bare Kestrel max {N(kestrel.AcceptedPerSecond)} events/s ({Ratio(max.CountedPerSecond, kestrel.AcceptedPerSecond)})");
            if (baselines.RabbitMqByRate.TryGetValue(0, out var broker)) compare.Add($"RabbitMQ publish+consume max {N(broker.ConsumedPerSecond)} msgs/s ({Ratio(max.CountedPerSecond, broker.ConsumedPerSecond)})");
            checks.Add(new TargetCheck(
                "≥ 4,000 events/s accepted and counted, zero loss, zero double counts",
                $"{N(max.Ingest.AcceptedPerSecond)} events/s accepted, {N(max.CountedPerSecond)} events/s accepted and counted{(max.Loss.Complete ? "" : " (drain incomplete)")}, missing {N(max.Loss.Missing)}, extra {N(max.Loss.Extra)} (batches of {max.BatchSize})",
                rate >= 4000 && lossless,
                Join(compare),
                (rate >= 4000 ? "rate met" : $"{N(4000 - rate)} events/s short ({rate / 4000:P0} of the target)") + (lossless ? ", no loss" : ", **events lost or double counted**")));
        }
        else
        {
            checks.Add(new TargetCheck("≥ 4,000 events/s accepted and counted", "not measured (no 'max' phase)", null, "—", ""));
        }

        var unclean = all.Where(p => !p.Loss.Complete || p.Loss.Missing > 0 || p.Loss.Extra > 0).ToList();
        checks.Add(new TargetCheck(
            "zero loss and zero double counts, every phase and the soak",
            $"missing {N(all.Sum(p => p.Loss.Missing))}, extra {N(all.Sum(p => p.Loss.Extra))} over {N(all.Sum(p => p.Loss.Accepted))} accepted events in {all.Count} measurements",
            all.Count > 0 ? unclean.Count == 0 : null,
            "—",
            unclean.Count == 0 ? "every accepted event counted once" : "not clean: " + string.Join(", ", unclean.Select(p => p.Name + (p.Loss.Complete ? "" : " (drain incomplete)")))));

        checks.Add(Freshness(phases, 200, 250, baselines));
        checks.Add(Freshness(phases, 1000, 1000, baselines));
        checks.Add(SoakFreshness(soak, baselines));

        // Reads while 1,000 events/s flow: the 1,000 events/s phase, else the soak.
        var readPhase = phases.FirstOrDefault(p => p.TargetRate == 1000 && p.Reads is { Found.Count: > 0 })
            ?? (soak is { TargetRate: 1000, Reads.Found.Count: > 0 } ? soak : null);
        if (readPhase?.Reads is { } reads)
        {
            var p99 = reads.Found.P99;
            var redis = baselines.RedisGet;
            var ratio = redis is { Count: > 0 } ? p99 / redis.P99 : double.NaN;
            checks.Add(new TargetCheck(
                "profile read p99 ≤ 10 ms at 500 reads/s while 1,000 events/s flow",
                $"p99 {Ms(p99)} at {N(reads.AchievedPerSecond)} reads/s (during {readPhase.Name})",
                options.ReadsPerSecond == 500 ? p99 <= 10 : null,
                redis is { Count: > 0 } ? $"Redis GET p99 {Ms(redis.P99)} ({Ratio(p99, redis.P99)})" : "—",
                p99 <= 10 ? $"{Ms(10 - p99)} to spare" : $"{Ms(p99 - 10)} over ({p99 / 10:0.0}× the target)"));
            checks.Add(new TargetCheck(
                "profile read p99 within 3× the same-run Redis GET p99",
                double.IsNaN(ratio) ? "Redis baseline not measured" : $"{ratio:0.0}× (p99 {Ms(p99)} vs {Ms(redis!.P99)})",
                double.IsNaN(ratio) ? null : ratio <= 3,
                redis is { Count: > 0 } ? $"Redis GET p99 {Ms(redis.P99)}" : "—",
                double.IsNaN(ratio) ? "" : ratio <= 3 ? "within" : $"{ratio / 3:0.0}× the allowed ratio"));
        }
        else
        {
            checks.Add(new TargetCheck("profile read p99 ≤ 10 ms at 500 reads/s while 1,000 events/s flow", "not measured (no 1,000 events/s phase with reads)", null, "—", ""));
        }

        // Memory: judged on the RSS sum (shared pages counted once per process, the larger figure); PSS beside it.
        var idle = new[] { system.IdleBefore, system.IdleAfter }.OfType<MemorySample>().ToList();
        if (idle.Count > 0)
        {
            var worst = idle.MaxBy(m => m.RssKib)!;
            checks.Add(new TargetCheck(
                "whole stack ≤ 2 GB resident, idle",
                string.Join("; ", idle.Select(m => $"{m.Label}: RSS {MiB(m.RssKib)}, PSS {MiB(m.PssKib)}")) + $" ({worst.Processes.Count} processes)",
                worst.RssKib * 1024.0 <= 2 * Gigabyte,
                "—",
                Memory(worst, 2)));
        }
        else
        {
            checks.Add(new TargetCheck("whole stack ≤ 2 GB resident, idle", "not measured (no /proc, or the system's processes were not found)", null, "—", ""));
        }
        if (all.Select(p => p.MemoryPeak).OfType<MemorySample>().MaxBy(m => m.RssKib) is { } peak)
        {
            var during = all.First(p => p.MemoryPeak == peak);
            checks.Add(new TargetCheck(
                "whole stack ≤ 3 GB resident under load",
                $"peak RSS {MiB(peak.RssKib)}, PSS {MiB(peak.PssKib)} (during {during.Name}, at {peak.Seconds:0} s)",
                peak.RssKib * 1024.0 <= 3 * Gigabyte,
                "—",
                Memory(peak, 3)));
        }
        else
        {
            checks.Add(new TargetCheck("whole stack ≤ 3 GB resident under load", "not measured", null, "—", ""));
        }

        // CPU per event has no target; it is read against the broker's own cost per message at the same rate.
        var cpuPhase = phases.FirstOrDefault(p => p.TargetRate == 1000 && p.Cpu is not null) ?? soak;
        if (cpuPhase?.Cpu is { MicrosecondsPerEvent: { } perEvent } cpu)
        {
            var beam = cpu.Groups().FirstOrDefault(g => g.Name == "rabbitmq (beam.smp)").MicrosecondsPerEvent;
            var floor = baselines.RabbitMqByRate.GetValueOrDefault(cpuPhase.TargetRate)?.BrokerMicrosecondsPerMessage;
            checks.Add(new TargetCheck(
                "CPU per event (no target: for the record)",
                $"{Us(perEvent)} per event for the whole system at {LoadOptions.RateName(cpuPhase.TargetRate)} ({cpuPhase.Name}); the system's broker {Us(beam)}",
                null,
                floor is { } f && beam is { } b ? $"baseline broker {Us(f)} per message at the same rate ({Ratio(b, f)} for the system's broker per event)" : "—",
                "per process in 'CPU per event, per process'"));
        }
        return checks;
    }

    private static TargetCheck Freshness(IReadOnlyList<PhaseResult> phases, int rate, double targetMs, BaselineFigures baselines)
    {
        var target = $"freshness p99 ≤ {Ms(targetMs)} at {N(rate)} events/s";
        if (phases.FirstOrDefault(p => p.TargetRate == rate) is not { Freshness: { Freshness.Count: > 0 } f } phase)
        {
            return new TargetCheck(target, $"not measured (no {N(rate)} events/s phase with a freshness sample)", null, "—", "");
        }
        var p99 = f.Freshness.P99;
        return new TargetCheck(
            target,
            $"p50 {Ms(f.Freshness.P50)}, p95 {Ms(f.Freshness.P95)}, p99 {Ms(p99)} ({N(f.Freshness.Count)} samples)",
            p99 <= targetMs && f.Unresolved == 0,
            FreshnessBaselines(p99, rate, baselines),
            (p99 <= targetMs ? $"{Ms(targetMs - p99)} to spare" : $"{Ms(p99 - targetMs)} over ({p99 / targetMs:0.0}× the target)") +
            (f.Unresolved > 0 ? $"; {f.Unresolved} batches never became visible" : "") + (phase.Loss.Complete ? "" : "; drain incomplete"));
    }

    /// <summary>
    /// Flat over the soak: the p99 of every window within the 1,000 events/s target (1 s), and no drift upwards: the median
    /// window p99 of the second half at most 1.5× that of the first half.
    /// </summary>
    private static TargetCheck SoakFreshness(PhaseResult? soak, BaselineFigures baselines)
    {
        const string target = "freshness flat over the soak: p99 ≤ 1 s in every window, second half ≤ 1.5× first half";
        if (soak is null || soak.Windows.Count(w => w.Freshness.Count > 0) < 2)
        {
            return new TargetCheck(target, "not measured (no soak, or fewer than two windows with freshness samples)", null, "—", "");
        }
        var windows = soak.Windows.Where(w => w.Freshness.Count > 0).ToList();
        var half = windows.Count / 2;
        var first = Median(windows.Take(half).Select(w => w.Freshness.P99));
        var second = Median(windows.Skip(half).Select(w => w.Freshness.P99));
        var worst = windows.MaxBy(w => w.Freshness.P99)!;
        var within = windows.All(w => w.Freshness.P99 <= 1000);
        var flat = second <= 1.5 * first;
        return new TargetCheck(
            target,
            $"window p99 from {Ms(windows.Min(w => w.Freshness.P99))} to {Ms(worst.Freshness.P99)} ({worst.StartSeconds:0}–{worst.EndSeconds:0} s); median window p99 {Ms(first)} first half, {Ms(second)} second half",
            within && flat && soak.Loss.Complete,
            FreshnessBaselines(soak.Freshness?.Freshness.P99 ?? double.NaN, soak.TargetRate, baselines),
            (within ? "every window within 1 s" : $"{windows.Count(w => w.Freshness.P99 > 1000)} of {windows.Count} windows over 1 s") +
            (flat ? $", second half {Ratio(second, first)} of the first" : $", **drifting up**: second half {Ratio(second, first)} of the first"));
    }

    private static string FreshnessBaselines(double p99, int rate, BaselineFigures baselines)
    {
        var compare = new List<string>();
        if (baselines.RabbitMqByRate.TryGetValue(rate, out var broker) && broker.PublishToConsume.Count > 0)
            compare.Add($"RabbitMQ publish → consume p99 at {N(rate)} msgs/s {Ms(broker.PublishToConsume.P99)} ({Ratio(p99, broker.PublishToConsume.P99)})");
        if (baselines.RedisSetGet is { Count: > 0 } redis)
            compare.Add($"Redis SET → GET p99 {Ms(redis.P99)} ({Ratio(p99, redis.P99)})");
        return Join(compare);
    }

    private static string Memory(MemorySample sample, int gigabytes)
    {
        var limit = gigabytes * Gigabyte / 1024;
        var top = sample.Processes.GroupBy(p => p.Name).Select(g => (Name: g.Key, Kib: g.Sum(p => p.RssKib), Count: g.Count()))
            .OrderByDescending(g => g.Kib).Take(3).Select(g => $"{g.Name}{(g.Count > 1 ? $" ×{g.Count}" : "")} {MiB(g.Kib)}");
        var verdict = sample.RssKib <= limit
            ? $"{MiB((long)(limit - sample.RssKib))} to spare"
            : $"{MiB((long)(sample.RssKib - limit))} over ({sample.RssKib / limit:0.00}× the target)";
        return $"{verdict} ({gigabytes} GB = {MiB((long)limit)}); largest: {string.Join(", ", top)}";
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[(sorted.Length - 1) / 2];
    }

    private static string Join(List<string> parts) => parts.Count == 0 ? "—" : string.Join("; ", parts);

    private static string N(double value) => ReportWriter.N(value);

    private static string Ms(double value) => ReportWriter.Ms(value);

    private static string Us(double? value) => ReportWriter.Us(value);

    private static string MiB(long kib) => ReportWriter.MiB(kib);

    private static string Ratio(double pipeline, double baseline) => ReportWriter.Ratio(pipeline, baseline);
}
