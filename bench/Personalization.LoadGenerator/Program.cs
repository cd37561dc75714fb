using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
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
var machine = Machine.Describe();
// The system was built before the run started: the commit at the start is the closer guess (run.sh's build time is not known here).
var commit = Machine.Commit();
var writeKey = BatchSender.WriteKey(options.WriteKey);
var readKey = new AuthenticationHeaderValue("Bearer", options.ReadKey);
var profiles = new Uri(options.Gateway, "/v1/profiles/");
using var ingestHttp = BatchSender.CreateClient(options.Concurrency);
using var readHttp = BatchSender.CreateClient(64);
using var probeHttp = BatchSender.CreateClient(Math.Max(4, options.FreshnessSample));

// Preflight: the gateway answers and the keys are right, or nothing is measured.
try
{
    using var health = await readHttp.GetAsync(new Uri(options.Gateway, "/health"), ct);
    if (health.StatusCode != HttpStatusCode.OK)
    {
        Console.Error.WriteLine($"{options.Gateway}health answered {(int)health.StatusCode}: the system is not ready (is ./run.sh up?)");
        return 1;
    }
    using var probe = new HttpRequestMessage(HttpMethod.Get, new Uri(profiles, "loadgen-preflight-" + Guid.NewGuid().ToString("N")));
    probe.Headers.Authorization = readKey;
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

var runId = startedAt.ToString("MMddHHmmss", CultureInfo.InvariantCulture);

// Warm-up, not measured: connections, JIT and caches along the whole path (its users are not checked).
AnsiConsole.MarkupLine("warm-up: 50 batches and 100 profile reads through the gateway");
await WarmUpAsync(ingestHttp, new Uri(options.Gateway, "/v1/batch"), writeKey, new Clickstream($"lg{runId}w", 50, options.Seed), options.BatchSize, ct);
await Parallel.ForEachAsync(Enumerable.Range(0, 100), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (i, token) =>
{
    using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(profiles, $"lg{runId}w-u{i % 50:D6}"));
    request.Headers.Authorization = readKey;
    using var response = await readHttp.SendAsync(request, token);
});
var phases = new List<PhaseResult>();
var sampleProfiles = new List<byte[]?>();
var interactive = AnsiConsole.Profile.Capabilities.Interactive;

for (var index = 0; index < options.Rates.Count && !ct.IsCancellationRequested; index++)
{
    var rate = options.Rates[index];
    var phaseName = $"phase {index + 1}: {LoadOptions.RateName(rate)}";
    AnsiConsole.MarkupLine($"[bold]{Markup.Escape(phaseName)}[/], {options.Users:N0} users, batches of {options.BatchSize}, {options.Duration.TotalSeconds:0} s");
    var stream = new Clickstream($"lg{runId}p{index + 1}", options.Users, options.Seed + index);

    var consentFailures = await GrantConsentAsync(ingestHttp, options, stream.Users, writeKey, ct);
    if (consentFailures > 0) AnsiConsole.MarkupLine($"[red]{consentFailures} consent PUTs failed[/]: those users' events may be dropped by consent");

    var sample = stream.Users.Take(options.FreshnessSample).ToList();
    var probe = options.FreshnessSample > 0 ? new FreshnessProbe(probeHttp, options.Gateway, options.ReadKey, options.PollInterval, sample) : null;
    var stats = new IngestStats();
    var sender = new BatchSender(ingestHttp, new Uri(options.Gateway, "/v1/batch"), writeKey, stream, options.BatchSize, probe, stats);
    var readStats = new ReadStats();

    using var stopSending = new CancellationTokenSource();
    using var drainUntil = CancellationTokenSource.CreateLinkedTokenSource(ct);
    var phaseStart = Stopwatch.GetTimestamp();
    var probeTask = probe?.RunAsync(stopSending.Token, drainUntil.Token) ?? Task.CompletedTask;
    var sendTask = sender.RunAsync(rate, options.Duration, options.Concurrency, ct);
    var readTask = options.ReadsPerSecond > 0
        ? ProfileReader.RunAsync(readHttp, profiles, readKey, stream.Users, options.ReadsPerSecond, options.Duration, readStats, ct)
        : Task.FromResult(new ScheduleOutcome(0, 0, 0, TimeSpan.FromSeconds(1)));

    await ShowProgressAsync(Task.WhenAll(sendTask, readTask), () => Live(phaseName, phaseStart, stats, readStats, probe));
    var schedule = await sendTask;
    var readSchedule = await readTask;

    // Drain: the sampled users' expectations first (freshness), then every user's counts (loss).
    stopSending.Cancel();
    drainUntil.CancelAfter(options.Drain);
    var drainStart = Stopwatch.GetTimestamp();
    await ShowProgressAsync(probeTask, () => new Markup($"waiting for the sampled profiles: {probe?.Open ?? 0} batches not yet visible"));
    // The loss check has a drain budget of its own: under a backlog the sampled users' wait may have used the first.
    var status = "drain: reading every profile";
    var lossTask = LossCheck.RunAsync(readHttp, profiles, readKey, stream.Users, options.Drain, s => status = s, ct);
    await ShowProgressAsync(lossTask, () => new Markup(Markup.Escape(status)));
    var (loss, sampleProfile) = await lossTask;
    // Accepted and counted: every accepted event of the phase, over the time until the last of them was in a profile.
    var countedPerSecond = loss.Complete ? stats.EventsAccepted / Stopwatch.GetElapsedTime(phaseStart).TotalSeconds : (double?)null;
    sampleProfiles.Add(sampleProfile);

    var result = new PhaseResult(
        phaseName, rate, options.BatchSize, options.Users, options.Concurrency, options.Duration.TotalSeconds, consentFailures,
        IngestSummary.From(stats, schedule, phaseStart),
        probe is null ? null : new FreshnessSummary(probe.SampledUsers, probe.Freshness.Summarize(), probe.Open, probe.Polls, probe.PollErrors,
            probe.PollLatency.Summarize(), options.PollInterval.TotalMilliseconds),
        options.ReadsPerSecond > 0 ? ReadSummary.From(options.ReadsPerSecond, readStats, readSchedule) : null,
        loss, countedPerSecond, Machine.LoadAverage());
    phases.Add(result);
    PrintPhase(result);
}

