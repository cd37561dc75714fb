using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;

namespace Personalization.LoadGenerator;

/// <summary>
/// End-to-end freshness: accepted (the 200 of the batch) → visible (a profile read shows it). For a sample of users,
/// each accepted batch that holds their events leaves an expectation "totalEvents ≥ n" stamped with the time of the
/// 200; a poller per sampled user reads that user's profile every <c>pollInterval</c> while an expectation is open, and
/// the first read that meets it closes it with the time that read's answer arrived. The figure therefore includes one
/// profile read and up to one poll interval of waiting: the resolution is reported beside it.
/// </summary>
public sealed class FreshnessProbe
{
    private readonly HttpClient _http;
    private readonly Uri _profiles;
    private readonly AuthenticationHeaderValue _readKey;
    private readonly TimeSpan _pollInterval;
    private readonly List<Waiter> _waiters = [];

    public FreshnessProbe(HttpClient http, Uri gateway, string readKey, TimeSpan pollInterval, IEnumerable<SimUser> sample)
    {
        _http = http;
        _profiles = new Uri(gateway, "/v1/profiles/");
        _readKey = new AuthenticationHeaderValue("Bearer", readKey);
        _pollInterval = pollInterval;
        foreach (var user in sample)
        {
            var waiter = new Waiter(this, user);
            user.Probe = waiter;
            _waiters.Add(waiter);
        }
    }

    public LatencyRecorder Freshness { get; } = new();

    /// <summary>When set, freshness is also filed by the time of the batch's 200 (the soak's windows).</summary>
    public WindowedLatency? FreshnessByAcceptance { get; set; }
    public LatencyRecorder PollLatency { get; } = new();
    public long Polls;
    public long PollErrors;

    public int SampledUsers => _waiters.Count;

    /// <summary>Expectations still open (not yet visible).</summary>
    public int Open => _waiters.Sum(w => w.OpenCount);

    /// <summary>Polls until <paramref name="stopSending"/> is cancelled and then every expectation is met, or <paramref name="drainUntil"/> fires.</summary>
    public Task RunAsync(CancellationToken stopSending, CancellationToken drainUntil) =>
        Task.WhenAll(_waiters.Select(w => w.PollAsync(stopSending, drainUntil)));

    /// <summary>The expectations of one sampled user.</summary>
    public sealed class Waiter(FreshnessProbe owner, SimUser user)
    {
        private readonly Lock _gate = new();
        private readonly List<(long Expected, long AcceptedAt)> _open = [];
        private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        private long _highest;

        public int OpenCount
        {
            get { lock (_gate) return _open.Count; }
        }

        public void Expect(long totalEvents, long acceptedAt)
        {
            lock (_gate)
            {
                // A user twice in one batch, or two batches answered together, give the same or a lower count: one expectation is enough.
                if (totalEvents <= _highest) return;
                _highest = totalEvents;
                _open.Add((totalEvents, acceptedAt));
            }
            _wake.Writer.TryWrite(true);
        }

        public async Task PollAsync(CancellationToken stopSending, CancellationToken drainUntil)
        {
            var uri = new Uri(owner._profiles, Uri.EscapeDataString(user.UserId));
            try
            {
                while (true)
                {
                    if (OpenCount == 0)
                    {
                        if (stopSending.IsCancellationRequested) return;
                        using var either = CancellationTokenSource.CreateLinkedTokenSource(stopSending, drainUntil);
                        try
                        {
                            await _wake.Reader.ReadAsync(either.Token);
                        }
                        catch (OperationCanceledException) when (stopSending.IsCancellationRequested && !drainUntil.IsCancellationRequested)
                        {
                            continue;
                        }
                        continue;
                    }

                    var total = await ReadTotalAsync(uri, drainUntil);
                    var seenAt = Stopwatch.GetTimestamp();
                    if (total is { } visible)
                    {
                        lock (_gate)
                        {
                            for (var i = _open.Count - 1; i >= 0; i--)
                            {
                                if (_open[i].Expected > visible) continue;
                                var freshness = Stopwatch.GetElapsedTime(_open[i].AcceptedAt, seenAt).TotalMilliseconds;
                                owner.Freshness.Record(freshness);
                                owner.FreshnessByAcceptance?.Record(_open[i].AcceptedAt, freshness);
                                _open.RemoveAt(i);
                            }
                        }
                    }
                    if (OpenCount > 0) await Task.Delay(owner._pollInterval, drainUntil);
                }
            }
            catch (OperationCanceledException) when (drainUntil.IsCancellationRequested)
            {
            }
        }

        private async Task<long?> ReadTotalAsync(Uri uri, CancellationToken ct)
        {
            var start = Stopwatch.GetTimestamp();
            Interlocked.Increment(ref owner.Polls);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                request.Headers.Authorization = owner._readKey;
                using var response = await owner._http.SendAsync(request, ct);
                var body = await response.Content.ReadAsByteArrayAsync(ct);
                owner.PollLatency.RecordSince(start);
                if (response.StatusCode == System.Net.HttpStatusCode.NotFound) return 0;
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref owner.PollErrors);
                    return null;
                }
                using var json = JsonDocument.Parse(body);
                return json.RootElement.GetProperty("totalEvents").GetInt64();
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref owner.PollErrors);
                return null;
            }
        }
    }
}
