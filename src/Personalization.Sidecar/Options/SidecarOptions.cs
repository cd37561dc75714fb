namespace Personalization.Sidecar.Options;

/// <summary>The sidecar's settings, taken from daprd's command-line flags (same names, same defaults).</summary>
public sealed record SidecarOptions
{
    public string AppId { get; init; } = "";
    public int? AppPort { get; init; }
    public string AppProtocol { get; init; } = "http";
    public string AppChannelAddress { get; init; } = "127.0.0.1";
    public int DaprHttpPort { get; init; } = 3500;
    public int DaprGrpcPort { get; init; } = 50001;
    public IReadOnlyList<string> ResourcesPaths { get; init; } = [];
    public string? ConfigPath { get; init; }
    public int MetricsPort { get; init; } = 9090;
    public bool EnableMetrics { get; init; } = true;
    public string LogLevel { get; init; } = "info";
    public bool EnableAppHealthCheck { get; init; }
    public string AppHealthCheckPath { get; init; } = "/healthz";
    public TimeSpan AppHealthProbeInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Where the app is reached: <c>http://{app-channel-address}:{app-port}</c>, or null without an app port.</summary>
    public Uri? AppBaseAddress => AppPort is { } port ? new Uri($"http://{AppChannelAddress}:{port}") : null;
}

/// <summary>A command line the sidecar cannot run with; the message names the offending flag.</summary>
public sealed class FlagException(string message) : Exception(message);

/// <summary>
/// Parses daprd's flags. Both <c>--flag value</c> and <c>--flag=value</c> are accepted, with one or two
/// leading dashes as Go's flag package does. Boolean flags may stand alone (<c>--enable-metrics</c>).
/// </summary>
public static class FlagParser
{
    private static readonly HashSet<string> BooleanFlags = ["enable-metrics", "enable-app-health-check"];

    /// <summary>Flags daprd accepts that this sidecar takes but does not act on (it logs them).</summary>
    private static readonly HashSet<string> AcceptedAndIgnored =
    [
        "app-max-concurrency", "placement-host-address", "scheduler-host-address", "enable-profiling",
        "profile-port", "dapr-internal-grpc-port", "dapr-listen-addresses", "log-as-json", "mode",
        "app-health-threshold", "app-health-probe-timeout", "dapr-http-max-request-size",
        "dapr-http-read-buffer-size", "dapr-graceful-shutdown-seconds", "dapr-block-shutdown-duration",
        "enable-api-logging", "dapr-public-port", "control-plane-address", "sentry-address",
        "enable-mtls", "unix-domain-socket", "dapr-internal-grpc-listen-address",
    ];

    public static SidecarOptions Parse(IReadOnlyList<string> args)
    {
        var options = new SidecarOptions();
        var resourcesPaths = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith('-') || arg == "-" || arg == "--")
                throw new FlagException($"unexpected argument '{arg}': flags start with '--'");

            var name = arg.TrimStart('-');
            string? value = null;
            var eq = name.IndexOf('=');
            if (eq >= 0) (name, value) = (name[..eq], name[(eq + 1)..]);

            if (BooleanFlags.Contains(name))
            {
                value ??= i + 1 < args.Count && args[i + 1] is "true" or "false" ? args[++i] : "true";
            }
            else if (value is null)
            {
                if (!IsKnown(name)) throw new FlagException($"unknown flag '--{name}'");
                if (i + 1 >= args.Count) throw new FlagException($"flag '--{name}' needs a value");
                value = args[++i];
            }

            options = name switch
            {
                "app-id" => options with { AppId = value },
                "app-port" => options with { AppPort = Port(name, value) },
                "app-protocol" => options with { AppProtocol = AppProtocol(value) },
                "app-channel-address" => options with { AppChannelAddress = value },
                "dapr-http-port" => options with { DaprHttpPort = Port(name, value) },
                "dapr-grpc-port" => options with { DaprGrpcPort = Port(name, value) },
                "resources-path" or "components-path" => AddPath(options, resourcesPaths, value),
                "config" => options with { ConfigPath = value },
                "metrics-port" => options with { MetricsPort = Port(name, value) },
                "enable-metrics" => options with { EnableMetrics = Bool(name, value) },
                "log-level" => options with { LogLevel = LogLevel(value) },
                "enable-app-health-check" => options with { EnableAppHealthCheck = Bool(name, value) },
                "app-health-check-path" => options with { AppHealthCheckPath = value.StartsWith('/') ? value : "/" + value },
                "app-health-probe-interval" => options with { AppHealthProbeInterval = Seconds(name, value) },
                _ when AcceptedAndIgnored.Contains(name) => options,
                _ => throw new FlagException($"unknown flag '--{name}'"),
            };
        }

        if (string.IsNullOrWhiteSpace(options.AppId)) throw new FlagException("flag '--app-id' is required");
        if (options.AppId.Contains("||", StringComparison.Ordinal) || options.AppId.Contains('.'))
            throw new FlagException($"flag '--app-id': '{options.AppId}' may not contain '||' or '.'");
        return options with { ResourcesPaths = resourcesPaths };
    }

    public static IEnumerable<string> IgnoredFlagsIn(IEnumerable<string> args) =>
        args.Select(a => a.TrimStart('-').Split('=')[0]).Where(AcceptedAndIgnored.Contains);

    private static bool IsKnown(string name) => name is "app-id" or "app-port" or "app-protocol" or "app-channel-address"
        or "dapr-http-port" or "dapr-grpc-port" or "resources-path" or "components-path" or "config" or "metrics-port"
        or "log-level" or "app-health-check-path" or "app-health-probe-interval" || AcceptedAndIgnored.Contains(name);

    private static SidecarOptions AddPath(SidecarOptions options, List<string> paths, string value)
    {
        paths.Add(value);
        return options;
    }

    private static int Port(string flag, string value) =>
        int.TryParse(value, out var port) && port is >= 0 and <= 65535
            ? port
            : throw new FlagException($"flag '--{flag}': '{value}' is not a port number");

    private static bool Bool(string flag, string value) =>
        bool.TryParse(value, out var b) ? b : throw new FlagException($"flag '--{flag}': '{value}' is not true or false");

    private static TimeSpan Seconds(string flag, string value) =>
        int.TryParse(value, out var s) && s > 0
            ? TimeSpan.FromSeconds(s)
            : throw new FlagException($"flag '--{flag}': '{value}' is not a positive number of seconds");

    private static string AppProtocol(string value) => value == "http"
        ? value
        : throw new FlagException($"flag '--app-protocol': '{value}' is not supported (only 'http')");

    private static string LogLevel(string value) => value is "debug" or "info" or "warn" or "error" or "fatal"
        ? value
        : throw new FlagException($"flag '--log-level': '{value}' is not one of debug, info, warn, error, fatal");
}
