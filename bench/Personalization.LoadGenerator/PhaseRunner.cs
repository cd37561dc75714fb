using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using Spectre.Console;

namespace Personalization.LoadGenerator;

/// <summary>The HTTP side of the run: one client per kind of traffic, so that none starves another of connections.</summary>
public sealed record GatewayClients(
    HttpClient Ingest, HttpClient Reads, HttpClient Probe, Uri Gateway, AuthenticationHeaderValue WriteKey, AuthenticationHeaderValue ReadKey)
{
    public Uri Batch => new(Gateway, "/v1/batch");
    public Uri Profiles => new(Gateway, "/v1/profiles/");
}

/// <summary>
/// One measured phase (or the soak): consent for the phase's own users, the clickstream at the target rate with profile
/// reads and freshness polls beside it, the system watched every window, then the drain and the loss check. The CPU
/// window and the accepted-and-counted rate both run from the first send to the end of the drain's last sweep.
/// </summary>
public sealed class PhaseRunner(LoadOptions options, GatewayClients http, SystemMonitor monitor)
{
    public async Task<(PhaseResult Result, byte[]? SampleProfile)> RunAsync(string name, int rate, TimeSpan duration, Clickstream stream, bool soak, CancellationToken ct)
    {
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(name)}[/], {stream.Users.Count:N0} users, batches of {options.BatchSize}, {duration.TotalSeconds:0} s");
        var consentFailures = await GrantConsentAsync(stream.Users, ct);
        if (consentFailures > 0) AnsiConsole.MarkupLine($"[red]{consentFailures} consent PUTs failed[/]: those users' events may be dropped by consent");

        var sample = stream.Users.Take(options.FreshnessSample).ToList();
        var probe = options.FreshnessSample > 0 ? new FreshnessProbe(http.Probe, options.Gateway, options.ReadKey, options.PollInterval, sample) : null;
        var stats = new IngestStats();
        var sender = new BatchSender(http.Ingest, http.Batch, http.WriteKey, stream, options.BatchSize, probe, stats);
        var readStats = new ReadStats();

        using var stopSending = new CancellationTokenSource();
        using var drainUntil = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var resourcesAtStart = monitor.Snapshot();
        var phaseStart = Stopwatch.GetTimestamp();
        var freshnessWindows = new WindowedLatency(phaseStart, monitor.Window);
        var readWindows = new WindowedLatency(phaseStart, monitor.Window);
        if (probe is not null) probe.FreshnessByAcceptance = freshnessWindows;
        readStats.FoundByStart = readWindows;

        var monitorTask = monitor.RunAsync(phaseStart, () => Interlocked.Read(ref stats.EventsAccepted), stopSending.Token);
        var probeTask = probe?.RunAsync(stopSending.Token, drainUntil.Token) ?? Task.CompletedTask;
        var sendTask = sender.RunAsync(rate, duration, options.Concurrency, ct);
        var readTask = options.ReadsPerSecond > 0
            ? ProfileReader.RunAsync(http.Reads, http.Profiles, http.ReadKey, stream.Users, options.ReadsPerSecond, duration, readStats, ct)
            : Task.FromResult(new ScheduleOutcome(0, 0, 0, TimeSpan.FromSeconds(1)));

        await ConsoleProgress.ShowAsync(Task.WhenAll(sendTask, readTask), () => ConsoleProgress.Phase(name, phaseStart, stats, readStats, probe));
        var schedule = await sendTask;
        var readSchedule = await readTask;
        stopSending.Cancel();
        var samples = await monitorTask;

        // Drain: the sampled users' expectations first (freshness), then every user's counts (loss).
        drainUntil.CancelAfter(options.Drain);
        await ConsoleProgress.ShowAsync(probeTask, () => new Markup($"waiting for the sampled profiles: {probe?.Open ?? 0} batches not yet visible"));
        // The loss check has a drain budget of its own: under a backlog the sampled users' wait may have used the first.
        var status = "drain: reading every profile";
        var lossTask = LossCheck.RunAsync(http.Reads, http.Profiles, http.ReadKey, stream.Users, options.Drain, s => status = s, ct);
        await ConsoleProgress.ShowAsync(lossTask, () => new Markup(Markup.Escape(status)));
        var (loss, sampleProfile) = await lossTask;
        var drained = Stopwatch.GetTimestamp();
        var resourcesAtEnd = monitor.Snapshot();

