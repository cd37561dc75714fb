using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Personalization.LoadGenerator;

/// <summary>
/// <c>--serving</c>: what a site sees of the platform. Opens <c>--streams</c> live profile streams (server-sent events
/// through the gateway, each with its own user token), sends events for those users at <c>--serving-rate</c> and
/// times each event from its send to its change arriving on the user's stream (push latency); then times
/// <c>POST /v1/decide</c> at <c>--decide-rate</c> beside a direct Redis GET at the same rate (same-run baseline).
/// Writes bench/reports/serving-&lt;date&gt;.md/.json.
/// </summary>
public sealed class ServingBench(LoadOptions options)
{
    private const string Placement = "bench-banner";
    private readonly string _run = DateTimeOffset.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture);
    private readonly ConcurrentDictionary<string, ConcurrentQueue<(long Total, long SentAt)>> _pending = new();
    private readonly ConcurrentDictionary<string, long> _sent = new();
    private readonly LatencyRecorder _push = new();
    private readonly LatencyRecorder _hop = new();
    private volatile bool _measuring;
    private int _open, _ended;

    public async Task<int> RunAsync(string folder, CancellationToken ct)
    {
        var startedAt = DateTimeOffset.UtcNow;
        using var admin = Client(options.Streams + 64, new AuthenticationHeaderValue("Bearer", options.AdminKey));
        using var streams = BatchSender.CreateClient(options.Streams + 16);
        streams.Timeout = Timeout.InfiniteTimeSpan;
        using var ingest = Client(options.Concurrency, BatchSender.WriteKey(options.WriteKey));
        using var reader = Client(64, new AuthenticationHeaderValue("Bearer", options.ReadKey));

        await PutPlacementAsync(admin, ct);
        var users = Enumerable.Range(0, options.Streams).Select(i => $"serve-{_run}-{i}").ToArray();
        AnsiConsole.MarkupLine($"minting {users.Length} user tokens and opening their streams ...");
        var tokens = await Task.WhenAll(users.Select(user => MintAsync(admin, user, ct)));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var readers = users.Select((user, i) => ReadStreamAsync(streams, user, tokens[i], stop.Token)).ToList();
        await WaitAsync(() => Volatile.Read(ref _open) >= users.Length, TimeSpan.FromSeconds(60), ct);
        AnsiConsole.MarkupLine($"{_open} streams open");

        // Warm-up: one event per user, not measured, so every profile exists and every path is compiled.
        await SendAsync(ingest, users, users.Length / options.BatchSize + 1, rate: 500, measure: false, ct);
        await WaitAsync(() => _pending.Values.All(q => q.IsEmpty), TimeSpan.FromSeconds(60), ct);

        AnsiConsole.MarkupLine($"push: {options.ServingRate} events/s for {options.Duration.TotalSeconds:0} s to {users.Length} streamed users ...");
        var batches = (int)(options.ServingRate * options.Duration.TotalSeconds / options.BatchSize);
        _measuring = true;
        var outcome = await SendAsync(ingest, users, batches, options.ServingRate, measure: true, ct);
        await WaitAsync(() => _pending.Values.All(q => q.IsEmpty), TimeSpan.FromSeconds(30), ct);
        _measuring = false;
        var push = _push.Summarize();
        var missing = _pending.Values.Sum(q => q.Count);
        var openAtEnd = Volatile.Read(ref _open);
        await stop.CancelAsync();
        await Task.WhenAll(readers);

        AnsiConsole.MarkupLine($"decide: {options.DecideRate}/s for {options.Duration.TotalSeconds:0} s, then a direct Redis GET at the same rate ...");
        var decide = new LatencyRecorder();
        var random = new Random(options.Seed);
        var decideOutcome = await FixedRate.RunAsync(options.DecideRate, options.Duration, 64, async token =>
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await reader.PostAsJsonAsync(new Uri(options.Gateway, "/v1/decide"),
                new { userId = users[random.Next(users.Length)], placements = new[] { Placement } }, token);
            response.EnsureSuccessStatusCode();
            decide.RecordSince(started);
        }, ct);
        // With --profile-query-url, the same decisions straight to profile-query: what the gateway's hop adds.
        var direct = new LatencyRecorder();
        if (options.ProfileQueryUrl is { } profileQuery)
        {
            using var plain = BatchSender.CreateClient(64);
            await FixedRate.RunAsync(options.DecideRate, options.Duration, 64, async token =>
            {
                var started = Stopwatch.GetTimestamp();
                using var response = await plain.PostAsJsonAsync(new Uri(profileQuery, "/v1/decide"),
                    new { userId = users[random.Next(users.Length)], placements = new[] { Placement } }, token);
                response.EnsureSuccessStatusCode();
                direct.RecordSince(started);
            }, ct);
        }
        var redisGet = new LatencyRecorder();
        await using (var redis = await RedisBaseline.StartAsync(options.Redis, ct))
        {
            await redis.LoadAsync(new byte[2048]);
            await redis.ReadsAsync(options.DecideRate, options.Duration, redisGet, ct);
        }

        var report = new ServingReport(startedAt, Machine.Commit(), Machine.Describe(), users.Length, openAtEnd, Volatile.Read(ref _ended),
            options.ServingRate, options.Duration.TotalSeconds, outcome.Started * options.BatchSize, push, _hop.Summarize(), missing,
            options.DecideRate, decideOutcome.Started, decide.Summarize(), direct.Count > 0 ? direct.Summarize() : null, redisGet.Summarize());
        var path = await report.WriteAsync(folder, options.Tag);
        AnsiConsole.MarkupLine($"report: {Markup.Escape(path)}");
        return 0;
    }

    private HttpClient Client(int connections, AuthenticationHeaderValue auth)
    {
        var client = BatchSender.CreateClient(connections);
        client.DefaultRequestHeaders.Authorization = auth;
        return client;
    }

    private async Task PutPlacementAsync(HttpClient admin, CancellationToken ct)
    {
        using var response = await admin.PutAsJsonAsync(new Uri(options.Gateway, $"/v1/placements/{Placement}"), new
        {
            variants = new object[]
            {
                new { id = "win-back", when = new { flag = "churnRisk" }, content = new { title = "We missed you" } },
                new { id = "pro", when = new { trait = "plan", equals = "pro" }, content = new { title = "Pro tips" } },
            },
            fallback = new { id = "welcome", content = new { title = "Welcome" } },
        }, ct);
        response.EnsureSuccessStatusCode();
    }

    private async Task<string> MintAsync(HttpClient admin, string user, CancellationToken ct)
    {
        using var response = await admin.PostAsJsonAsync(new Uri(options.Gateway, "/v1/tokens"), new { userId = user, ttlSeconds = 3600 }, ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>(ct))!["token"]!.GetValue<string>();
    }

    /// <summary>Reads one user's stream; each <c>profile</c> message settles the events sent for the user that it counts.</summary>
    private async Task ReadStreamAsync(HttpClient http, string user, string token, CancellationToken ct)
    {
        var queue = _pending.GetOrAdd(user, _ => new ConcurrentQueue<(long, long)>());
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(options.Gateway, $"/v1/profiles/{user}/stream?fields=totalEvents,updatedAt&placements={Placement}"));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            response.EnsureSuccessStatusCode();
            Interlocked.Increment(ref _open);
            using var lines = new StreamReader(await response.Content.ReadAsStreamAsync(ct), Encoding.UTF8);
            string? type = null;
            while (await lines.ReadLineAsync(ct) is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) type = line[7..];
                else if (type == "profile" && line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    using var data = JsonDocument.Parse(line[6..]);
                    var total = data.RootElement.GetProperty("totalEvents").GetInt64();
                    var now = Stopwatch.GetTimestamp();
                    // The last hop alone: from the profile's write (its updatedAt, same machine's clock) to its arrival here.
                    if (_measuring) _hop.Record((DateTimeOffset.UtcNow - data.RootElement.GetProperty("updatedAt").GetDateTimeOffset()).TotalMilliseconds);
                    while (queue.TryPeek(out var entry) && entry.Total <= total && queue.TryDequeue(out entry))
                    {
                        if (entry.SentAt != 0) _push.Record(Stopwatch.GetElapsedTime(entry.SentAt, now).TotalMilliseconds);
                    }
                }
                else if (line.Length == 0) type = null;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or HttpRequestException or IOException)
        {
        }
        finally
        {
            Interlocked.Decrement(ref _open);
            if (!ct.IsCancellationRequested) Interlocked.Increment(ref _ended);
        }
    }

    /// <summary>Sends <paramref name="batches"/> batches of events for random streamed users at <paramref name="rate"/> events/s.</summary>
    private async Task<ScheduleOutcome> SendAsync(HttpClient ingest, string[] users, int batches, int rate, bool measure, CancellationToken ct)
    {
        var random = new Random(options.Seed);
        var sentBatches = 0;
        var duration = TimeSpan.FromSeconds((double)batches * options.BatchSize / rate);
        return await FixedRate.RunAsync((double)rate / options.BatchSize, duration, options.Concurrency, async token =>
        {
            if (Interlocked.Increment(ref sentBatches) > batches) return;
            var chosen = new List<string>(options.BatchSize);
            lock (random)
            {
                for (var i = 0; i < options.BatchSize; i++) chosen.Add(users[random.Next(users.Length)]);
            }
            var started = Stopwatch.GetTimestamp();
            var batch = new JsonArray();
            foreach (var user in chosen)
            {
                var total = _sent.AddOrUpdate(user, 1, (_, n) => n + 1);
                _pending[user].Enqueue((total, measure ? started : 0));
                batch.Add(new JsonObject { ["type"] = "track", ["userId"] = user, ["event"] = "Product Viewed", ["messageId"] = Guid.NewGuid().ToString("N") });
            }
            using var response = await ingest.PostAsJsonAsync(new Uri(options.Gateway, "/v1/batch"), new JsonObject { ["batch"] = batch }, token);
            response.EnsureSuccessStatusCode();
        }, ct);
    }

    private static async Task WaitAsync(Func<bool> done, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!done() && DateTime.UtcNow < deadline) await Task.Delay(100, ct);
    }
}