// Baselines and per-stage timings, after the phases so they do not load the pipeline while it is measured.
var baselines = new List<BaselineResult>();
var redisDescription = "not measured";
if (options.Baselines && !ct.IsCancellationRequested)
{
    foreach (var phase in phases)
    {
        AnsiConsole.MarkupLine($"baseline: bare Kestrel at {Markup.Escape(LoadOptions.RateName(phase.TargetRate))}");
        await using var kestrel = await BareKestrel.StartAsync(ct);
        await WarmUpAsync(ingestHttp, new Uri(kestrel.Address, "/v1/batch"), writeKey, new Clickstream($"lg{runId}kw", 50, options.Seed), options.BatchSize, ct);
        var stats = new IngestStats();
        var sender = new BatchSender(ingestHttp, new Uri(kestrel.Address, "/v1/batch"), writeKey,
            new Clickstream($"lg{runId}k", options.Users, options.Seed), options.BatchSize, probe: null, stats);
        var start = Stopwatch.GetTimestamp();
        var schedule = await sender.RunAsync(phase.TargetRate, options.BaselineDuration, options.Concurrency, ct);
        var summary = IngestSummary.From(stats, schedule, start);
        baselines.Add(new BaselineResult(
            $"bare Kestrel, {LoadOptions.RateName(phase.TargetRate)}",
            $"POST /v1/batch to an in-process minimal endpoint, {options.BatchSize} events per batch, {options.BaselineDuration.TotalSeconds:0} s",
            summary.AcceptedPerSecond, summary.PostLatency,
            $"gateway: {N(phase.Ingest.AcceptedPerSecond)} events/s ({ReportWriter.Ratio(phase.Ingest.AcceptedPerSecond, summary.AcceptedPerSecond)}), " +
            $"POST p50 {ReportWriter.Ms(phase.Ingest.PostLatency.P50)} ({ReportWriter.Ratio(phase.Ingest.PostLatency.P50, summary.PostLatency.P50)}), " +
            $"p99 {ReportWriter.Ms(phase.Ingest.PostLatency.P99)} ({ReportWriter.Ratio(phase.Ingest.PostLatency.P99, summary.PostLatency.P99)})"));
    }

    try
    {
        AnsiConsole.MarkupLine("baseline: direct Redis");
        await using var redis = await RedisBaseline.StartAsync(options.Redis, ct);
        redisDescription = redis.Description;
        var value = sampleProfiles.FirstOrDefault(p => p is not null) ?? Encoding.UTF8.GetBytes(new string('x', 1024));
        await redis.LoadAsync(value);
        var readRate = options.ReadsPerSecond > 0 ? options.ReadsPerSecond : 500;
        var gets = new LatencyRecorder();
        await redis.ReadsAsync(readRate, options.BaselineDuration, gets, ct);
        var reads = gets.Summarize();
        var readPhase = phases.FirstOrDefault(p => p.Reads is { Found.Count: > 0 });
        baselines.Add(new BaselineResult(
            $"Redis GET, {readRate:N0}/s", $"StackExchange.Redis GET of a {value.Length:N0}-byte value (a real profile answer)", null, reads,
            readPhase?.Reads is { } r
                ? $"profile read via gateway ({readPhase.Name}): p50 {ReportWriter.Ms(r.Found.P50)} ({ReportWriter.Ratio(r.Found.P50, reads.P50)}), p99 {ReportWriter.Ms(r.Found.P99)} ({ReportWriter.Ratio(r.Found.P99, reads.P99)})"
                : "—"));

        var roundTrips = new LatencyRecorder();
        await redis.SetThenGetAsync(100, options.BaselineDuration, value, roundTrips, ct);
        var fresh = roundTrips.Summarize();
        var freshPhase = phases.FirstOrDefault(p => p.Freshness is { Freshness.Count: > 0 } && p.TargetRate > 0) ?? phases.FirstOrDefault(p => p.Freshness is { Freshness.Count: > 0 });
        baselines.Add(new BaselineResult(
            "Redis SET → GET, 100/s", "SET of the same value, then GET on the same connection that returns it", null, fresh,
            freshPhase?.Freshness is { } f
                ? $"freshness via the pipeline ({freshPhase.Name}): p50 {ReportWriter.Ms(f.Freshness.P50)} ({ReportWriter.Ratio(f.Freshness.P50, fresh.P50)}), p99 {ReportWriter.Ms(f.Freshness.P99)} ({ReportWriter.Ratio(f.Freshness.P99, fresh.P99)})"
                : "—"));
    }
    catch (Exception failed) when (failed is StackExchange.Redis.RedisException or System.ComponentModel.Win32Exception or InvalidOperationException)
    {
        redisDescription = "could not run: " + failed.Message + " (install redis-server, or pass --redis host:port)";
        AnsiConsole.MarkupLine($"[red]{Markup.Escape(redisDescription)}[/]");
    }
}

