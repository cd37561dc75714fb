using System.Diagnostics;
using System.Text;
using Spectre.Console;

namespace Personalization.LoadGenerator;

/// <summary>
/// The references measured after the phases, in the same run, with the same client, so that every figure also reads as
/// a ratio: a bare Kestrel endpoint at each phase's rate, Redis GET and SET → GET, RabbitMQ publish + consume at each
/// phase's rate and at max, and (when their addresses are given) the collector and profile-query without the gateway.
/// </summary>
public sealed class SameRunBaselines(LoadOptions options, GatewayClients http, string runId)
{
    private readonly Dictionary<int, IngestSummary> _kestrel = [];
    private readonly Dictionary<int, BrokerRun> _rabbitMq = [];
    private LatencySummary? _redisGet;
    private LatencySummary? _redisSetGet;

    public List<BaselineResult> Results { get; } = [];

    public string RedisDescription { get; private set; } = "not measured";

    public BrokerBaseline? RabbitMq { get; private set; }

    public BaselineFigures Figures => new(_kestrel, _redisGet, _redisSetGet, _rabbitMq);

    /// <summary>The rates of the measured phases (max last), each measured once.</summary>
    public static List<int> RatesOf(IEnumerable<PhaseResult> phases) =>
        [.. phases.Select(p => p.TargetRate).Distinct().OrderBy(r => r == 0 ? int.MaxValue : r)];

    public async Task KestrelAsync(IReadOnlyList<PhaseResult> phases, CancellationToken ct)
    {
        foreach (var rate in RatesOf(phases))
        {
            var phase = phases.First(p => p.TargetRate == rate);
            AnsiConsole.MarkupLine($"baseline: bare Kestrel at {Markup.Escape(LoadOptions.RateName(rate))}");
            await using var kestrel = await BareKestrel.StartAsync(ct);
            var batch = new Uri(kestrel.Address, "/v1/batch");
            await new BatchSender(http.Ingest, batch, http.WriteKey, new Clickstream($"lg{runId}kw", 50, options.Seed), options.BatchSize, probe: null, new IngestStats())
                .WarmUpAsync(50, ct);
            var stats = new IngestStats();
            var sender = new BatchSender(http.Ingest, batch, http.WriteKey,
                new Clickstream($"lg{runId}k", options.Users, options.Seed), options.BatchSize, probe: null, stats);
            var start = Stopwatch.GetTimestamp();
            var schedule = await sender.RunAsync(rate, options.BaselineDuration, options.Concurrency, ct);
            var summary = IngestSummary.From(stats, schedule, start);
            _kestrel[rate] = summary;
            Results.Add(new BaselineResult(
                $"bare Kestrel, {LoadOptions.RateName(rate)}",
                $"POST /v1/batch to an in-process minimal endpoint, {options.BatchSize} events per batch, {options.BaselineDuration.TotalSeconds:0} s",
                summary.AcceptedPerSecond, summary.PostLatency,
                $"gateway ({phase.Name}): {N(phase.Ingest.AcceptedPerSecond)} events/s accepted ({Ratio(phase.Ingest.AcceptedPerSecond, summary.AcceptedPerSecond)}), " +
                $"{N(phase.CountedPerSecond)} accepted and counted ({Ratio(phase.CountedPerSecond, summary.AcceptedPerSecond)}), " +
                $"POST p50 {Ms(phase.Ingest.PostLatency.P50)} ({Ratio(phase.Ingest.PostLatency.P50, summary.PostLatency.P50)}), " +
                $"p99 {Ms(phase.Ingest.PostLatency.P99)} ({Ratio(phase.Ingest.PostLatency.P99, summary.PostLatency.P99)})"));
        }
    }

