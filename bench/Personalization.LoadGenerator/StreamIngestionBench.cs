using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Personalization.LoadGenerator;

/// <summary>
/// <c>--websocket</c>: events over WebSocket ingestion (<c>/v1/stream</c> through the gateway) on
/// <c>--ws-connections</c> streams, frames of <c>--batch</c> messages. Phase 1 sends at <c>--serving-rate</c> events/s and
/// times each message from its frame's send to its ack (the broker holds it); phase 2 sends as fast as the acks allow
/// (each stream keeps at most <see cref="Window"/> messages unacknowledged). Beside it, the same run's REST figure:
/// <c>POST /v1/batch</c> of the same batches as fast as <c>--concurrency</c> requests in flight allow. Writes
/// bench/reports/websocket-&lt;date&gt;.md/.json.
/// </summary>
public sealed class StreamIngestionBench(LoadOptions options)
{
    /// <summary>Messages one stream has unacknowledged at most: below the collector's own window (1,000), so it never has to stop reading.</summary>
    public const int Window = 800;

    private readonly string _run = DateTimeOffset.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture);

    public async Task<int> RunAsync(string folder, CancellationToken ct)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var users = Enumerable.Range(0, options.Users).Select(i => $"ws-{_run}-{i}").ToArray();
        var streams = new List<IngestStream>();
        for (var i = 0; i < options.WebSocketConnections; i++) streams.Add(await IngestStream.OpenAsync(options, ct));
        AnsiConsole.MarkupLine($"{streams.Count} streams open; warm-up ...");
        var random = new Random(options.Seed);
        string[] Pick() { lock (random) return [.. Enumerable.Range(0, options.BatchSize).Select(_ => users[random.Next(users.Length)])]; }

        // Warm-up, not measured: every path compiled, every user's first event in.
        await Paced(streams, rate: 500, TimeSpan.FromSeconds(10), Pick, latency: null, ct);

        AnsiConsole.MarkupLine($"phase 1: {options.ServingRate} events/s for {options.Duration.TotalSeconds:0} s ...");
        var acks = new LatencyRecorder();
        var paced = await Paced(streams, options.ServingRate, options.Duration, Pick, acks, ct);

        AnsiConsole.MarkupLine($"phase 2: as fast as the acks allow for {options.Duration.TotalSeconds:0} s ...");
        var fastest = new LatencyRecorder();
        var clock = Stopwatch.StartNew();
        using (var stop = new CancellationTokenSource(options.Duration))
        {
            await Task.WhenAll(streams.Select(stream => stream.FloodAsync(Pick, fastest, stop.Token)));
        }
        await Task.WhenAll(streams.Select(s => s.DrainAsync(TimeSpan.FromSeconds(30))));
        var maxSeconds = clock.Elapsed.TotalSeconds;
        var maxAcked = fastest.Count;
        var errors = streams.Sum(s => s.Errors);
        foreach (var stream in streams) await stream.DisposeAsync();

        AnsiConsole.MarkupLine($"REST: POST /v1/batch as fast as {options.Concurrency} requests in flight allow, {options.Duration.TotalSeconds:0} s ...");
        using var http = BatchSender.CreateClient(options.Concurrency);
        http.DefaultRequestHeaders.Authorization = BatchSender.WriteKey(options.WriteKey);
        var rest = new LatencyRecorder();
        var accepted = 0L;
        clock.Restart();
        using (var stop = new CancellationTokenSource(options.Duration))
        {
            await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(async _ =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var started = Stopwatch.GetTimestamp();
                    using var response = await http.PostAsJsonAsync(new Uri(options.Gateway, "/v1/batch"), Batch(Pick()), CancellationToken.None);
                    if (!response.IsSuccessStatusCode) continue;
                    rest.RecordSince(started);
                    Interlocked.Add(ref accepted, options.BatchSize);
                }
            }));
        }
        var restSeconds = clock.Elapsed.TotalSeconds;

        var report = new WebSocketReport(startedAt, Machine.Commit(), Machine.Describe(), options.WebSocketConnections, options.BatchSize,
            options.ServingRate, options.Duration.TotalSeconds, paced.Started * options.BatchSize, acks.Summarize(),
            maxAcked / maxSeconds, fastest.Summarize(), errors, accepted / restSeconds, rest.Summarize(), options.Concurrency);
        var path = await report.WriteAsync(folder, options.Tag);
        AnsiConsole.MarkupLine($"report: {Markup.Escape(path)}");
        return 0;
    }

    private Task<ScheduleOutcome> Paced(List<IngestStream> streams, int rate, TimeSpan duration, Func<string[]> pick, LatencyRecorder? latency, CancellationToken ct)
    {
        var next = 0;
        return FixedRate.RunAsync((double)rate / options.BatchSize, duration, 256, async token =>
        {
            var stream = streams[Interlocked.Increment(ref next) % streams.Count];
            await stream.SendAsync(pick(), latency, token);
        }, ct).ContinueWith(async t =>
        {
            await Task.WhenAll(streams.Select(s => s.DrainAsync(TimeSpan.FromSeconds(30))));
            return await t;
        }, ct).Unwrap();
    }

    private static JsonObject Batch(string[] users) => new()
    {
        ["batch"] = new JsonArray([.. users.Select(user => (JsonNode)new JsonObject
        {
            ["type"] = "track", ["userId"] = user, ["event"] = "Product Viewed", ["messageId"] = Guid.NewGuid().ToString("N"),
        })]),
    };

    /// <summary>One WebSocket stream: frames sent under a lock, acks read by a loop that times each message.</summary>
    private sealed class IngestStream : IAsyncDisposable
    {
        private readonly ClientWebSocket _socket = new();
        private readonly SemaphoreSlim _sending = new(1, 1);
        private readonly SemaphoreSlim _room = new(0);
        private readonly ConcurrentDictionary<string, (long SentAt, LatencyRecorder? Latency)> _pending = new();
        private Task _reading = Task.CompletedTask;
        public int Errors;

        public static async Task<IngestStream> OpenAsync(LoadOptions options, CancellationToken ct)
        {
            var stream = new IngestStream();
            var address = new UriBuilder(options.Gateway) { Scheme = options.Gateway.Scheme == "https" ? "wss" : "ws", Path = "/v1/stream", Query = $"access_token={options.WriteKey}" };
            await stream._socket.ConnectAsync(address.Uri, ct);
            stream._reading = stream.ReadAsync();
            return stream;
        }

        public async Task SendAsync(string[] users, LatencyRecorder? latency, CancellationToken ct)
        {
            var frame = Batch(users);
            var now = Stopwatch.GetTimestamp();
            foreach (var message in frame["batch"]!.AsArray()) _pending[message!["messageId"]!.GetValue<string>()] = (now, latency);
            var bytes = Encoding.UTF8.GetBytes(frame.ToJsonString());
            await _sending.WaitAsync(ct);
            try
            {
                await _socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, ct);
            }
            finally
            {
                _sending.Release();
            }
        }

        /// <summary>Sends frames while fewer than <see cref="Window"/> messages wait for their acks, until <paramref name="ct"/>.</summary>
        public async Task FloodAsync(Func<string[]> pick, LatencyRecorder latency, CancellationToken ct)
        {
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    while (_pending.Count >= Window) await _room.WaitAsync(ct);
                    await SendAsync(pick(), latency, ct);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        public async Task DrainAsync(TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (!_pending.IsEmpty && DateTime.UtcNow < deadline) await Task.Delay(20);
        }

        private async Task ReadAsync()
        {
            var buffer = new byte[64 * 1024];
            try
            {
                while (_socket.State == WebSocketState.Open)
                {
                    var received = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                    if (received.MessageType == WebSocketMessageType.Close) return;
                    using var answer = JsonDocument.Parse(buffer.AsMemory(0, received.Count));
                    if (answer.RootElement.GetProperty("type").GetString() != "ack")
                    {
                        Interlocked.Increment(ref Errors);
                        continue;
                    }
                    if (_pending.TryRemove(answer.RootElement.GetProperty("messageId").GetString()!, out var sent))
                    {
                        sent.Latency?.Record(Stopwatch.GetElapsedTime(sent.SentAt).TotalMilliseconds);
                        _room.Release();
                    }
                }
            }
            catch (WebSocketException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_socket.State == WebSocketState.Open) await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
            await _reading;
            _socket.Dispose();
        }
    }
}