if (!ct.IsCancellationRequested && (options.CollectorUrl is not null || options.ProfileQueryUrl is not null))
{
    var reference = phases.FirstOrDefault(p => p.TargetRate > 0) ?? phases.FirstOrDefault();
    var rate = reference?.TargetRate is > 0 ? reference.TargetRate : 500;
    if (options.CollectorUrl is { } collector)
    {
        AnsiConsole.MarkupLine($"stage timing: POST /v1/batch to the collector directly at {rate:N0} events/s");
        // Users of their own: their events go through the pipeline but are not checked, and run after every phase.
        var stats = new IngestStats();
        var sender = new BatchSender(ingestHttp, new Uri(collector, "/v1/batch"), authorization: null,
            new Clickstream($"lg{runId}c", options.Users, options.Seed), options.BatchSize, probe: null, stats);
        var start = Stopwatch.GetTimestamp();
        var schedule = await sender.RunAsync(rate, options.BaselineDuration, options.Concurrency, ct);
        var summary = IngestSummary.From(stats, schedule, start);
        baselines.Add(new BaselineResult(
            $"collector direct, {rate:N0} events/s", "POST /v1/batch to the collector's own port (no gateway)", summary.AcceptedPerSecond, summary.PostLatency,
            reference is null ? "—" : $"through the gateway ({reference.Name}): POST p50 {ReportWriter.Ms(reference.Ingest.PostLatency.P50)}, p99 {ReportWriter.Ms(reference.Ingest.PostLatency.P99)}; 2xx {summary.Status2xx:N0}, 503 {summary.Status503:N0}"));
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
        await ProfileReader.RunAsync(readHttp, new Uri(profileQuery, "/v1/profiles/"), null, users,
            Math.Max(1, options.ReadsPerSecond), options.BaselineDuration, readStats, ct);
        var found = readStats.Found.Summarize();
        var readPhase = phases.FirstOrDefault(p => p.Reads is { Found.Count: > 0 });
        baselines.Add(new BaselineResult(
            $"profile-query direct, {options.ReadsPerSecond:N0}/s", "GET /v1/profiles/{id} on profile-query's own port (no gateway), users of phase 1", null, found,
            readPhase?.Reads is { } r ? $"through the gateway ({readPhase.Name}, under write load): p50 {ReportWriter.Ms(r.Found.P50)}, p99 {ReportWriter.Ms(r.Found.P99)}; here 200s {readStats.Status200:N0}, 404s {readStats.Status404:N0}" : "—"));
    }
}

