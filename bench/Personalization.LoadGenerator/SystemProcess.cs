namespace Personalization.LoadGenerator;

/// <summary>
/// A process of the running system. <see cref="Name"/> groups it in the report: replicas of one service, the backends of
/// PostgreSQL or DCP's monitors share a name. Pid and start time together identify it across samples.
/// </summary>
public sealed record SystemProcess(int Pid, long StartTime, string Name, string Command)
{
    private static readonly string[] Services = ["gateway", "collector", "consent", "enrichment", "aggregation", "profile-query"];

    /// <summary>
    /// The report's name for a process, or null when it is none of the system's kinds: a service (its executable or dll
    /// <c>Personalization.X</c>), its Dapr sidecar (whatever its binary, a process given <c>--app-id X</c>), the
    /// <c>dotnet run</c> wrapper Aspire starts each project with, the stores and the broker (with the Erlang helpers
    /// around the broker), the Aspire dashboard, DCP and the AppHost.
    /// </summary>
    public static string? NameOf(ProcStat stat, string[] argv)
    {
        if (argv.Length == 0) return null;
        var exe = Path.GetFileName(argv[0]);
        var appId = Array.IndexOf(argv, "--app-id");
        if (appId >= 0 && appId + 1 < argv.Length) return argv[appId + 1] + " sidecar";
        if (exe == "dotnet" && argv.Length > 1 && argv[1] == "run")
        {
            var project = Array.IndexOf(argv, "--project");
            // "--project Personalization.AppHost" names a folder, "--project …/X.csproj" a file: only .csproj is cut.
            var projectName = project >= 0 && project + 1 < argv.Length ? Path.GetFileName(argv[project + 1].TrimEnd('/')) : "?";
            if (projectName.EndsWith(".csproj", StringComparison.Ordinal)) projectName = projectName[..^".csproj".Length];
            return ServiceName(projectName) + " (dotnet run)";
        }
        var image = exe == "dotnet" && argv.Length > 1 ? Path.GetFileNameWithoutExtension(argv[1]) : exe;
        if (image.StartsWith("Personalization.", StringComparison.Ordinal)) return ServiceName(image);
        if (exe == "dcp") return argv.Length > 1 ? "dcp " + argv[1] : "dcp";
        if (exe.StartsWith("Aspire.Dashboard", StringComparison.Ordinal)) return "dashboard";
        return stat.Comm switch
        {
            "redis-server" => "redis-server",
            "postgres" => "postgres",
            "beam.smp" => "rabbitmq (beam.smp)",
            "epmd" => "rabbitmq (epmd)",
            "erl_child_setup" or "inet_gethost" => "rabbitmq (helpers)",
            _ when argv.Any(a => a.EndsWith("/rabbitmq-server", StringComparison.Ordinal) || a == "rabbit_disk_monitor") => "rabbitmq (helpers)",
            _ => null,
        };
    }

    /// <summary>Personalization.ProfileQuery → profile-query: the Aspire resource name and Dapr app-id of the service.</summary>
    public static string ServiceName(string assembly)
    {
        var name = assembly.StartsWith("Personalization.", StringComparison.Ordinal) ? assembly["Personalization.".Length..] : assembly;
        if (name == "AppHost") return "apphost";
        var kebab = new System.Text.StringBuilder();
        foreach (var c in name)
        {
            if (char.IsUpper(c) && kebab.Length > 0) kebab.Append('-');
            kebab.Append(char.ToLowerInvariant(c));
        }
        return kebab.ToString();
    }

    /// <summary>Report order: the services in the order events flow, then their sidecars, the servers, and the tooling.</summary>
    public static int Rank(string name)
    {
        var service = Array.IndexOf(Services, name);
        if (service >= 0) return service;
        if (name.EndsWith(" sidecar", StringComparison.Ordinal))
        {
            var of = Array.IndexOf(Services, name[..^" sidecar".Length]);
            return 10 + (of >= 0 ? of : 9);
        }
        return name switch
        {
            "redis-server" => 30,
            "postgres" => 31,
            "rabbitmq (beam.smp)" => 32,
            "rabbitmq (helpers)" => 33,
            "rabbitmq (epmd)" => 34,
            "dashboard" => 40,
            _ when name.StartsWith("dcp", StringComparison.Ordinal) => 41,
            "apphost" => 42,
            _ when name.EndsWith("(dotnet run)", StringComparison.Ordinal) => 43,
            _ => 50,
        };
    }
}
