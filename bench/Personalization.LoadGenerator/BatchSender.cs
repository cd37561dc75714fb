using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace Personalization.LoadGenerator;

/// <summary>What the sender saw during one measurement. Counters are updated with <see cref="Interlocked"/>.</summary>
public sealed class IngestStats
{
    public long Batches;
    public long EventsSent;
    public long EventsAccepted;
    public long EventsRejected;
    public long EventsGivenUp;
    public long Attempts;
    public long Retries;
    public long Status2xx;
    public long Status4xx;
    public long Status429;
    public long Status503;
    public long Status5xxOther;
    public long NetworkErrors;
    public long FirstAcceptTimestamp;
    public long LastAcceptTimestamp;
    public LatencyRecorder PostLatency { get; } = new();
    public ConcurrentQueue<string> SampleErrors { get; } = new();

    public void NoteError(string text)
    {
        if (SampleErrors.Count < 5) SampleErrors.Enqueue(text.Length > 400 ? text[..400] : text);
    }
}

/// <summary>
/// Sends generated batches to one <c>POST /v1/batch</c> endpoint as a Segment SDK would: 200 means accepted; 429, 5xx and
/// connection failures are retried with the same message ids (the collector de-duplicates) after Retry-After or a
/// backoff, at most <see cref="MaxAttempts"/> times; any other 4xx is final.
/// </summary>
public sealed class BatchSender(
    HttpClient http, Uri batchUri, AuthenticationHeaderValue? authorization, Clickstream stream, int batchSize,
    FreshnessProbe? probe, IngestStats stats)
{
    public const int MaxAttempts = 6;
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private readonly ConcurrentBag<ArrayBufferWriter<byte>> _buffers = [];

    public IngestStats Stats { get; } = stats;

    /// <summary>At a fixed rate of events/s, or with <paramref name="eventsPerSecond"/> 0 as fast as <paramref name="concurrency"/> senders go.</summary>
    public async Task<ScheduleOutcome> RunAsync(int eventsPerSecond, TimeSpan duration, int concurrency, CancellationToken ct)
    {
        if (eventsPerSecond > 0)
        {
            return await FixedRate.RunAsync((double)eventsPerSecond / batchSize, duration, concurrency, SendOneAsync, ct);
        }

        var clock = Stopwatch.StartNew();
        var started = 0L;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(duration);
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref started);
                // The batch in hand finishes (with its retries) even when the duration is up.
                await SendOneAsync(ct);
            }
        }, CancellationToken.None)).ToArray();
        await Task.WhenAll(workers);
        return new ScheduleOutcome(started, 0, 0, clock.Elapsed);
    }

    /// <summary>Not measured: connections, JIT and caches along the whole path (its users are not checked).</summary>
    public Task WarmUpAsync(int batches, CancellationToken ct) =>
        Parallel.ForEachAsync(Enumerable.Range(0, batches), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct },
            async (_, token) => await SendOneAsync(token));

    public async Task SendOneAsync(CancellationToken ct)
    {
        if (!_buffers.TryTake(out var body)) body = new ArrayBufferWriter<byte>(16 * 1024);
        try
        {
            var events = stream.NextBatch(batchSize, body);
            Interlocked.Increment(ref Stats.Batches);
            Interlocked.Add(ref Stats.EventsSent, events.Length);
            switch (await PostWithRetriesAsync(body.WrittenMemory, ct))
            {
                case Outcome.Accepted:
                    var now = Stopwatch.GetTimestamp();
                    Interlocked.CompareExchange(ref Stats.FirstAcceptTimestamp, now, 0);
                    InterlockedMax(ref Stats.LastAcceptTimestamp, now);
                    Interlocked.Add(ref Stats.EventsAccepted, events.Length);
                    Account(events, now);
                    break;
                case Outcome.Rejected:
                    Interlocked.Add(ref Stats.EventsRejected, events.Length);
                    break;
                default:
                    Interlocked.Add(ref Stats.EventsGivenUp, events.Length);
                    break;
            }
        }
        finally
        {
            _buffers.Add(body);
        }
    }

    private void Account(GeneratedEvent[] events, long acceptedAt)
    {
        foreach (var e in events)
        {
            var user = e.User;
            lock (user.Gate)
            {
                user.Accept(e);
            }
        }
        // Freshness: once per sampled user in the batch, after all of its events are counted.
        if (probe is null) return;
        foreach (var e in events)
        {
            if (e.User.Probe is { } waiter)
            {
                long expected;
                lock (e.User.Gate) expected = e.User.AcceptedTotal;
                waiter.Expect(expected, acceptedAt);
            }
        }
    }

    private enum Outcome
    {
        Accepted,
        Rejected,
        GaveUp,
    }

    private async Task<Outcome> PostWithRetriesAsync(ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            if (attempt > 1) Interlocked.Increment(ref Stats.Retries);
            Interlocked.Increment(ref Stats.Attempts);
            TimeSpan? retryAfter = null;
            var start = Stopwatch.GetTimestamp();
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, batchUri) { Content = new ReadOnlyMemoryContent(body) };
                request.Content.Headers.ContentType = Json;
                request.Headers.Authorization = authorization;
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
                var status = (int)response.StatusCode;
                if (response.IsSuccessStatusCode)
                {
                    Stats.PostLatency.RecordSince(start);
                    Interlocked.Increment(ref Stats.Status2xx);
                    return Outcome.Accepted;
                }

                var text = await response.Content.ReadAsStringAsync(ct);
                Stats.NoteError(string.Create(CultureInfo.InvariantCulture, $"{status}: {text}"));
                if (status == 429) Interlocked.Increment(ref Stats.Status429);
                else if (status == 503) Interlocked.Increment(ref Stats.Status503);
                else if (status >= 500) Interlocked.Increment(ref Stats.Status5xxOther);
                else
                {
                    Interlocked.Increment(ref Stats.Status4xx);
                    return Outcome.Rejected;
                }
                retryAfter = response.Headers.RetryAfter?.Delta;
            }
            catch (HttpRequestException failure)
            {
                Interlocked.Increment(ref Stats.NetworkErrors);
                Stats.NoteError("connection: " + failure.Message);
            }
            catch (TaskCanceledException timeout) when (!ct.IsCancellationRequested)
            {
                Interlocked.Increment(ref Stats.NetworkErrors);
                Stats.NoteError("timeout: " + timeout.Message);
            }

            if (attempt >= MaxAttempts) return Outcome.GaveUp;
            var backoff = retryAfter ?? TimeSpan.FromMilliseconds(100 * (1 << (attempt - 1)));
            await Task.Delay(backoff > TimeSpan.FromSeconds(5) ? TimeSpan.FromSeconds(5) : backoff, ct);
        }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current) return;
            current = seen;
        }
    }

    public static HttpClient CreateClient(int connections) =>
        new(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
        })
        { Timeout = TimeSpan.FromSeconds(30) };

    public static AuthenticationHeaderValue WriteKey(string key) =>
        new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(key + ":")));
}