var report = new RunReport(
    startedAt, commit, options.Gateway.ToString(), machine,
    [
        new("users per phase", N(options.Users)),
        new("batch size", options.BatchSize.ToString(CultureInfo.InvariantCulture)),
        new("phases", string.Join(", ", options.Rates.Select(LoadOptions.RateName))),
        new("duration per phase", $"{options.Duration.TotalSeconds:0} s"),
        new("batch POSTs in flight at most", options.Concurrency.ToString(CultureInfo.InvariantCulture)),
        new("profile reads during each phase", options.ReadsPerSecond > 0 ? $"{options.ReadsPerSecond:N0}/s (at most 64 in flight)" : "none"),
        new("freshness sample", $"{options.FreshnessSample} users per phase, polled every {options.PollInterval.TotalMilliseconds:0} ms while waiting"),
        new("drain limit", $"{options.Drain.TotalSeconds:0} s"),
        new("baseline duration", $"{options.BaselineDuration.TotalSeconds:0} s each"),
        new("event mix", "about 57 % page, 40 % track (shop funnel: Product Viewed … Order Completed), 3 % identify plus each user's first event; 3–20 events per session, 35 min–8 h between sessions in event time"),
    ],
    phases, baselines, Targets(phases, options), Notes(), Machine.LoadAverage(), redisDescription);

var directory = options.OutputDirectory ?? ReportDirectory();
var (markdownPath, jsonPath) = ReportWriter.Write(report, directory, options.Tag);
AnsiConsole.WriteLine();
var targetsTable = new Table().AddColumns("target", "measured", "met");
foreach (var t in report.Targets) targetsTable.AddRow(Markup.Escape(t.Target), Markup.Escape(t.Measured), t.Met is null ? "—" : t.Met.Value ? "[green]yes[/]" : "[red]no[/]");
AnsiConsole.Write(targetsTable);
AnsiConsole.MarkupLine($"report: {Markup.Escape(Path.GetRelativePath(Environment.CurrentDirectory, markdownPath))} and .json");
_ = jsonPath;
return ct.IsCancellationRequested ? 3 : 0;

static string N(double value) => ReportWriter.N(value);

static Task WarmUpAsync(HttpClient http, Uri batchUri, AuthenticationHeaderValue? authorization, Clickstream stream, int batchSize, CancellationToken ct)
{
    var sender = new BatchSender(http, batchUri, authorization, stream, batchSize, probe: null, new IngestStats());
    return Parallel.ForEachAsync(Enumerable.Range(0, 50), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct },
        async (_, token) => await sender.SendOneAsync(token));
}

static async Task<int> GrantConsentAsync(HttpClient http, LoadOptions options, IReadOnlyList<SimUser> users, AuthenticationHeaderValue writeKey, CancellationToken ct)
{
    var failures = 0;
    var body = Encoding.UTF8.GetBytes("""{"purposes":{"analytics":true,"personalization":true},"source":"load-generator"}""");
    await AnsiConsole.Status().StartAsync($"granting consent (analytics, personalization) to {users.Count:N0} users", async _ =>
    {
        await Parallel.ForEachAsync(users, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (user, token) =>
        {
            for (var attempt = 1; attempt <= 3; attempt++)
            {
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(options.Gateway, "/v1/consent/" + Uri.EscapeDataString(user.UserId)))
                    {
                        Content = new ByteArrayContent(body),
                    };
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    request.Headers.Authorization = writeKey;
                    using var response = await http.SendAsync(request, token);
                    if (response.IsSuccessStatusCode) return;
                }
                catch (HttpRequestException)
                {
                }
                await Task.Delay(200 * attempt, token);
            }
            Interlocked.Increment(ref failures);
        });
    });
    return failures;
}