/// <summary>The WebSocket ingestion benchmark's figures, and its report.</summary>
public sealed record WebSocketReport(
    DateTimeOffset StartedAt, string Commit, IReadOnlyList<Fact> Machine, int Connections, int FrameMessages,
    int PacedRate, double Seconds, long PacedEvents, LatencySummary PacedAcks,
    double MaxEventsPerSecond, LatencySummary MaxAcks, int ErrorFrames,
    double RestEventsPerSecond, LatencySummary RestRequests, int RestConcurrency)
{
    public async Task<string> WriteAsync(string folder, string? tag)
    {
        Directory.CreateDirectory(folder);
        var name = $"websocket-{StartedAt:yyyy-MM-dd}{(tag is null ? "" : "-" + tag)}";
        await File.WriteAllTextAsync(Path.Combine(folder, name + ".json"), JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
        static string Ms(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);
        var md = new StringBuilder()
            .AppendLine($"# WebSocket ingestion benchmark, {StartedAt:yyyy-MM-dd HH:mm} UTC")
            .AppendLine()
            .AppendLine($"Commit `{Commit}`. Machine: {string.Join("; ", Machine.Select(f => $"{f.Name} {f.Value}"))}. The whole stack (`./run.sh`) and this generator on the same machine.")
            .AppendLine()
            .AppendLine($"{Connections} streams on `/v1/stream` through the gateway, frames of {FrameMessages} messages; each message timed from its frame's send to its ack (the broker holds it). The REST figure is the same run's `POST /v1/batch` of the same batches, {RestConcurrency} requests in flight.")
            .AppendLine()
            .AppendLine("| figure | WebSocket | REST `POST /v1/batch` (same run) |")
            .AppendLine("| --- | --- | --- |")
            .AppendLine($"| ack p50 / p99 / max at {PacedRate} events/s ({PacedEvents} events over {Seconds:0} s) | {Ms(PacedAcks.P50)} / {Ms(PacedAcks.P99)} / {Ms(PacedAcks.Max)} ms | — |")
            .AppendLine($"| events/s accepted, as fast as possible for {Seconds:0} s | {MaxEventsPerSecond:N0} | {RestEventsPerSecond:N0} |")
            .AppendLine($"| ack (WebSocket) / request (REST) p50 / p99 at that pace | {Ms(MaxAcks.P50)} / {Ms(MaxAcks.P99)} ms | {Ms(RestRequests.P50)} / {Ms(RestRequests.P99)} ms |")
            .AppendLine($"| error frames | {ErrorFrames} | — |");
        var path = Path.Combine(folder, name + ".md");
        await File.WriteAllTextAsync(path, md.ToString());
        return path;
    }
}
