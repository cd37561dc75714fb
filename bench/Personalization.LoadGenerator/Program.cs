using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Personalization.LoadGenerator;
using Spectre.Console;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(LoadOptions.Usage);
    return 0;
}

LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (Exception bad) when (bad is ArgumentException or FormatException or UriFormatException)
{
    Console.Error.WriteLine(bad.Message);
    Console.Error.WriteLine(LoadOptions.Usage);
    return 2;
}

using var cancel = new CancellationTokenSource(options.MaxTotal);
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
var ct = cancel.Token;

var startedAt = DateTimeOffset.UtcNow;
var origin = Stopwatch.GetTimestamp();
var machine = Machine.Describe();
// The system was built before the run started: the commit at the start is the closer guess (run.sh's build time is not known here).
var commit = Machine.Commit();
using var ingestHttp = BatchSender.CreateClient(options.Concurrency);
using var readHttp = BatchSender.CreateClient(64);
using var probeHttp = BatchSender.CreateClient(Math.Max(4, options.FreshnessSample));
var http = new GatewayClients(ingestHttp, readHttp, probeHttp, options.Gateway,
    BatchSender.WriteKey(options.WriteKey), new AuthenticationHeaderValue("Bearer", options.ReadKey));

// Preflight: the gateway answers and the keys are right, or nothing is measured.
try
{
    using var health = await readHttp.GetAsync(new Uri(options.Gateway, "/health"), ct);
    if (health.StatusCode != HttpStatusCode.OK)
    {
        Console.Error.WriteLine($"{options.Gateway}health answered {(int)health.StatusCode}: the system is not ready (is ./run.sh up?)");
        return 1;
    }
    using var probe = new HttpRequestMessage(HttpMethod.Get, new Uri(http.Profiles, "loadgen-preflight-" + Guid.NewGuid().ToString("N")));
    probe.Headers.Authorization = http.ReadKey;
    using var answer = await readHttp.SendAsync(probe, ct);
    if (answer.StatusCode != HttpStatusCode.NotFound)
    {
        Console.Error.WriteLine($"GET /v1/profiles/<unknown user> answered {(int)answer.StatusCode} instead of 404: check --read-key and the gateway's routes");
        return 1;
    }
}
catch (HttpRequestException down)
{
    Console.Error.WriteLine($"{options.Gateway} is not reachable ({down.Message}): start the system with ./run.sh first");
    return 1;
}

if (options.Serving)
{
    return await new ServingBench(options).RunAsync(options.OutputDirectory ?? ReportDirectory(), ct);
}
if (options.WebSocket)
{
    return await new StreamIngestionBench(options).RunAsync(options.OutputDirectory ?? ReportDirectory(), ct);
}

// The system under test: its processes (CPU, memory) and its broker (queue depths), each optional.
var system = SystemUnderTest.Discover(options.Gateway);
var processesFound = system?.Description ?? "not measured: no /proc on this machine";
AnsiConsole.MarkupLine($"system: {Markup.Escape(processesFound)}");
var (broker, brokerFound) = await SystemBroker.ConnectAsync(options.RabbitMq, system, ct);
await using var brokerLease = broker;
if (broker is not null)
{
    var runningApps = system?.Processes().Where(p => p.Name.EndsWith(" sidecar", StringComparison.Ordinal)).Select(p => p.Name[..^" sidecar".Length]) ?? [];
    await broker.DiscoverQueuesAsync(runningApps, options.Queues, ct);
}
AnsiConsole.MarkupLine($"broker: {Markup.Escape(brokerFound)}; queues: {Markup.Escape(string.Join(", ", broker?.Queues ?? []))}");
var monitor = new SystemMonitor(system, broker, options.Window);
var idleBefore = monitor.Snapshot()?.Memory("idle before", origin);

var runId = startedAt.ToString("MMddHHmmss", CultureInfo.InvariantCulture);

var segments = new BenchSegments(readHttp, options.Gateway, options.AdminKey, runId);
if (options.Segments > 0)
{
    try
    {
        await segments.CreateAsync(options.Segments, ct);
    }
    catch (InvalidOperationException refused)
    {
        Console.Error.WriteLine(refused.Message);
        await segments.DeleteAsync(CancellationToken.None);
        return 1;
    }
    AnsiConsole.MarkupLine($"segments: {segments.Created.Count} active during the run");
}

