using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Personalization.LoadGenerator;

public sealed record Fact(string Name, string Value);

/// <summary>What the report says about the machine: a figure means little without it.</summary>
public static class Machine
{
    public static IReadOnlyList<Fact> Describe() =>
    [
        new("cores", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)),
        new("CPU", ProcValue("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString()),
        new("memory", Memory()),
        new("OS", Os()),
        new(".NET", RuntimeInformation.FrameworkDescription),
        new("load average at start (1/5/15 min)", LoadAverage()),
    ];

    public static string LoadAverage()
    {
        if (!File.Exists("/proc/loadavg")) return "unknown";
        var parts = File.ReadAllText("/proc/loadavg").Split(' ');
        return parts.Length >= 3 ? $"{parts[0]} / {parts[1]} / {parts[2]}" : "unknown";
    }

    /// <summary>The commit the measured system was built from (and whether the work tree had changes), from git.</summary>
    public static string Commit()
    {
        var head = Git("log", "-1", "--format=%h %s");
        if (head is null) return "unknown (not in a git work tree)";
        var dirty = Git("status", "--porcelain", "--untracked-files=no", "--", "src", "Personalization.AppHost", "components");
        return string.IsNullOrWhiteSpace(dirty) ? head : head + " (plus uncommitted changes in the AppHost/services)";
    }

    private static string? Git(params string[] args)
    {
        try
        {
            var start = new ProcessStartInfo("git", args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var git = Process.Start(start);
            if (git is null) return null;
            var output = git.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            return git.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static string Memory()
    {
        var text = ProcValue("/proc/meminfo", "MemTotal")?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return long.TryParse(text, CultureInfo.InvariantCulture, out var kb)
            ? (kb / 1024.0 / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " GiB"
            : "unknown";
    }

    private static string Os()
    {
        if (File.Exists("/etc/os-release"))
        {
            var line = File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal));
            if (line is not null) return $"{line["PRETTY_NAME=".Length..].Trim('"')}, kernel {Environment.OSVersion.Version}";
        }
        return RuntimeInformation.OSDescription;
    }

    private static string? ProcValue(string file, string key)
    {
        if (!File.Exists(file)) return null;
        var line = File.ReadLines(file).FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
        return line?[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
    }
}
