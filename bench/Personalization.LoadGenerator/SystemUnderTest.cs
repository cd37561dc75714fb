using System.Net;

namespace Personalization.LoadGenerator;

/// <summary>
/// Which processes are the running system. Other work may share the machine (another engineer's AppHost, test hosts), so
/// the system is found from the process that listens on the gateway's port (DCP's proxy when Aspire runs it): its
/// topmost ancestor of a known kind, the AppHost that ancestor monitors (<c>dcp start-apiserver --monitor &lt;pid&gt;</c>)
/// with its <c>dotnet run</c> wrapper, and everything started beneath them. When the listener cannot be seen (a remote
/// gateway, no <c>/proc</c>), every process of a known kind on the machine is taken instead, and the report says so.
/// </summary>
public sealed class SystemUnderTest
{
    private readonly HashSet<int> _roots;

    private SystemUnderTest(HashSet<int> roots, string description) => (_roots, Description) = (roots, description);

    public string Description { get; }

    public static SystemUnderTest? Discover(Uri gateway)
    {
        if (!ProcFs.Available) return null;
        var loopback = gateway.IsLoopback || (IPAddress.TryParse(gateway.Host, out var ip) && IPAddress.IsLoopback(ip));
        var owner = loopback ? ProcFs.ListeningOwner(gateway.Port) : null;
        if (owner is not { } listener || NameOf(listener) is null)
        {
            return new SystemUnderTest([],
                $"every process of a known kind on the machine (the listener of {gateway.Authority} was not found among this machine's processes)");
        }

        var top = listener;
        while (ProcFs.Stat(top) is { ParentPid: > 1 } stat && NameOf(stat.ParentPid) is not null) top = stat.ParentPid;
        var roots = new HashSet<int> { top };
        var argv = ProcFs.CommandLine(top);
        var monitor = Array.IndexOf(argv, "--monitor");
        if (monitor >= 0 && monitor + 1 < argv.Length && int.TryParse(argv[monitor + 1], System.Globalization.CultureInfo.InvariantCulture, out var appHost))
        {
            roots.Add(appHost);
            if (ProcFs.Stat(appHost) is { } host && NameOf(host.ParentPid) is { } wrapper && wrapper.EndsWith("(dotnet run)", StringComparison.Ordinal))
            {
                roots.Add(host.ParentPid);
            }
        }
        var names = string.Join(", ", roots.Order().Select(pid => $"{NameOf(pid) ?? ProcFs.Stat(pid)?.Comm ?? "?"} ({pid})"));
        return new SystemUnderTest(roots,
            $"the processes under {names}, found from the listener of {gateway.Authority} (pid {listener}, {NameOf(listener)})");
    }

    /// <summary>The system's processes now (they are looked up again each time: a service may restart or scale).</summary>
    public IReadOnlyList<SystemProcess> Processes()
    {
        var all = new Dictionary<int, ProcStat>();
        foreach (var pid in ProcFs.Pids())
        {
            if (ProcFs.Stat(pid) is { } stat) all[pid] = stat;
        }

        var members = new List<(ProcStat Stat, string[] Argv)>();
        if (_roots.Count == 0)
        {
            foreach (var stat in all.Values)
            {
                var argv = ProcFs.CommandLine(stat.Pid);
                if (stat.Pid != Environment.ProcessId && SystemProcess.NameOf(stat, argv) is not null) members.Add((stat, argv));
            }
        }
        else
        {
            var children = all.Values.ToLookup(s => s.ParentPid);
            var pending = new Stack<int>(_roots.Where(all.ContainsKey));
            var seen = new HashSet<int>();
            while (pending.TryPop(out var pid))
            {
                // A root may also be the child of another (the AppHost under its dotnet run wrapper).
                if (!seen.Add(pid)) continue;
                members.Add((all[pid], ProcFs.CommandLine(pid)));
                foreach (var child in children[pid]) pending.Push(child.Pid);
            }
        }

        return members
            .Where(m => m.Argv.Length > 0)
            .Select(m => new SystemProcess(m.Stat.Pid, m.Stat.StartTime, SystemProcess.NameOf(m.Stat, m.Argv) ?? m.Stat.Comm, string.Join(' ', m.Argv)))
            .OrderBy(p => SystemProcess.Rank(p.Name)).ThenBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Pid)
            .ToList();
    }

    private static string? NameOf(int pid) =>
        ProcFs.Stat(pid) is { } stat ? SystemProcess.NameOf(stat, ProcFs.CommandLine(pid)) : null;
}