// Warm-up, not measured: connections, JIT and caches along the whole path. The broker's copies of its messages tell their size.
AnsiConsole.MarkupLine($"warm-up: {options.WarmUpBatches:N0} batches and {options.WarmUpBatches:N0} profile reads through the gateway, then 10 s for the pipeline to catch up");
async Task WarmUpAsync()
{
    var reads = Parallel.ForEachAsync(Enumerable.Range(0, options.WarmUpBatches), new ParallelOptions { MaxDegreeOfParallelism = 2, CancellationToken = ct }, async (i, token) =>
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(http.Profiles, $"lg{runId}w-u{i % 1000:D6}"));
        request.Headers.Authorization = http.ReadKey;
        using var response = await readHttp.SendAsync(request, token);
    });
    await new BatchSender(ingestHttp, http.Batch, http.WriteKey, new Clickstream($"lg{runId}w", 1000, options.Seed), options.BatchSize, probe: null, new IngestStats())
        .WarmUpAsync(options.WarmUpBatches, ct);
    await reads;
    await Task.Delay(TimeSpan.FromSeconds(10), ct);
}
IReadOnlyList<TopicMessages> messageSizes = [];
if (broker is not null) messageSizes = await broker.SampleMessagesAsync(WarmUpAsync, TimeSpan.FromSeconds(3), ct);
else await WarmUpAsync();

var runner = new PhaseRunner(options, http, monitor);
if (options.Import)
{
    return await new ImportBench(options, http, runner, runId).RunAsync(options.OutputDirectory ?? ReportDirectory(), ct);
}
var phases = new List<PhaseResult>();
PhaseResult? soak = null;
byte[]? sampleProfile = null;
try
{
    for (var index = 0; index < options.Rates.Count; index++)
    {
        var rate = options.Rates[index];
        var (result, profile) = await runner.RunAsync(
            $"phase {index + 1}: {LoadOptions.RateName(rate)}", rate, options.Duration,
            new Clickstream($"lg{runId}p{index + 1}", options.Users, options.Seed + index), soak: false, ct);
        phases.Add(result);
        sampleProfile ??= profile;
    }
    if (options.SoakDuration > TimeSpan.Zero)
    {
        (soak, var profile) = await runner.RunAsync(
            $"soak: {LoadOptions.RateName(options.SoakRate)}", options.SoakRate, options.SoakDuration,
            new Clickstream($"lg{runId}s", options.Users, options.Seed + 100), soak: true, ct);
        sampleProfile ??= profile;
    }
}
catch (OperationCanceledException) when (ct.IsCancellationRequested)
{
    AnsiConsole.MarkupLine("[red]stopped (--max-minutes reached, or Ctrl-C)[/]: the report holds what was finished");
}
var idleAfter = monitor.Snapshot()?.Memory("idle after", origin);
await segments.DeleteAsync(CancellationToken.None);

// Baselines and per-stage timings, after the phases so they do not load the pipeline while it is measured.
var measured = soak is null ? phases : [.. phases, soak];
var baselines = new SameRunBaselines(options, http, runId);
try
{
    if (options.Baselines && measured.Count > 0)
    {
        await baselines.KestrelAsync(measured, ct);
        await baselines.RedisAsync(measured, sampleProfile, ct);
        var brokerPid = system?.Processes().FirstOrDefault(p => p.Name == "rabbitmq (beam.smp)")?.Pid;
        await baselines.RabbitMqAsync(measured, messageSizes, broker, brokerPid, ct);
    }
    await baselines.StagesAsync(phases, ct);
}
catch (OperationCanceledException) when (ct.IsCancellationRequested)
{
    AnsiConsole.MarkupLine("[red]baselines stopped (--max-minutes reached, or Ctrl-C)[/]");
}

var findings = new SystemFindings(processesFound, brokerFound, broker?.Queues ?? [], messageSizes, idleBefore, idleAfter);
var report = new RunReport(
    startedAt, commit, options.Gateway.ToString(), machine,
    [
        new("users per phase", N(options.Users)),
        new("active segments", options.Segments > 0 ? $"{options.Segments} (created through /v1/segments before the warm-up, deleted after; rules over page views, product views, orders and revenue, churn risk, days since last seen, traits and sessions)" : "none"),
        new("batch size", options.BatchSize.ToString(CultureInfo.InvariantCulture)),
        new("phases", string.Join(", ", options.Rates.Select(LoadOptions.RateName))),
        new("duration per phase", $"{options.Duration.TotalSeconds:0} s"),
        new("soak", options.SoakDuration > TimeSpan.Zero ? $"{LoadOptions.RateName(options.SoakRate)} for {options.SoakDuration.TotalSeconds:0} s, {N(options.Users)} users of its own" : "none"),
        new("system sampled (CPU, memory, queue depths)", $"every {options.Window.TotalSeconds:0} s during each phase and the soak"),
        new("batch POSTs in flight at most", options.Concurrency.ToString(CultureInfo.InvariantCulture)),
        new("warm-up (not measured)", $"{options.WarmUpBatches:N0} batches of {options.BatchSize} for 1,000 users of its own, 4 in flight, with as many profile reads, then 10 s of rest: a fresh system compiles its hot paths (tiered JIT) in its first 20-30 s under load"),
        new("profile reads during each phase and the soak", options.ReadsPerSecond > 0 ? $"{options.ReadsPerSecond:N0}/s (at most 64 in flight)" : "none"),
        new("freshness sample", $"{options.FreshnessSample} users per phase, polled every {options.PollInterval.TotalMilliseconds:0} ms while waiting"),
        new("drain limit", $"{options.Drain.TotalSeconds:0} s"),
        new("baseline duration", $"{options.BaselineDuration.TotalSeconds:0} s each"),
        new("event mix", "about 57 % page, 40 % track (shop funnel: Product Viewed … Order Completed), 3 % identify plus each user's first event; 3–20 events per session, 35 min–8 h between sessions in event time"),
    ],
    findings, phases, soak, baselines.Results, baselines.RabbitMq,
    TargetChecks.Evaluate(phases, soak, findings, baselines.Figures, options), Notes(), Machine.LoadAverage(), baselines.RedisDescription);

