using System.Globalization;

namespace Personalization.LoadGenerator;

/// <summary>Command-line options. Every value has a default that runs against <c>./run.sh</c> on loopback.</summary>
public sealed class LoadOptions
{
    public Uri Gateway { get; private set; } = new("http://localhost:8080");
    public string WriteKey { get; private set; } = "dev-write-key";
    public string ReadKey { get; private set; } = "dev-read-key";
    public string AdminKey { get; private set; } = "dev-admin-key";

    /// <summary>Segments active during the run (created before the warm-up, deleted after); 0 = none.</summary>
    public int Segments { get; private set; }

    /// <summary>Users per phase; each phase has its own users, so loss is checked per phase.</summary>
    public int Users { get; private set; } = 1000;

    public int BatchSize { get; private set; } = 20;

    /// <summary>One phase per entry: a target rate in events/s, or 0 for as fast as <see cref="Concurrency"/> allows.</summary>
    public IReadOnlyList<int> Rates { get; private set; } = [200, 1000, 2000, 0];

    public TimeSpan Duration { get; private set; } = TimeSpan.FromSeconds(30);
    public int ReadsPerSecond { get; private set; } = 500;
    public int Concurrency { get; private set; } = 32;

    /// <summary>
    /// Batches sent before the first phase, not measured. A fresh system compiles its hot paths (tiered JIT) in a dozen
    /// processes during its first 20–30 s under load, at about three times the CPU per event of the steady state.
    /// </summary>
    public int WarmUpBatches { get; private set; } = 1500;
    public int FreshnessSample { get; private set; } = 20;
    public TimeSpan PollInterval { get; private set; } = TimeSpan.FromMilliseconds(10);
    public TimeSpan Drain { get; private set; } = TimeSpan.FromSeconds(180);
    public TimeSpan BaselineDuration { get; private set; } = TimeSpan.FromSeconds(10);
    public bool Baselines { get; private set; } = true;

    /// <summary>The soak after the phases: this long at <see cref="SoakRate"/>; zero skips it.</summary>
    public TimeSpan SoakDuration { get; private set; } = TimeSpan.FromSeconds(300);
    public int SoakRate { get; private set; } = 1000;

    /// <summary>How often the system is sampled during a phase (CPU, memory, queue depths): the soak's report windows.</summary>
    public TimeSpan Window { get; private set; } = TimeSpan.FromSeconds(15);

    /// <summary>The system's RabbitMQ for queue depths; when absent it is found from the broker process's environment.</summary>
    public Uri? RabbitMq { get; private set; }

    /// <summary>Queues whose depth is read; when absent, every {app-id}-{topic} queue that exists.</summary>
    public IReadOnlyList<string>? Queues { get; private set; }

    /// <summary>Where the RabbitMQ baseline runs: "isolated" (a private node; the system's broker if it cannot start) or "system".</summary>
    public string RabbitMqBaseline { get; private set; } = "isolated";

    public string? RabbitMqServer { get; private set; }

    /// <summary>Message size of the RabbitMQ baseline; when absent, the median size of the pipeline's messages seen during the warm-up.</summary>
    public int? MessageBytes { get; private set; }

    /// <summary>host:port of a Redis to measure; when absent a private <c>redis-server</c> is started on loopback.</summary>
    public string? Redis { get; private set; }

    /// <summary>The collector and profile-query directly, bypassing the gateway, to split the time per stage.</summary>
    public Uri? CollectorUrl { get; private set; }
    public Uri? ProfileQueryUrl { get; private set; }

    public string? OutputDirectory { get; private set; }
    public string? Tag { get; private set; }
    public int Seed { get; private set; } = 20261127;

    /// <summary>Run the serving benchmark (<see cref="ServingBench"/>) instead of the pipeline's phases.</summary>
    public bool Serving { get; private set; }

    /// <summary>Run the WebSocket ingestion benchmark (<see cref="StreamIngestionBench"/>) instead of the pipeline's phases.</summary>
    public bool WebSocket { get; private set; }
    public int WebSocketConnections { get; private set; } = 4;

