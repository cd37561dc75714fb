using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace Personalization.EndToEndTests;

/// <summary>
/// The fault suite: while a client streams events through the gateway, each service and each sidecar is killed with
/// SIGKILL in turn (the AppHost's supervisor starts it again, as Kubernetes restarts a pod), and Redis, PostgreSQL and
/// RabbitMQ are restarted in turn. The client behaves as a Segment SDK does: it retries a batch, with the same message
/// ids, until it is answered 2xx. After each fault every accepted event is counted exactly once and the system recovered
/// by itself. Each fault adds a row to <c>.test-results/fault-report.md</c>.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class FaultSuiteTests(PlatformFixture platform, FaultReport report) : IClassFixture<FaultReport>
{
    internal const int Batches = 50;
    internal const int EventsPerBatch = 5;
    internal const int FaultAfterBatch = 10;
    private const string EventName = "Fault Test";

    /// <summary>
    /// Resources without which no request can be accepted: while they are down, requests are refused. (Not Redis: the
    /// sidecar's Redis client holds commands while it reconnects, so during a short restart requests wait and succeed.)
    /// </summary>
    private static readonly HashSet<string> IngestionPath = ["gateway", "collector", "collector-dapr", "rabbitmq"];

    public static TheoryData<string, string> Faults => new()
    {
        { "kill", "gateway" },
        { "kill", "collector" },
        { "kill", "consent" },
        { "kill", "enrichment" },
        { "kill", "aggregation" },
        { "kill", "profile-query" },
        { "kill", "collector-dapr" },
        { "kill", "consent-dapr" },
        { "kill", "enrichment-dapr" },
        { "kill", "aggregation-dapr" },
        { "kill", "profile-query-dapr" },
        { "restart", "redis" },
        { "restart", "postgres" },
        { "restart", "rabbitmq" },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task EveryEventAcceptedWhileAProcessFailsIsCountedExactlyOnceAndTheSystemRecoversByItself(string fault, string resource)
    {
        using var http = new HttpClient { BaseAddress = platform.App.GetEndpoint("gateway", "http"), Timeout = TimeSpan.FromSeconds(30) };
        var user = $"fault-{resource}-{Guid.NewGuid():N}";
        var statuses = new Dictionary<string, int>();
        var faultInjected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reachedFaultPoint = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var sending = Task.Run(async () =>
        {
            var accepted = 0;
            for (var b = 0; b < Batches; b++)
            {
                if (b == FaultAfterBatch)
                {
                    reachedFaultPoint.SetResult();
                    await faultInjected.Task;
                }
                accepted += await SendUntilAcceptedAsync(http, user, b, statuses);
                await Task.Delay(100);
            }
            return accepted;
        });

        await reachedFaultPoint.Task.WaitAsync(TimeSpan.FromMinutes(2));
        var clock = Stopwatch.StartNew();
        TimeSpan backAfter;
        try
        {
            // The client goes on sending as soon as the fault is in: during the outage, not after it.
            backAfter = fault == "kill"
                ? await KillAndWaitForRestartAsync(resource, clock, faultInjected)
                : await RestartAsync(resource, clock, faultInjected);
        }
        finally
        {
            faultInjected.TrySetResult();
        }
        var acceptedEvents = await sending.WaitAsync(TimeSpan.FromMinutes(5));

        var counted = await WaitForCountAsync(http, user, acceptedEvents, TimeSpan.FromMinutes(2));
        var allCountedAfter = clock.Elapsed;
        await Task.Delay(TimeSpan.FromSeconds(3));   // a late redelivery would show up as a double count now
        counted = await ReadCountAsync(http, user) ?? counted;

        report.Add(new FaultRow($"{fault} {resource}", Batches * EventsPerBatch, acceptedEvents, counted, backAfter, allCountedAfter,
            string.Join(", ", statuses.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key} ×{s.Value}"))));

        if (IngestionPath.Contains(resource))
        {
            // The client sent during the outage and was refused (and retried), rather than waiting for recovery.
            Assert.True(statuses.Keys.Any(s => s != "200"), $"no request was refused while {resource} was down: {string.Join(", ", statuses.Keys)}");
        }
        Assert.Equal(Batches * EventsPerBatch, acceptedEvents);
        Assert.Equal(acceptedEvents, counted);
        // Answers while the platform could not queue are refusals a client retries, never a 2xx that loses events.
        Assert.All(statuses.Keys, status => Assert.Contains(status, new[] { "200", "429", "502", "503", "504", "connection refused", "timeout" }));
    }

    /// <summary>POSTs batch <paramref name="b"/> (fixed message ids) until it is answered 200, as a Segment SDK retries.</summary>
    private static async Task<int> SendUntilAcceptedAsync(HttpClient http, string user, int b, Dictionary<string, int> statuses)
    {
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (true)
        {
            using var request = GatewayClient.BatchRequest(Enumerable.Range(0, EventsPerBatch).Select(i => Events.Track(user, EventName, $"{user}-{b}-{i}")));
            string status;
            TimeSpan wait = TimeSpan.FromMilliseconds(500);
            try
            {
                using var response = await http.SendAsync(request);
                status = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Count(statuses, status);
                    return EventsPerBatch;
                }
                if (response.Headers.RetryAfter?.Delta is { } retryAfter)
                {
                    wait = TimeSpan.FromSeconds(Math.Min(retryAfter.TotalSeconds, 2));
                }
            }
            catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.ConnectionError)
            {
                status = "connection refused";
            }
            catch (TaskCanceledException)
            {
                status = "timeout";
            }
            Count(statuses, status);
            Assert.True(DateTime.UtcNow < deadline, $"batch {b} of {user} was still refused ({status}) after 3 minutes");
            await Task.Delay(wait);
        }
    }

    private static void Count(Dictionary<string, int> statuses, string status)
    {
        lock (statuses)
        {
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
        }
    }

    private async Task<TimeSpan> KillAndWaitForRestartAsync(string resource, Stopwatch clock, TaskCompletionSource injected)
    {
        var before = ResourceProcesses.Of(platform.App, resource);
        ResourceProcesses.Kill(before, resource);
        injected.TrySetResult();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await platform.App.ResourceNotifications.WaitForResourceAsync(resource,
            e => e.Snapshot.State?.Text == KnownResourceStates.Running && ResourceProcesses.PidOf(e.Snapshot) is { } pid && pid != before.Reported, timeout.Token);
        await platform.App.ResourceNotifications.WaitForResourceHealthyAsync(resource, timeout.Token);
        return clock.Elapsed;
    }

    /// <summary>A clean stop, two seconds down, a start: the way an operator restarts a server.</summary>
    private async Task<TimeSpan> RestartAsync(string resource, Stopwatch clock, TaskCompletionSource injected)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var stopped = await platform.App.ResourceCommands.ExecuteCommandAsync(resource, "resource-stop", timeout.Token);
        Assert.True(stopped.Success, $"stopping {resource}: {stopped.Message}");
        await platform.App.ResourceNotifications.WaitForResourceAsync(resource,
            e => e.Snapshot.State?.Text is "Exited" or "Finished" or "Stopped", timeout.Token);
        injected.TrySetResult();
        await Task.Delay(TimeSpan.FromSeconds(2), timeout.Token);
        var started = await platform.App.ResourceCommands.ExecuteCommandAsync(resource, "resource-start", timeout.Token);
        Assert.True(started.Success, $"starting {resource}: {started.Message}");
        await platform.App.ResourceNotifications.WaitForResourceHealthyAsync(resource, timeout.Token);
        return clock.Elapsed;
    }

    /// <summary>Polls until the profile counts <paramref name="expected"/> events; read failures (profile-query down) are retried.</summary>
    private static async Task<long> WaitForCountAsync(HttpClient http, string user, long expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        long? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await ReadCountAsync(http, user) ?? last;
            if (last >= expected)
            {
                return last.Value;
            }
            await Task.Delay(200);
        }
        return last ?? 0;
    }

    private static async Task<long?> ReadCountAsync(HttpClient http, string user)
    {
        using var request = GatewayClient.ProfileRequest(user);
        try
        {
            using var response = await http.SendAsync(request);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return 0;
            }
            return response.IsSuccessStatusCode
                ? JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject().Count(EventName)
                : null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }
}