async Task ShowProgressAsync(Task work, Func<Spectre.Console.Rendering.IRenderable> render)
{
    if (interactive)
    {
        await AnsiConsole.Live(render()).AutoClear(false).StartAsync(async live =>
        {
            while (!work.IsCompleted)
            {
                await Task.WhenAny(work, Task.Delay(500, CancellationToken.None));
                live.UpdateTarget(render());
            }
        });
    }
    else
    {
        var clock = Stopwatch.StartNew();
        while (!work.IsCompleted)
        {
            await Task.WhenAny(work, Task.Delay(5000, CancellationToken.None));
            if (!work.IsCompleted)
            {
                AnsiConsole.Write(render());
                AnsiConsole.WriteLine();
            }
        }
    }
    await work;
}

static Table Live(string name, long phaseStart, IngestStats s, ReadStats r, FreshnessProbe? probe)
{
    var elapsed = Stopwatch.GetElapsedTime(phaseStart).TotalSeconds;
    var post = s.PostLatency.Summarize();
    var reads = r.Found.Summarize();
    var fresh = probe?.Freshness.Summarize() ?? LatencySummary.Empty;
    var table = new Table().Title(Markup.Escape($"{name} — {elapsed:0} s")).AddColumns("", "value");
    table.AddRow("events sent / accepted", $"{s.EventsSent:N0} / {s.EventsAccepted:N0}");
    table.AddRow("accepted events/s", N(elapsed > 0 ? s.EventsAccepted / elapsed : 0));
    table.AddRow("POST p50 / p99", Markup.Escape($"{ReportWriter.Ms(post.P50)} / {ReportWriter.Ms(post.P99)}"));
    table.AddRow("2xx / 4xx / 429 / 503 / 5xx / conn", $"{s.Status2xx:N0} / {s.Status4xx:N0} / {s.Status429:N0} / {s.Status503:N0} / {s.Status5xxOther:N0} / {s.NetworkErrors:N0}");
    table.AddRow("freshness p50 / p99 (n)", Markup.Escape($"{ReportWriter.Ms(fresh.P50)} / {ReportWriter.Ms(fresh.P99)} ({fresh.Count:N0}, {probe?.Open ?? 0} open)"));
    table.AddRow("reads p50 / p99 (200 / 404)", Markup.Escape($"{ReportWriter.Ms(reads.P50)} / {ReportWriter.Ms(reads.P99)} ({r.Status200:N0} / {r.Status404:N0})"));
    table.AddRow("load average", Markup.Escape(Machine.LoadAverage()));
    return table;
}

static void PrintPhase(PhaseResult p)
{
    var table = new Table().Title(Markup.Escape(p.Name)).AddColumns("", "value");
    table.AddRow("accepted events/s", N(p.Ingest.AcceptedPerSecond));
    table.AddRow("freshness p50 / p95 / p99", Markup.Escape(p.Freshness is { } f ? $"{ReportWriter.Ms(f.Freshness.P50)} / {ReportWriter.Ms(f.Freshness.P95)} / {ReportWriter.Ms(f.Freshness.P99)}" : "—"));
    table.AddRow("profile read p50 / p99", Markup.Escape(p.Reads is { } r ? $"{ReportWriter.Ms(r.Found.P50)} / {ReportWriter.Ms(r.Found.P99)}" : "—"));
    table.AddRow("loss (missing / extra)", p.Loss is { } l ? $"{l.Missing:N0} / {l.Extra:N0}{(l.Complete ? "" : " (drain incomplete)")}" : "—");
    table.AddRow("4xx / 429 / 503 / 5xx", $"{p.Ingest.Status4xx:N0} / {p.Ingest.Status429:N0} / {p.Ingest.Status503:N0} / {p.Ingest.Status5xxOther:N0}");
    AnsiConsole.Write(table);
}

