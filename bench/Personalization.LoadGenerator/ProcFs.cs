using System.Globalization;

namespace Personalization.LoadGenerator;

/// <summary>One line of <c>/proc/&lt;pid&gt;/stat</c>: what identifies a process over time and the CPU it has used.</summary>
/// <param name="StartTime">Clock ticks after boot at which the process started: with the pid, it tells a process from a later one that reuses its pid.</param>
/// <param name="CpuTicks">utime + stime, in clock ticks (<see cref="ProcFs.TicksPerSecond"/>).</param>
public readonly record struct ProcStat(int Pid, int ParentPid, string Comm, long StartTime, long CpuTicks);

/// <summary>Reads what the load generator needs from Linux's <c>/proc</c>. Every read tolerates a process that exits meanwhile (null).</summary>
public static class ProcFs
{
    /// <summary>
    /// USER_HZ: the unit of the times in <c>/proc/&lt;pid&gt;/stat</c> and <c>/proc/stat</c>. The kernel fixes it at 100 for
    /// user space on every architecture .NET runs on (CONFIG_HZ may differ; these files are converted).
    /// </summary>
    public const int TicksPerSecond = 100;

    public static bool Available => File.Exists("/proc/self/stat");

    public static IEnumerable<int> Pids()
    {
        if (!Directory.Exists("/proc")) yield break;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) yield return pid;
        }
    }

    public static ProcStat? Stat(int pid)
    {
        var text = TryRead($"/proc/{pid}/stat");
        if (text is null) return null;
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted after the last ')'.
        var open = text.IndexOf('(', StringComparison.Ordinal);
        var close = text.LastIndexOf(')');
        if (open < 0 || close < open) return null;
        var fields = text[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state): field n is fields[n - 3].
        if (fields.Length < 20) return null;
        return new ProcStat(
            pid,
            int.Parse(fields[1], CultureInfo.InvariantCulture),
            text[(open + 1)..close],
            long.Parse(fields[19], CultureInfo.InvariantCulture),
            long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture));
    }

    /// <summary>The arguments the process was started with (argv), empty for kernel threads and exited processes.</summary>
    public static string[] CommandLine(int pid)
    {
        var text = TryRead($"/proc/{pid}/cmdline");
        return string.IsNullOrEmpty(text) ? [] : text.TrimEnd('\0').Split('\0');
    }

    public static IReadOnlyDictionary<string, string> Environment(int pid)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        var text = TryRead($"/proc/{pid}/environ");
        if (text is null) return variables;
        foreach (var entry in text.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = entry.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0) variables[entry[..equals]] = entry[(equals + 1)..];
        }
        return variables;
    }

    /// <summary>Resident set size (VmRSS), in KiB: every page the process maps that is in memory, shared ones included.</summary>
    public static long? ResidentKib(int pid) => KibField($"/proc/{pid}/status", "VmRSS:");

    /// <summary>
    /// Proportional set size, in KiB: each shared page divided among the processes that map it, so the PSS of many
    /// processes adds up to the memory they really take together (their RSS counts the shared .NET runtime once each).
    /// </summary>
    public static long? ProportionalKib(int pid) => KibField($"/proc/{pid}/smaps_rollup", "Pss:");

    /// <summary>Busy and total clock ticks of the whole machine since boot (first line of <c>/proc/stat</c>).</summary>
    public static (long Busy, long Total) MachineTicks()
    {
        var line = TryRead("/proc/stat")?.Split('\n')[0];
        if (line is null || !line.StartsWith("cpu ", StringComparison.Ordinal)) return (0, 0);
        var values = line[4..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        // user nice system idle iowait irq softirq steal [guest guest_nice, already inside user and nice]
        var total = values.Take(8).Sum();
        var idle = values[3] + (values.Length > 4 ? values[4] : 0);
        return (total - idle, total);
    }

    /// <summary>The process that has a TCP socket listening on <paramref name="port"/> (IPv4 or IPv6), if this user may see it.</summary>
    public static int? ListeningOwner(int port)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            var text = TryRead(table);
            if (text is null) continue;
            foreach (var line in text.Split('\n').Skip(1))
            {
                // sl local_address rem_address st ... inode: local "0100007F:1F90", st 0A = LISTEN.
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 10 || f[3] != "0A") continue;
                var colon = f[1].LastIndexOf(':');
                if (colon > 0 && int.Parse(f[1][(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port) inodes.Add(f[9]);
            }
        }
        if (inodes.Count == 0) return null;
        foreach (var pid in Pids())
        {
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
                {
                    var target = new FileInfo(fd).LinkTarget;
                    if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) && inodes.Contains(target[8..^1])) return pid;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Exited, or not ours to look into.
            }
        }
        return null;
    }

    private static long? KibField(string file, string key)
    {
        var text = TryRead(file);
        if (text is null) return null;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
            var value = line[key.Length..].Trim().Split(' ')[0];
            return long.TryParse(value, CultureInfo.InvariantCulture, out var kib) ? kib : null;
        }
        return null;
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