public sealed record FaultRow(string Fault, int Sent, int Accepted, long Counted, TimeSpan BackAfter, TimeSpan AllCountedAfter, string Answers);

/// <summary>Collects one row per fault and writes the fault report when the suite is done.</summary>
public sealed class FaultReport : IDisposable
{
    private readonly List<FaultRow> _rows = [];

    public void Add(FaultRow row)
    {
        lock (_rows)
        {
            _rows.Add(row);
        }
    }

    public void Dispose()
    {
        if (_rows.Count == 0)
        {
            return;
        }
        var text = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"# Fault suite — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC")
            .AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"Written by `FaultSuiteTests` (tests/Personalization.EndToEndTests) during `./test.sh`. Per fault a client sends {FaultSuiteTests.Batches} batches of {FaultSuiteTests.EventsPerBatch} events through the gateway, one after another 100 ms apart, retrying each batch with the same message ids until it is answered 200, as a Segment SDK does; the fault is injected after batch {FaultSuiteTests.FaultAfterBatch}. A kill is SIGKILL of the resource's process (the first replica of a consuming service; every consumer runs {PlatformFixture.Replicas} replicas); a restart is the dashboard's stop, 2 s down, start. Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}.")
            .AppendLine()
            .AppendLine("'back after' is from the fault to the resource running and healthy again; 'all counted after' from the fault to the profile counting every accepted event. Missing = accepted − counted, double-counted = counted − accepted, read 3 s after the count was reached.")
            .AppendLine()
            .AppendLine("| fault | events sent | accepted | counted | missing | double-counted | back after | all counted after | answers seen by the client |")
            .AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var r in _rows)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Fault} | {r.Sent} | {r.Accepted} | {r.Counted} | {Math.Max(0, r.Accepted - r.Counted)} | {Math.Max(0, r.Counted - r.Accepted)} | {r.BackAfter.TotalSeconds:0.0} s | {r.AllCountedAfter.TotalSeconds:0.0} s | {r.Answers} |");
        }
        var folder = RepositoryFiles.PathOf(".test-results");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "fault-report.md"), text.ToString());
    }
}