    /// <summary>Run the bulk import benchmark (<see cref="ImportBench"/>) instead of the pipeline's phases.</summary>
    public bool Import { get; private set; }
    public int ImportRows { get; private set; } = 1_000_000;
    public int Streams { get; private set; } = 1000;
    public int ServingRate { get; private set; } = 1000;
    public int DecideRate { get; private set; } = 500;

    /// <summary>Hard cap on the whole run; everything is cancelled after it.</summary>
    public TimeSpan MaxTotal { get; private set; } = TimeSpan.FromMinutes(45);

    public static string Usage => """
        Personalization.LoadGenerator — drives the gateway with a realistic clickstream and writes bench/reports/pipeline-<date>.md/.json

          --gateway URL            gateway base address (http://localhost:8080)
          --write-key KEY          write key, sent as the HTTP Basic user name (dev-write-key)
          --read-key KEY           read key, sent as a bearer token (dev-read-key)
          --admin-key KEY          admin key, for --segments (dev-admin-key)
          --segments N             segments active during the run, created before and deleted after, at most 100 (0)
          --users U                users per phase (1000)
          --batch B                events per POST /v1/batch (20)
          --rates R[,R...]         one phase per rate in events/s; 'max' = as fast as --concurrency allows (200,1000,2000,max)
          --duration S             seconds of load per phase, at most 300 (30)
          --reads N                profile reads/s during each phase, 0 = none (500)
          --concurrency N          batch POSTs in flight at most (32)
          --warmup-batches N       batches sent (4 in flight) before the first phase, not measured (1500)
          --sample N               users whose profiles are polled for freshness (20)
          --poll-ms N              freshness poll interval per sampled user while it waits (10)
          --drain S                seconds to wait after a phase for every accepted event to be counted (180)
          --soak-seconds S         soak after the phases, 0 = none, at most 3600 (300)
          --soak-rate R            events/s during the soak (1000)
          --window-seconds S       system sampling interval during phases: CPU, memory, queue depths; the soak's windows (15)
          --rabbitmq URL           the system's broker for queue depths, amqp://user:pass@host:port/
                                   (default: found from the running beam.smp's RABBITMQ_NODE_PORT, guest/guest)
          --queues Q[,Q...]        queues whose depth is read (default: every {app-id}-{topic} queue that exists)
          --baseline-seconds S     duration of each baseline measurement (10)
          --no-baselines           skip the bare-Kestrel, direct-Redis and RabbitMQ baselines
          --redis HOST:PORT        Redis for the baseline (default: a private redis-server on loopback)
          --rabbitmq-baseline W    isolated = a private RabbitMQ node on loopback (the system's broker if it cannot
                                   start), system = a temporary exchange and queue on the system's broker (isolated)
          --rabbitmq-server PATH   rabbitmq-server script for the private node (/usr/lib/rabbitmq/bin/rabbitmq-server)
          --message-bytes N        RabbitMQ baseline message size (default: the median on events.collected in the warm-up)
          --collector-url URL      also time POST /v1/batch on the collector directly (gateway overhead)
          --profile-query-url URL  also time profile reads on profile-query directly
          --out DIR                report folder (bench/reports of the repository, found from the current folder)
          --tag NAME               report name suffix: pipeline-<date>-NAME.md
          --seed N                 random seed (20261127)
          --serving                instead of the pipeline's phases: push latency to live profile streams and decide
                                   latency beside a direct Redis GET; writes bench/reports/serving-<date>.md/.json
          --streams N              live streams open during --serving (1000)
          --serving-rate R         events/s for the streamed users during --serving (1000)
          --decide-rate R          POST /v1/decide per second during --serving (500)
          --websocket              instead of the pipeline's phases: events over /v1/stream (ack latency at
                                   --serving-rate, then as fast as acks allow) beside POST /v1/batch as fast as
                                   --concurrency allows; writes bench/reports/websocket-<date>.md/.json
          --ws-connections N       WebSocket streams during --websocket (4)
          --import                 instead of the pipeline's phases: a gzipped CSV of --import-rows rows through
                                   POST /v1/imports beside live traffic at the first --rates rate, whose freshness
                                   is measured alone and then during the import; writes bench/reports/import-<date>.md/.json
          --import-rows N          rows of the --import file (1000000)
          --max-minutes N          hard cap on the whole run (45)
        """;

