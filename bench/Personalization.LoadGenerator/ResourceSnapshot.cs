using System.Diagnostics;

namespace Personalization.LoadGenerator;

/// <summary>One process at one moment: CPU used since it started, and its memory.</summary>
public sealed record ProcessSample(SystemProcess Process, long CpuTicks, long RssKib, long PssKib);

/// <summary>The system's processes, the machine's CPU counters and this generator's own CPU at one moment.</summary>
public sealed class ResourceSnapshot
{
    private ResourceSnapshot(long timestamp, IReadOnlyList<ProcessSample> processes, (long Busy, long Total) machine, long generatorTicks) =>
        (Timestamp, Processes, Machine, GeneratorTicks) = (timestamp, processes, machine, generatorTicks);

    public long Timestamp { get; }
    public IReadOnlyList<ProcessSample> Processes { get; }
    public (long Busy, long Total) Machine { get; }
    public long GeneratorTicks { get; }

    public static ResourceSnapshot Take(SystemUnderTest system)
    {
        var samples = new List<ProcessSample>();
        foreach (var process in system.Processes())
        {
            // A process that exits between the listing and these reads is left out of this snapshot.
            if (ProcFs.Stat(process.Pid) is not { } stat || stat.StartTime != process.StartTime) continue;
            samples.Add(new ProcessSample(process, stat.CpuTicks, ProcFs.ResidentKib(process.Pid) ?? 0, ProcFs.ProportionalKib(process.Pid) ?? 0));
        }
        return new ResourceSnapshot(Stopwatch.GetTimestamp(), samples, ProcFs.MachineTicks(), ProcFs.Stat(Environment.ProcessId)?.CpuTicks ?? 0);
    }

    public MemorySample Memory(string label, long origin) => new(
        label,
        Math.Round(Stopwatch.GetElapsedTime(origin, Timestamp).TotalSeconds, 1),
        Processes.Sum(p => p.RssKib),
        Processes.Sum(p => p.PssKib),
        [.. Processes.Select(p => new ProcessMemory(p.Process.Name, p.Process.Pid, p.RssKib, p.PssKib))]);
}

public sealed record ProcessMemory(string Name, int Pid, long RssKib, long PssKib);

/// <summary>Resident memory of every process of the system at one moment, and the totals (RSS sum and PSS sum).</summary>
public sealed record MemorySample(string Label, double Seconds, long RssKib, long PssKib, IReadOnlyList<ProcessMemory> Processes);