    public async Task RedisAsync(IReadOnlyList<PhaseResult> phases, byte[]? profile, CancellationToken ct)
    {
        try
        {
            AnsiConsole.MarkupLine("baseline: direct Redis");
            await using var redis = await RedisBaseline.StartAsync(options.Redis, ct);
            RedisDescription = redis.Description;
            var value = profile ?? Encoding.UTF8.GetBytes(new string('x', 1024));
            await redis.LoadAsync(value);
            var readRate = options.ReadsPerSecond > 0 ? options.ReadsPerSecond : 500;
            var gets = new LatencyRecorder();
            await redis.ReadsAsync(readRate, options.BaselineDuration, gets, ct);
            var reads = gets.Summarize();
            _redisGet = reads;
            var readPhase = phases.FirstOrDefault(p => p.TargetRate == 1000 && p.Reads is { Found.Count: > 0 }) ?? phases.FirstOrDefault(p => p.Reads is { Found.Count: > 0 });
            Results.Add(new BaselineResult(
                $"Redis GET, {readRate:N0}/s", $"StackExchange.Redis GET of a {value.Length:N0}-byte value (a real profile answer)", null, reads,
                readPhase?.Reads is { } r
                    ? $"profile read via gateway ({readPhase.Name}): p50 {Ms(r.Found.P50)} ({Ratio(r.Found.P50, reads.P50)}), p99 {Ms(r.Found.P99)} ({Ratio(r.Found.P99, reads.P99)})"
                    : "—"));

            var roundTrips = new LatencyRecorder();
            await redis.SetThenGetAsync(100, options.BaselineDuration, value, roundTrips, ct);
            var fresh = roundTrips.Summarize();
            _redisSetGet = fresh;
            var freshPhase = phases.FirstOrDefault(p => p.Freshness is { Freshness.Count: > 0 } && p.TargetRate > 0) ?? phases.FirstOrDefault(p => p.Freshness is { Freshness.Count: > 0 });
            Results.Add(new BaselineResult(
                "Redis SET → GET, 100/s", "SET of the same value, then GET on the same connection that returns it", null, fresh,
                freshPhase?.Freshness is { } f
                    ? $"freshness via the pipeline ({freshPhase.Name}): p50 {Ms(f.Freshness.P50)} ({Ratio(f.Freshness.P50, fresh.P50)}), p99 {Ms(f.Freshness.P99)} ({Ratio(f.Freshness.P99, fresh.P99)})"
                    : "—"));
        }
        catch (Exception failed) when (failed is StackExchange.Redis.RedisException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            RedisDescription = "could not run: " + failed.Message + " (install redis-server, or pass --redis host:port)";
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(RedisDescription)}[/]");
        }
    }

    /// <summary>
    /// RabbitMQ publish + consume at each phase's rate (messages/s = events/s: one event per message, the most messages the
    /// pipeline could need) and at max. On a private node by default; on the system's broker when asked, or when the
    /// private node cannot start.
    /// </summary>
    public async Task RabbitMqAsync(IReadOnlyList<PhaseResult> phases, IReadOnlyList<TopicMessages> pipelineMessages, SystemBroker? systemBroker,
        int? systemBrokerPid, CancellationToken ct)
    {
        var sampled = pipelineMessages.FirstOrDefault(m => m.Topic == SystemBroker.PipelineTopics[0]) ?? pipelineMessages.FirstOrDefault();
        var bytes = options.MessageBytes ?? sampled?.MedianBytes ?? 1024;
        var size = options.MessageBytes is not null ? "given with --message-bytes"
            : sampled is not null ? $"the median size on {sampled.Topic} during the warm-up"
            : "1,024 bytes: no pipeline message could be sampled";
        var rates = RatesOf(phases);
        if (!rates.Contains(0)) rates.Add(0);

        RabbitMqNode? node = null;
        string? fallback = null;
        try
        {
            if (options.RabbitMqBaseline == "isolated")
            {
                AnsiConsole.MarkupLine("baseline: starting a private RabbitMQ node");
                try
                {
                    node = await RabbitMqNode.StartAsync(options.RabbitMqServer, ct);
                }
                catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or IOException or UnauthorizedAccessException)
                {
                    fallback = e.Message;
                    AnsiConsole.MarkupLine($"[yellow]the private node could not start ({Markup.Escape(e.Message)}); measuring on the system's broker[/]");
                }
            }

            string where;
            Uri address;
            int? pid;
            if (node is not null)
            {
                (address, pid) = (node.Address, node.BeamPid);
                where = $"a private node started by the generator ({Display(address)}; own node name, ports, folders and epmd; stopped by pid at the end)";
            }
            else if (systemBroker is not null)
            {
                (address, pid) = (systemBroker.Address, systemBrokerPid);
                where = $"the system's own broker ({Display(address)}), idle after the phases, on a temporary exchange and queue deleted afterwards" +
                        (fallback is null ? "" : $" (the private node could not start: {fallback})");
            }
            else
            {
                RabbitMq = new BrokerBaseline("not measured: " + (fallback ?? "no broker to measure on (pass --rabbitmq)"), []);
                return;
            }

            var runs = new List<BrokerRun>();
            RabbitMq = new BrokerBaseline($"{where}; messages of {bytes:N0} bytes ({size})", runs);
            await using var baseline = await RabbitMqBaseline.OpenAsync(address, bytes, ct);
            foreach (var rate in rates)
            {
                AnsiConsole.MarkupLine($"baseline: RabbitMQ publish + consume at {(rate == 0 ? "max" : $"{rate:N0} msgs/s")}");
                var run = await baseline.RunAsync(rate, options.BaselineDuration, options.Concurrency, pid, ct);
                runs.Add(run);
                _rabbitMq[rate] = run;
                var phase = phases.FirstOrDefault(p => p.TargetRate == rate);
                Results.Add(new BaselineResult(
                    $"RabbitMQ publish + consume, {(rate == 0 ? "max" : $"{rate:N0} msgs/s")}",
                    $"persistent {bytes:N0}-byte messages, publisher confirms, durable queue, one consumer with manual acks (prefetch 64), {options.BaselineDuration.TotalSeconds:0} s; latency publish → consume",
                    run.ConsumedPerSecond, run.PublishToConsume,
                    phase is null ? "—"
                        : rate == 0 ? $"pipeline ({phase.Name}): {N(phase.CountedPerSecond)} events/s accepted and counted ({Ratio(phase.CountedPerSecond, run.ConsumedPerSecond)})"
                        : phase.Freshness is { } f ? $"freshness ({phase.Name}): p50 {Ms(f.Freshness.P50)} ({Ratio(f.Freshness.P50, run.PublishToConsume.P50)}), p99 {Ms(f.Freshness.P99)} ({Ratio(f.Freshness.P99, run.PublishToConsume.P99)})"
                        : "—"));
            }
        }
        catch (Exception e) when (e is RabbitMQ.Client.Exceptions.RabbitMQClientException or IOException or TimeoutException)
        {
            RabbitMq = new BrokerBaseline((RabbitMq?.Where ?? "") + $" — stopped by an error: {e.Message}", RabbitMq?.Runs ?? []);
            AnsiConsole.MarkupLine($"[red]RabbitMQ baseline failed: {Markup.Escape(e.Message)}[/]");
        }
        finally
        {
            if (node is not null) await node.DisposeAsync();
        }
    }

    /// <summary>Time per stage: the collector and profile-query on their own ports, without the gateway.</summary>
    public async Task StagesAsync(IReadOnlyList<PhaseResult> phases, CancellationToken ct)
    {
        var reference = phases.FirstOrDefault(p => p.TargetRate > 0) ?? phases.FirstOrDefault();
        var rate = reference?.TargetRate is > 0 ? reference.TargetRate : 500;
        if (options.CollectorUrl is { } collector)
        {
            AnsiConsole.MarkupLine($"stage timing: POST /v1/batch to the collector directly at {rate:N0} events/s");
            // Users of their own: their events go through the pipeline but are not checked, and run after every phase.
            var stats = new IngestStats();
            var sender = new BatchSender(http.Ingest, new Uri(collector, "/v1/batch"), authorization: null,
                new Clickstream($"lg{runId}c", options.Users, options.Seed), options.BatchSize, probe: null, stats);
            var start = Stopwatch.GetTimestamp();
            var schedule = await sender.RunAsync(rate, options.BaselineDuration, options.Concurrency, ct);
            var summary = IngestSummary.From(stats, schedule, start);
            Results.Add(new BaselineResult(
                $"collector direct, {rate:N0} events/s", "POST /v1/batch to the collector's own port (no gateway)", summary.AcceptedPerSecond, summary.PostLatency,
                reference is null ? "—" : $"through the gateway ({reference.Name}): POST p50 {Ms(reference.Ingest.PostLatency.P50)}, p99 {Ms(reference.Ingest.PostLatency.P99)}; 2xx {summary.Status2xx:N0}, 503 {summary.Status503:N0}"));
        }
        if (options.ProfileQueryUrl is { } profileQuery && phases.Count > 0)
        {
            AnsiConsole.MarkupLine($"stage timing: profile reads on profile-query directly at {options.ReadsPerSecond:N0}/s");
            var readStats = new ReadStats();
            var users = new Clickstream($"lg{runId}p1", options.Users, options.Seed).Users;
            foreach (var u in users)
            {
                lock (u.Gate) u.Accept(new GeneratedEvent(u, EventKind.Page, "Home", 1, DateTimeOffset.UtcNow, null));
            }
            await ProfileReader.RunAsync(http.Reads, new Uri(profileQuery, "/v1/profiles/"), null, users,
                Math.Max(1, options.ReadsPerSecond), options.BaselineDuration, readStats, ct);
            var found = readStats.Found.Summarize();
            var readPhase = phases.FirstOrDefault(p => p.Reads is { Found.Count: > 0 });
            Results.Add(new BaselineResult(
                $"profile-query direct, {options.ReadsPerSecond:N0}/s", "GET /v1/profiles/{id} on profile-query's own port (no gateway), users of phase 1", null, found,
                readPhase?.Reads is { } r ? $"through the gateway ({readPhase.Name}, under write load): p50 {Ms(r.Found.P50)}, p99 {Ms(r.Found.P99)}; here 200s {readStats.Status200:N0}, 404s {readStats.Status404:N0}" : "—"));
        }
    }

    private static string Display(Uri address) => new UriBuilder(address) { Password = "" }.Uri.ToString();

    private static string N(double value) => ReportWriter.N(value);

    private static string Ms(double value) => ReportWriter.Ms(value);

    private static string Ratio(double pipeline, double baseline) => ReportWriter.Ratio(pipeline, baseline);
}