    public static LoadOptions Parse(string[] args)
    {
        var o = new LoadOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
            switch (name)
            {
                case "--gateway": o.Gateway = new Uri(Value()); break;
                case "--write-key": o.WriteKey = Value(); break;
                case "--read-key": o.ReadKey = Value(); break;
                case "--admin-key": o.AdminKey = Value(); break;
                case "--segments": o.Segments = Math.Min(100, NonNegative(name, Value())); break;
                case "--users": o.Users = Positive(name, Value()); break;
                case "--batch": o.BatchSize = Positive(name, Value()); break;
                case "--rates": o.Rates = ParseRates(Value()); break;
                case "--duration": o.Duration = TimeSpan.FromSeconds(Math.Min(300, Positive(name, Value()))); break;
                case "--reads": o.ReadsPerSecond = NonNegative(name, Value()); break;
                case "--concurrency": o.Concurrency = Positive(name, Value()); break;
                case "--warmup-batches": o.WarmUpBatches = Positive(name, Value()); break;
                case "--sample": o.FreshnessSample = NonNegative(name, Value()); break;
                case "--poll-ms": o.PollInterval = TimeSpan.FromMilliseconds(Positive(name, Value())); break;
                case "--drain": o.Drain = TimeSpan.FromSeconds(Positive(name, Value())); break;
                case "--baseline-seconds": o.BaselineDuration = TimeSpan.FromSeconds(Positive(name, Value())); break;
                case "--no-baselines": o.Baselines = false; break;
                case "--soak-seconds": o.SoakDuration = TimeSpan.FromSeconds(Math.Min(3600, NonNegative(name, Value()))); break;
                case "--soak-rate": o.SoakRate = Positive(name, Value()); break;
                case "--window-seconds": o.Window = TimeSpan.FromSeconds(Positive(name, Value())); break;
                case "--rabbitmq": o.RabbitMq = new Uri(Value()); break;
                case "--queues": o.Queues = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--rabbitmq-baseline":
                    o.RabbitMqBaseline = Value();
                    if (o.RabbitMqBaseline is not ("isolated" or "system")) throw new ArgumentException("--rabbitmq-baseline is 'isolated' or 'system'");
                    break;
                case "--rabbitmq-server": o.RabbitMqServer = Value(); break;
                case "--message-bytes": o.MessageBytes = Positive(name, Value()); break;
                case "--redis": o.Redis = Value(); break;
                case "--collector-url": o.CollectorUrl = new Uri(Value()); break;
                case "--profile-query-url": o.ProfileQueryUrl = new Uri(Value()); break;
                case "--out": o.OutputDirectory = Value(); break;
                case "--tag": o.Tag = Value(); break;
                case "--seed": o.Seed = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--serving": o.Serving = true; break;
                case "--websocket": o.WebSocket = true; break;
                case "--ws-connections": o.WebSocketConnections = Positive(name, Value()); break;
                case "--import": o.Import = true; break;
                case "--import-rows": o.ImportRows = Positive(name, Value()); break;
                case "--streams": o.Streams = Positive(name, Value()); break;
                case "--serving-rate": o.ServingRate = Positive(name, Value()); break;
                case "--decide-rate": o.DecideRate = Positive(name, Value()); break;
                case "--max-minutes": o.MaxTotal = TimeSpan.FromMinutes(Positive(name, Value())); break;
                default: throw new ArgumentException($"unknown option {name}");
            }
        }
        if (o.Users < o.FreshnessSample) o.FreshnessSample = o.Users;
        return o;
    }

    public static string RateName(int rate) => rate == 0 ? "max" : rate.ToString("N0", CultureInfo.InvariantCulture) + " events/s";

    private static List<int> ParseRates(string text)
    {
        var rates = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            rates.Add(part.Equals("max", StringComparison.OrdinalIgnoreCase) ? 0 : Positive("--rates", part));
        }
        return rates.Count > 0 ? rates : throw new ArgumentException("--rates names no phase");
    }

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{name} must be a positive integer, not '{value}'");

    private static int NonNegative(string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0
            ? n
            : throw new ArgumentException($"{name} must be 0 or a positive integer, not '{value}'");
}
