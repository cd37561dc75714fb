using System.Text.Json;
using System.Text.Json.Serialization;

namespace Personalization.LoadGenerator;

public sealed record IngestSummary(
    long Batches, long EventsSent, long EventsAccepted, long EventsRejected, long EventsGivenUp, long Attempts, long Retries,
    long Status2xx, long Status4xx, long Status429, long Status503, long Status5xxOther, long NetworkErrors,
    double OfferedPerSecond, double AcceptedPerSecond, LatencySummary PostLatency, IReadOnlyList<string> SampleErrors)
{
    public static IngestSummary From(IngestStats s, ScheduleOutcome schedule, long phaseStart)
    {
        var acceptWindow = s.LastAcceptTimestamp > 0
            ? System.Diagnostics.Stopwatch.GetElapsedTime(phaseStart, s.LastAcceptTimestamp).TotalSeconds
            : 0;
        return new IngestSummary(
            s.Batches, s.EventsSent, s.EventsAccepted, s.EventsRejected, s.EventsGivenUp, s.Attempts, s.Retries,
            s.Status2xx, s.Status4xx, s.Status429, s.Status503, s.Status5xxOther, s.NetworkErrors,
            s.EventsSent / schedule.Elapsed.TotalSeconds,
            acceptWindow > 0 ? s.EventsAccepted / acceptWindow : 0,
            s.PostLatency.Summarize(), [.. s.SampleErrors]);
    }
}

public sealed record FreshnessSummary(
    int SampledUsers, LatencySummary Freshness, int Unresolved, long Polls, long PollErrors, LatencySummary PollLatency, double PollIntervalMs);

public sealed record ReadSummary(
    int TargetPerSecond, double AchievedPerSecond, long Reads, long Status200, long Status404, long StatusOther, long NetworkErrors,
    LatencySummary Found, LatencySummary All, long LateStarts, long Skipped)
{
    public static ReadSummary From(int target, ReadStats s, ScheduleOutcome schedule) =>
        new(target, schedule.Started / schedule.Elapsed.TotalSeconds, s.Reads, s.Status200, s.Status404, s.StatusOther, s.NetworkErrors,
            s.Found.Summarize(), s.All.Summarize(), schedule.Late, schedule.Skipped);
}

/// <param name="CountedEvents">Accepted events the drain found in their profiles (extra counts not included).</param>
/// <param name="CountedSeconds">From the phase's first send until the drain's last sweep found them: phase + drain.</param>
/// <param name="CountedPerSecond">Accepted and counted events/s: <paramref name="CountedEvents"/> / <paramref name="CountedSeconds"/>.</param>
/// <param name="Cpu">CPU of the system's processes over the same phase + drain, per counted event.</param>
/// <param name="MemoryPeak">The window sample with the largest resident total.</param>
/// <param name="QueueDepthMax">Largest depth seen per queue at the window samples.</param>
public sealed record PhaseResult(
    string Name, bool Soak, int TargetRate, int BatchSize, int Users, int Concurrency, double DurationSeconds, int ConsentFailures,
    IngestSummary Ingest, FreshnessSummary? Freshness, ReadSummary? Reads, LossResult Loss,
    long CountedEvents, double CountedSeconds, double CountedPerSecond, CpuUsage? Cpu, MemorySample? MemoryPeak,
    IReadOnlyDictionary<string, long>? QueueDepthMax, IReadOnlyList<WindowResult> Windows, string LoadAverageAfter);

/// <summary>
/// One window of a phase: events accepted in it, freshness of the batches accepted in it, reads started in it, and the
/// system at its end (CPU over the window in % of one core, memory, queue depths).
/// </summary>
public sealed record WindowResult(
    double StartSeconds, double EndSeconds, long EventsAccepted, double AcceptedPerSecond, LatencySummary Freshness, LatencySummary Reads,
    double? SystemCpuPercent, MemorySample? Memory, IReadOnlyDictionary<string, long?>? QueueDepths);

/// <summary>A reference measured in the same run with the same client: <see cref="Compare"/> names the pipeline figure it sits beside.</summary>
public sealed record BaselineResult(string Name, string Method, double? EventsPerSecond, LatencySummary Latency, string Compare);

/// <param name="Baseline">The same-run baseline the figure is read against, with the ratio.</param>
public sealed record TargetCheck(string Target, string Measured, bool? Met, string Baseline, string Detail);

/// <summary>The system as the generator found it: its processes, its broker, the size of its messages, its memory at rest.</summary>
public sealed record SystemFindings(
    string Processes, string Broker, IReadOnlyList<string> Queues, IReadOnlyList<TopicMessages> MessageSizes,
    MemorySample? IdleBefore, MemorySample? IdleAfter);

/// <summary>The RabbitMQ baseline: where it ran and each rate measured.</summary>
public sealed record BrokerBaseline(string Where, IReadOnlyList<BrokerRun> Runs);

public sealed record RunReport(
    DateTimeOffset StartedAt, string Commit, string Gateway, IReadOnlyList<Fact> Machine, IReadOnlyList<Fact> Settings,
    SystemFindings System, IReadOnlyList<PhaseResult> Phases, PhaseResult? Soak,
    IReadOnlyList<BaselineResult> Baselines, BrokerBaseline? RabbitMq, IReadOnlyList<TargetCheck> Targets,
    IReadOnlyList<string> Notes, string LoadAverageEnd, string RedisBaseline);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(RunReport))]
internal sealed partial class ReportJson : JsonSerializerContext;