static List<TargetCheck> Targets(IReadOnlyList<PhaseResult> phases, LoadOptions options)
{
    var checks = new List<TargetCheck>();
    var max = phases.FirstOrDefault(p => p.TargetRate == 0);
    if (max is { Loss: { } loss })
    {
        var rate = Math.Min(max.Ingest.AcceptedPerSecond, max.CountedPerSecond ?? 0);
        var lossless = loss.Complete && loss.Missing == 0 && loss.Extra == 0;
        checks.Add(new TargetCheck(
            "≥ 2,000 events/s accepted and counted, batches of 20, zero loss",
            $"{N(max.Ingest.AcceptedPerSecond)} events/s accepted, {(max.CountedPerSecond is { } c ? N(c) + " events/s accepted and counted" : "not all counted within the drain limit")}, batches of {max.BatchSize}, missing {N(loss.Missing)}, extra {N(loss.Extra)}",
            rate >= 2000 && lossless && max.BatchSize == 20,
            (rate >= 2000 ? "rate met" : $"{N(2000 - rate)} events/s short ({rate / 2000:P0} of target)") +
            (lossless ? ", no loss" : ", **events lost or double counted**") +
            (max.BatchSize == 20 ? "" : ", batch size differs from the target's 20")));
    }
    else
    {
        checks.Add(new TargetCheck("≥ 2,000 events/s accepted and counted", "not measured (no 'max' phase)", null, ""));
    }

    var fresh = phases.FirstOrDefault(p => p.TargetRate == 500) ?? phases.FirstOrDefault(p => p.TargetRate > 0);
    if (fresh?.Freshness is { Freshness.Count: > 0 } f)
    {
        var p99 = f.Freshness.P99;
        checks.Add(new TargetCheck(
            "freshness p99 ≤ 500 ms at 500 events/s",
            $"p99 {ReportWriter.Ms(p99)} at {LoadOptions.RateName(fresh.TargetRate)} ({N(f.Freshness.Count)} samples)",
            fresh.TargetRate == 500 ? p99 <= 500 && f.Unresolved == 0 : null,
            (p99 <= 500 ? $"{ReportWriter.Ms(500 - p99)} to spare" : $"{ReportWriter.Ms(p99 - 500)} over ({p99 / 500:0.0}× the target)") +
            (f.Unresolved > 0 ? $"; {f.Unresolved} batches never became visible" : "")));
    }
    else
    {
        checks.Add(new TargetCheck("freshness p99 ≤ 500 ms at 500 events/s", "not measured", null, ""));
    }

    if (fresh?.Reads is { Found.Count: > 0 } r)
    {
        var p99 = r.Found.P99;
        checks.Add(new TargetCheck(
            "profile read p99 ≤ 10 ms at 500 reads/s through the gateway",
            $"p99 {ReportWriter.Ms(p99)} at {N(r.AchievedPerSecond)} reads/s (during {fresh.Name})",
            options.ReadsPerSecond == 500 ? p99 <= 10 : null,
            p99 <= 10 ? $"{ReportWriter.Ms(10 - p99)} to spare" : $"{ReportWriter.Ms(p99 - 10)} over ({p99 / 10:0.0}× the target)"));
    }
    else
    {
        checks.Add(new TargetCheck("profile read p99 ≤ 10 ms at 500 reads/s", "not measured", null, ""));
    }
    return checks;
}

static List<string> Notes() =>
[
    "Accepted events/s: events in batches answered 200, divided by the time from the phase's start to the last 200. A batch answered 429/503/5xx or not answered is retried with the same message ids (up to 6 attempts, Retry-After honoured); any other 4xx is final. Accepted and counted events/s: the phase's accepted events over the time from its start until the drain found every one of them in its profile (the throughput target's measure).",
    "Freshness: for the sampled users, each accepted batch holding their events sets an expectation 'totalEvents ≥ n' stamped with the time of its 200; that user's profile is read through the gateway every poll interval while an expectation is open, and the first read that meets it closes it at the time its answer arrived. The figure includes that read and up to one poll interval (resolution ≈ poll interval + one read).",
    "Profile reads: GET /v1/profiles/{id} through the gateway with the read key, started at a fixed rate (open loop, at most 64 in flight), for users with at least one accepted event; percentiles over the 200 answers. They run at the same time as the writes and the freshness polls.",
    "Loss: after each phase every user's profile is read until totalEvents reaches what was accepted for that user (or the drain limit). Missing = accepted but not counted; extra = counted more than accepted (a double count). Per event name: page → pageViews, track → eventCounts[name], identify → the rest of totalEvents.",
    "Consent: each phase's users are granted analytics and personalization consent (PUT /v1/consent/{id}) before their first event, so no event is dropped by consent.",
    "Baselines: same HttpClient, same batch bodies, same rate and concurrency against a bare in-process Kestrel endpoint; StackExchange.Redis GET at the read rate and SET → GET round trips for the store's own floor. The bare-Kestrel server shares the generator's process, so its figures include the generator's own cost.",
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