        // Accepted and counted: the accepted events that the drain found in their profiles, over the time from the first
        // send until the drain's last sweep found them (phase + drain). Extra counts are not counted twice.
        var counted = loss.Accepted - loss.Missing;
        var countedSeconds = Stopwatch.GetElapsedTime(phaseStart, drained).TotalSeconds;
        var windows = Windows(samples, resourcesAtStart, freshnessWindows, readWindows, phaseStart);
        var result = new PhaseResult(
            name, soak, rate, options.BatchSize, stream.Users.Count, options.Concurrency, duration.TotalSeconds, consentFailures,
            IngestSummary.From(stats, schedule, phaseStart),
            probe is null ? null : new FreshnessSummary(probe.SampledUsers, probe.Freshness.Summarize(), probe.Open, probe.Polls, probe.PollErrors,
                probe.PollLatency.Summarize(), options.PollInterval.TotalMilliseconds),
            options.ReadsPerSecond > 0 ? ReadSummary.From(options.ReadsPerSecond, readStats, readSchedule) : null,
            loss, counted, countedSeconds, counted / countedSeconds,
            resourcesAtStart is not null && resourcesAtEnd is not null ? CpuUsage.Between(resourcesAtStart, resourcesAtEnd, counted) : null,
            samples.Select(s => s.Resources).OfType<ResourceSnapshot>().MaxBy(r => r.Processes.Sum(p => p.RssKib))?.Memory("peak", phaseStart),
            DepthMax(samples), windows, Machine.LoadAverage());
        ConsoleProgress.PrintPhase(result);
        return (result, sampleProfile);
    }

    private static List<WindowResult> Windows(
        IReadOnlyList<MonitorSample> samples, ResourceSnapshot? atStart, WindowedLatency freshness, WindowedLatency reads, long phaseStart)
    {
        var windows = new List<WindowResult>();
        var (previousSeconds, previousEvents, previous) = (0.0, 0L, atStart);
        for (var i = 0; i < samples.Count; i++)
        {
            var s = samples[i];
            var seconds = s.Seconds - previousSeconds;
            double? cpu = previous is not null && s.Resources is not null
                ? CpuUsage.Between(previous, s.Resources, s.EventsAccepted - previousEvents).CpuSeconds / seconds * 100
                : null;
            var last = i == samples.Count - 1;
            windows.Add(new WindowResult(
                Math.Round(previousSeconds, 1), Math.Round(s.Seconds, 1), s.EventsAccepted - previousEvents, (s.EventsAccepted - previousEvents) / seconds,
                freshness.Summarize(i, last), reads.Summarize(i, last), cpu, s.Resources?.Memory($"{s.Seconds:0} s", phaseStart), s.Depths));
            (previousSeconds, previousEvents, previous) = (s.Seconds, s.EventsAccepted, s.Resources ?? previous);
        }
        return windows;
    }

    private static Dictionary<string, long>? DepthMax(IReadOnlyList<MonitorSample> samples)
    {
        var seen = samples.Where(s => s.Depths is not null).ToList();
        if (seen.Count == 0) return null;
        var max = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (queue, depth) in seen.SelectMany(s => s.Depths!))
        {
            if (depth is { } d) max[queue] = Math.Max(max.GetValueOrDefault(queue), d);
        }
        return max;
    }

    private async Task<int> GrantConsentAsync(IReadOnlyList<SimUser> users, CancellationToken ct)
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
                        request.Headers.Authorization = http.WriteKey;
                        using var response = await http.Ingest.SendAsync(request, token);
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
}
