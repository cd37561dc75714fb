using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Personalization.LoadGenerator;

/// <summary>
/// A private RabbitMQ node for the baseline, isolated from any other on the machine: its own node name, ports, folders and
/// Erlang cookie (as the AppHost's local mode starts one), with its own epmd in the foreground so nothing outlives it.
/// Everything lives in a temporary folder that is deleted at the end; the processes are stopped by their pids.
/// </summary>
public sealed class RabbitMqNode : IAsyncDisposable
{
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(90);
    private readonly Process _epmd;
    private readonly Process _server;
    private readonly string _folder;

    private RabbitMqNode(Process epmd, Process server, string folder, Uri address) =>
        (_epmd, _server, _folder, Address) = (epmd, server, folder, address);

    public Uri Address { get; }

    /// <summary>The broker's Erlang VM, whose CPU the baseline reports per message.</summary>
    public int? BeamPid
    {
        get
        {
            foreach (var pid in Descendants(_server.Id))
            {
                if (ProcFs.Stat(pid)?.Comm == "beam.smp") return pid;
            }
            return null;
        }
    }

    /// <summary>Starts the node and waits (at most 90 s) until it accepts an AMQP connection; stops everything it started when it fails.</summary>
    public static async Task<RabbitMqNode> StartAsync(string? serverPath, CancellationToken ct)
    {
        var server = serverPath ?? FindServer() ?? throw new InvalidOperationException(
            "rabbitmq-server is not installed (apt-get install -y rabbitmq-server), or pass --rabbitmq-server PATH");
        var epmdPath = FindOnPath("epmd") ?? throw new InvalidOperationException("epmd (Erlang) is not installed (apt-get install -y rabbitmq-server)");
        var folder = Directory.CreateTempSubdirectory("loadgen-rabbitmq-").FullName;
        foreach (var sub in new[] { "mnesia", "log", "home" }) Directory.CreateDirectory(Path.Combine(folder, sub));
        File.WriteAllText(Path.Combine(folder, "enabled_plugins"), "[].\n");
        File.WriteAllText(Path.Combine(folder, "rabbitmq.conf"), "loopback_users.guest = true\n");
        File.WriteAllText(Path.Combine(folder, "advanced.config"), "[].\n");
        File.WriteAllText(Path.Combine(folder, "rabbitmq-env.conf"), "");

        int amqpPort = FreePort(), distributionPort = FreePort(), epmdPort = FreePort();
        var lastLines = new Queue<string>();
        Process? epmd = null;
        Process? node = null;
        try
        {
            epmd = Start(epmdPath, ["-port", Text(epmdPort)], null, lastLines);
            // The node must find this epmd, or Erlang starts a daemon epmd of its own that would outlive the run.
            await WaitForPortAsync(epmdPort, epmd, TimeSpan.FromSeconds(10), ct);

            var environment = new Dictionary<string, string>
            {
                ["RABBITMQ_NODENAME"] = $"loadgen-{Environment.ProcessId}@localhost",
                ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
                ["RABBITMQ_NODE_PORT"] = Text(amqpPort),
                ["RABBITMQ_DIST_PORT"] = Text(distributionPort),
                ["ERL_EPMD_PORT"] = Text(epmdPort),
                ["RABBITMQ_MNESIA_BASE"] = Path.Combine(folder, "mnesia"),
                ["RABBITMQ_LOG_BASE"] = Path.Combine(folder, "log"),
                ["RABBITMQ_LOGS"] = "-",
                ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(folder, "enabled_plugins"),
                ["RABBITMQ_CONFIG_FILE"] = Path.Combine(folder, "rabbitmq.conf"),
                ["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(folder, "advanced.config"),
                ["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(folder, "rabbitmq-env.conf"),
                ["RABBITMQ_PID_FILE"] = Path.Combine(folder, "rabbitmq.pid"),
                ["HOME"] = Path.Combine(folder, "home"),
            };
            node = Start(server, [], environment, lastLines);

            var address = new Uri($"amqp://guest:guest@127.0.0.1:{amqpPort}/");
            var factory = new ConnectionFactory { Uri = address, AutomaticRecoveryEnabled = false };
            var clock = Stopwatch.StartNew();
            while (true)
            {
                if (node.HasExited) throw new InvalidOperationException($"rabbitmq-server exited ({node.ExitCode}): {Tail(lastLines)}");
                if (clock.Elapsed > StartLimit) throw new InvalidOperationException($"rabbitmq-server did not accept connections within {StartLimit.TotalSeconds:0} s: {Tail(lastLines)}");
                try
                {
                    await using var probe = await factory.CreateConnectionAsync(ct);
                    return new RabbitMqNode(epmd, node, folder, address);
                }
                catch (BrokerUnreachableException)
                {
                    await Task.Delay(500, ct);
                }
            }
        }
        catch
        {
            await StopAsync(node, epmd, folder);
            throw;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(_server, _epmd, _folder);

    /// <summary>
    /// SIGTERM to the server script, which stops the node gracefully (its trap); after 20 s whatever is left of the tree
    /// is killed. Then epmd, then the folder. Only pids this generator started.
    /// </summary>
    private static async Task StopAsync(Process? node, Process? epmd, string folder)
    {
        if (node is not null)
        {
            try
            {
                if (!node.HasExited)
                {
                    using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", Text(node.Id)]) { UseShellExecute = false }))
                    {
                        if (kill is not null) await kill.WaitForExitAsync();
                    }
                    using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                    try
                    {
                        await node.WaitForExitAsync(grace.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        node.Kill(entireProcessTree: true);
                        node.WaitForExit(5000);
                    }
                }
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }
            node.Dispose();
        }
        if (epmd is not null)
        {
            try
            {
                if (!epmd.HasExited)
                {
                    epmd.Kill();
                    epmd.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }
            epmd.Dispose();
        }
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a process that is going away; the temporary folder is left for the OS to clean.
        }
    }

    private static Process Start(string path, string[] arguments, Dictionary<string, string>? environment, Queue<string> lastLines)
    {
        var start = new ProcessStartInfo(path, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (environment is not null)
        {
            foreach (var (name, value) in environment) start.Environment[name] = value;
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{path} did not start");
        DataReceivedEventHandler keep = (_, line) =>
        {
            if (line.Data is null) return;
            lock (lastLines)
            {
                lastLines.Enqueue(line.Data);
                if (lastLines.Count > 8) lastLines.Dequeue();
            }
        };
        process.OutputDataReceived += keep;
        process.ErrorDataReceived += keep;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitForPortAsync(int port, Process owner, TimeSpan limit, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, ct);
                return;
            }
            catch (SocketException) when (clock.Elapsed < limit && !owner.HasExited)
            {
                await Task.Delay(100, ct);
            }
        }
    }

    private static IEnumerable<int> Descendants(int root)
    {
        var children = ProcFs.Pids().Select(ProcFs.Stat).OfType<ProcStat>().ToLookup(s => s.ParentPid, s => s.Pid);
        var pending = new Stack<int>([root]);
        while (pending.TryPop(out var pid))
        {
            yield return pid;
            foreach (var child in children[pid]) pending.Push(child);
        }
    }

    private static string Tail(Queue<string> lines)
    {
        lock (lines) return lines.Count == 0 ? "(no output)" : string.Join(" | ", lines);
    }

    /// <summary>Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user; the script behind it runs as we are.</summary>
    private static string? FindServer() =>
        File.Exists("/usr/lib/rabbitmq/bin/rabbitmq-server") ? "/usr/lib/rabbitmq/bin/rabbitmq-server" : FindOnPath("rabbitmq-server");

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