/// <summary>The serving benchmark's figures, and its report.</summary>
public sealed record ServingReport(
    DateTimeOffset StartedAt, string Commit, IReadOnlyList<Fact> Machine, int Streams, int StreamsOpenAtEnd, int StreamsEnded,
    int EventRate, double Seconds, long EventsSent, LatencySummary Push, LatencySummary LastHop, long EventsNeverPushed,
    int DecideRate, long Decisions, LatencySummary Decide, LatencySummary? DecideDirect, LatencySummary RedisGet)
{
    public async Task<string> WriteAsync(string folder, string? tag)
    {
        Directory.CreateDirectory(folder);
        var name = $"serving-{StartedAt:yyyy-MM-dd}{(tag is null ? "" : "-" + tag)}";
        await File.WriteAllTextAsync(Path.Combine(folder, name + ".json"), JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
        static string Ms(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);
        var md = new StringBuilder()
            .AppendLine($"# Serving benchmark, {StartedAt:yyyy-MM-dd HH:mm} UTC")
            .AppendLine()
            .AppendLine($"Commit `{Commit}`. Machine: {string.Join("; ", Machine.Select(f => $"{f.Name} {f.Value}"))}. The whole stack (`./run.sh`) and this generator on the same machine.")
            .AppendLine()
            .AppendLine("## Push: event sent → its change received on the user's live stream")
            .AppendLine()
            .AppendLine($"{Streams} server-sent event streams through the gateway (a user token each); {EventRate} events/s for {Seconds:0} s ({EventsSent} events) for those users.")
            .AppendLine()
            .AppendLine("| figure | value |")
            .AppendLine("| --- | --- |")
            .AppendLine($"| push latency p50 / p95 / p99 / max | {Ms(Push.P50)} / {Ms(Push.P95)} / {Ms(Push.P99)} / {Ms(Push.Max)} ms |")
            .AppendLine($"| of which the last hop (profile written → on the stream) p50 / p99 | {Ms(LastHop.P50)} / {Ms(LastHop.P99)} ms |")
            .AppendLine($"| events timed | {Push.Count} |")
            .AppendLine($"| events never pushed (30 s after the last was sent) | {EventsNeverPushed} |")
            .AppendLine($"| streams open at the end / ended by the server | {StreamsOpenAtEnd} / {StreamsEnded} |")
            .AppendLine()
            .AppendLine("## Decide, beside a direct Redis GET at the same rate (same run)")
            .AppendLine()
            .AppendLine("| figure | decide through the gateway | Redis GET (baseline) | ratio |")
            .AppendLine("| --- | --- | --- | --- |")
            .AppendLine($"| p50 | {Ms(Decide.P50)} ms | {Ms(RedisGet.P50)} ms | {Decide.P50 / RedisGet.P50:0.0}× |")
            .AppendLine($"| p99 | {Ms(Decide.P99)} ms | {Ms(RedisGet.P99)} ms | {Decide.P99 / RedisGet.P99:0.0}× |")
            .AppendLine($"| requests | {Decisions} at {DecideRate}/s | {RedisGet.Count} | |");
        if (DecideDirect is { } direct)
        {
            md.AppendLine()
                .AppendLine($"Decide straight to profile-query (no gateway), same rate: p50 {Ms(direct.P50)} ms, p99 {Ms(direct.P99)} ms ({direct.Count} requests).");
        }
        var path = Path.Combine(folder, name + ".md");
        await File.WriteAllTextAsync(path, md.ToString());
        return path;
    }
}
