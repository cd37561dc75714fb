using System.Diagnostics;

namespace Personalization.LoadGenerator;

public sealed record ProcessCpu(string Name, int Pid, double CpuSeconds, double? MicrosecondsPerEvent);

/// <summary>
/// CPU time each process of the system used between two snapshots (utime + stime from <c>/proc/&lt;pid&gt;/stat</c>), and
/// per event counted in that time. A process that started in between counts with all of its CPU; one that exited in
/// between is missing (its last CPU figures are gone with it) and counted in <see cref="ProcessesGone"/>.
/// </summary>
public sealed record CpuUsage(
    double Seconds, long Events, IReadOnlyList<ProcessCpu> Processes, double CpuSeconds, double? MicrosecondsPerEvent,
    double GeneratorCpuSeconds, double MachineBusyPercent, int ProcessesGone)
{
    public static CpuUsage Between(ResourceSnapshot start, ResourceSnapshot end, long events)
    {
        var before = start.Processes.ToDictionary(p => (p.Process.Pid, p.Process.StartTime), p => p.CpuTicks);
        var processes = new List<ProcessCpu>();
        foreach (var p in end.Processes)
        {
            var ticks = p.CpuTicks - before.GetValueOrDefault((p.Process.Pid, p.Process.StartTime));
            var seconds = (double)ticks / ProcFs.TicksPerSecond;
            processes.Add(new ProcessCpu(p.Process.Name, p.Process.Pid, seconds, PerEvent(seconds, events)));
        }
        var after = end.Processes.Select(p => (p.Process.Pid, p.Process.StartTime)).ToHashSet();
        var gone = before.Keys.Count(k => !after.Contains(k));
        var total = processes.Sum(p => p.CpuSeconds);
        var busy = end.Machine.Busy - start.Machine.Busy;
        var all = end.Machine.Total - start.Machine.Total;
        return new CpuUsage(
            Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp).TotalSeconds, events, processes, total, PerEvent(total, events),
            (double)(end.GeneratorTicks - start.GeneratorTicks) / ProcFs.TicksPerSecond,
            all > 0 ? 100.0 * busy / all : double.NaN, gone);
    }

    /// <summary>CPU per group of processes with the same name (replicas, PostgreSQL backends, DCP monitors), in report order.</summary>
    public IReadOnlyList<(string Name, int Count, double CpuSeconds, double? MicrosecondsPerEvent)> Groups() =>
        [.. Processes.GroupBy(p => p.Name)
            .OrderBy(g => SystemProcess.Rank(g.Key)).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (g.Key, g.Count(), g.Sum(p => p.CpuSeconds), PerEvent(g.Sum(p => p.CpuSeconds), Events)))];

    private static double? PerEvent(double cpuSeconds, long events) => events > 0 ? cpuSeconds * 1e6 / events : null;
}
