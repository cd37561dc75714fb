using System.Runtime.InteropServices;

namespace Personalization.Sidecar.Bench;

public static class MachineInfo
{
    public static IReadOnlyList<(string Name, string Value)> Describe() =>
    [
        ("cores", Environment.ProcessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("CPU", FirstValue("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString()),
        ("memory", MemTotal()),
        ("OS", OsName()),
        (".NET", RuntimeInformation.FrameworkDescription),
        ("load average at start (1/5/15 min)", LoadAverage()),
    ];

    /// <summary>The machine is shared: the load average says how much else was running.</summary>
    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    /// <summary>The last commit that touched the sidecar's source, so a report names what it measured.</summary>
    public static string SidecarCommit(string repositoryRoot)
    {
        try
        {
            var start = new System.Diagnostics.ProcessStartInfo("git", ["-C", repositoryRoot, "log", "-1", "--format=%h %s", "--", "src/Personalization.Sidecar"])
            {
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            using var git = System.Diagnostics.Process.Start(start);
            var line = git?.StandardOutput.ReadToEnd().Trim();
            git?.WaitForExit();
            return string.IsNullOrEmpty(line) ? "unknown" : $"commit {line}";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown (git not found)";
        }
    }

    private static string MemTotal()
    {
        var kb = FirstValue("/proc/meminfo", "MemTotal")?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return long.TryParse(kb, out var value) ? $"{value / 1024.0 / 1024.0:0.0} GiB" : "unknown";
    }

    private static string OsName()
    {
        var pretty = File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"')
            : null;
        return pretty is null ? RuntimeInformation.OSDescription : $"{pretty} ({RuntimeInformation.OSDescription})";
    }

    private static string? FirstValue(string file, string key)
    {
        if (!File.Exists(file))
        {
            return null;
        }

        var line = File.ReadLines(file).FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
        return line?[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
    }
}