var directory = options.OutputDirectory ?? ReportDirectory();
var (markdownPath, _) = ReportWriter.Write(report, directory, options.Tag);
AnsiConsole.WriteLine();
var targetsTable = new Table().AddColumns("target", "measured", "met");
foreach (var t in report.Targets) targetsTable.AddRow(Markup.Escape(t.Target), Markup.Escape(t.Measured), t.Met is null ? "—" : t.Met.Value ? "[green]yes[/]" : "[red]no[/]");
AnsiConsole.Write(targetsTable);
AnsiConsole.MarkupLine($"report: {Markup.Escape(Path.GetRelativePath(Environment.CurrentDirectory, markdownPath))} and .json");
return ct.IsCancellationRequested ? 3 : 0;

static string N(double value) => ReportWriter.N(value);

static List<string> Notes() =>
[
    "Accepted events/s: events in batches answered 200, divided by the time from the phase's start to the last 200. A batch answered 429/503/5xx or not answered is retried with the same message ids (up to 6 attempts, Retry-After honoured); any other 4xx is final.",
    "Accepted and counted events/s (one definition for every phase and the soak): the accepted events that the drain found in their users' profiles (accepted − missing; a double count adds nothing), divided by the time from the phase's first send until the drain's last sweep over all the phase's profiles found them (phase + drain). The drain's last sweep (reading every user once) is its resolution and is shown beside it.",
    "Freshness: for the sampled users, each accepted batch holding their events sets an expectation 'totalEvents ≥ n' stamped with the time of its 200; that user's profile is read through the gateway every poll interval while an expectation is open, and the first read that meets it closes it at the time its answer arrived. The figure includes that read and up to one poll interval (resolution ≈ poll interval + one read). In the soak's windows a sample belongs to the window in which its batch was accepted.",
    "Profile reads: GET /v1/profiles/{id} through the gateway with the read key, started at a fixed rate (open loop, at most 64 in flight), for users with at least one accepted event; percentiles over the 200 answers. They run at the same time as the writes and the freshness polls.",
    "Loss: after each phase every user's profile is read until totalEvents reaches what was accepted for that user (or the drain limit). Missing = accepted but not counted; extra = counted more than accepted (a double count). Per event name: page → pageViews, track → eventCounts[name], identify → the rest of totalEvents.",
    "Consent: each phase's users are granted analytics and personalization consent (PUT /v1/consent/{id}) before their first event, so no event is dropped by consent; the grants happen before the phase's clock and CPU window start.",
    "Processes of the system: found from the process listening on the gateway's port (DCP's proxy under Aspire), its topmost ancestor of a known kind, the AppHost it monitors with its `dotnet run` wrapper, and every process started beneath them (looked up again at each sample); named by kind: a service by its executable or dll, a sidecar by its --app-id, the stores, the broker with its Erlang helpers, the dashboard, DCP, the AppHost and the `dotnet run` wrappers.",
    "CPU per event: utime + stime of each process (/proc/<pid>/stat) from just before the phase's first send to the end of its drain, divided by the events counted in the phase. It includes everything the system did meanwhile: the profile reads, the freshness polls, the drain's reads, the dashboard's telemetry. The load generator's own CPU is shown beside it, not in the total.",
    "Memory: VmRSS of each process and the PSS total (smaps_rollup), at rest before the warm-up, at every window of every phase (the peak is reported), and at rest after the soak's drain. The targets are judged on the RSS sum, the larger figure.",
    "Broker queue depth: messages ready in each queue (passive queue.declare: messages delivered to a consumer and not yet acknowledged, up to the prefetch, are not in it), at the end of every window.",
    "Baselines: same HttpClient, same batch bodies, same rate and concurrency against a bare in-process Kestrel endpoint; StackExchange.Redis GET at the read rate and SET → GET round trips for the store's own floor; RabbitMQ publish + consume with the pipeline's settings (persistent messages of the pipeline's size, publisher confirms, durable queue, manual acks, prefetch 64) at each phase's rate in messages/s and at max. The bare-Kestrel server shares the generator's process, so its figures include the generator's own cost.",
];

static string ReportDirectory()
{
    foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Personalization.sln"))) return Path.Combine(dir.FullName, "bench", "reports");
        }
    }
    return Path.Combine(Environment.CurrentDirectory, "reports");
}
