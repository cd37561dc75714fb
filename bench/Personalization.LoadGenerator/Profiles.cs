using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Personalization.LoadGenerator;

public sealed class ReadStats
{
    public long Reads;
    public long Status200;
    public long Status404;
    public long StatusOther;
    public long NetworkErrors;
    public LatencyRecorder Found { get; } = new();
    public LatencyRecorder All { get; } = new();

    /// <summary>When set, the 200 answers' latency is also filed by the time each read started (the soak's windows).</summary>
    public WindowedLatency? FoundByStart { get; set; }
}

/// <summary>Profile reads at a fixed rate, as a website reading profiles to personalize pages would.</summary>
public static class ProfileReader
{
    /// <summary>Reads users that already have an accepted event (any user while none has), uniformly at random.</summary>
    public static Task<ScheduleOutcome> RunAsync(
        HttpClient http, Uri profiles, AuthenticationHeaderValue? authorization, IReadOnlyList<SimUser> users,
        int perSecond, TimeSpan duration, ReadStats stats, CancellationToken ct) =>
        FixedRate.RunAsync(perSecond, duration, 64, async token =>
        {
            var user = Pick(users);
            var start = Stopwatch.GetTimestamp();
            Interlocked.Increment(ref stats.Reads);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(profiles, Uri.EscapeDataString(user.UserId)));
                request.Headers.Authorization = authorization;
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, token);
                var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                stats.All.Record(elapsed);
                switch (response.StatusCode)
                {
                    case HttpStatusCode.OK:
                        Interlocked.Increment(ref stats.Status200);
                        stats.Found.Record(elapsed);
                        stats.FoundByStart?.Record(start, elapsed);
                        break;
                    case HttpStatusCode.NotFound:
                        Interlocked.Increment(ref stats.Status404);
                        break;
                    default:
                        Interlocked.Increment(ref stats.StatusOther);
                        break;
                }
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref stats.NetworkErrors);
            }
        }, ct);

    private static SimUser Pick(IReadOnlyList<SimUser> users)
    {
        for (var i = 0; i < 8; i++)
        {
            var user = users[Random.Shared.Next(users.Count)];
            if (user.AcceptedTotal > 0) return user;
        }
        return users[Random.Shared.Next(users.Count)];
    }
}

public sealed record NameCount(string Name, long Accepted, long Counted)
{
    public long Missing => Math.Max(0, Accepted - Counted);
    public long Extra => Math.Max(0, Counted - Accepted);
}

public sealed record LossResult(
    int Users,
    long Accepted,
    long Counted,
    long Missing,
    long Extra,
    int UsersShort,
    int UsersOver,
    int UsersUnreadable,
    IReadOnlyList<NameCount> ByName,
    long SessionsExpected,
    long SessionsCounted,
    int TraitMismatches,
    double DrainSeconds,
    double LastSweepSeconds,
    bool Complete,
    int ProfileBytesMedian);

/// <summary>
/// After a phase: reads every user's profile until its <c>totalEvents</c> reaches what was accepted for it (or the drain
/// time is up), then compares per user and per event name: page views, each track event name, identify (the rest of
/// <c>totalEvents</c>), sessions and the latest <c>plan</c> trait.
/// </summary>
public static class LossCheck
{
    private sealed record Seen(long Total, long Pages, long Screens, Dictionary<string, long> Tracks, long Sessions, string? Plan, int Bytes);

    public static async Task<(LossResult Result, byte[]? SampleProfile)> RunAsync(
        HttpClient http, Uri profiles, AuthenticationHeaderValue? authorization, IReadOnlyList<SimUser> users,
        TimeSpan drain, Action<string> progress, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var expected = users.Where(u => u.AcceptedTotal > 0).ToList();
        var seen = new Dictionary<SimUser, Seen>();
        var pending = new List<SimUser>(expected);
        byte[]? sample = null;
        var gate = new Lock();
        var lastProgress = TimeSpan.Zero;
        var lastPending = pending.Count;
        var lastSweep = TimeSpan.Zero;
        while (pending.Count > 0 && clock.Elapsed < drain && !ct.IsCancellationRequested)
        {
            var stillShort = new List<SimUser>();
            var sweepStart = clock.Elapsed;
            await Parallel.ForEachAsync(pending, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (user, token) =>
            {
                var (profile, body) = await ReadAsync(http, profiles, authorization, user, token);
                lock (gate)
                {
                    if (profile is not null) seen[user] = profile;
                    if (profile is null || profile.Total < user.AcceptedTotal) stillShort.Add(user);
                    else sample ??= body;
                }
            });
            pending = stillShort;
            lastSweep = clock.Elapsed - sweepStart;
            if (pending.Count != lastPending) (lastProgress, lastPending) = (clock.Elapsed, pending.Count);
            progress($"drain: {expected.Count - pending.Count:N0}/{expected.Count:N0} users fully counted after {clock.Elapsed.TotalSeconds:0.0} s");
            // No user moved for 30 s: the rest is lost, not late.
            if (pending.Count > 0 && clock.Elapsed - lastProgress > TimeSpan.FromSeconds(30)) break;
            if (pending.Count > 0) await Task.Delay(500, ct);
        }
        var drainSeconds = clock.Elapsed.TotalSeconds;

        long accepted = 0, counted = 0, missing = 0, extra = 0, sessionsExpected = 0, sessionsCounted = 0;
        int usersShort = 0, usersOver = 0, unreadable = 0, traitMismatches = 0;
        var byName = new SortedDictionary<string, (long Accepted, long Counted)>(StringComparer.Ordinal);
        var sizes = new List<int>();
        void Add(string name, long a, long c)
        {
            var current = byName.GetValueOrDefault(name);
            byName[name] = (current.Accepted + a, current.Counted + c);
        }

        foreach (var user in expected)
        {
            lock (user.Gate)
            {
                accepted += user.AcceptedTotal;
                sessionsExpected += user.AcceptedSessions.Count;
                if (!seen.TryGetValue(user, out var p))
                {
                    unreadable++;
                    missing += user.AcceptedTotal;
                    continue;
                }
                sizes.Add(p.Bytes);
                counted += p.Total;
                sessionsCounted += p.Sessions;
                if (p.Total < user.AcceptedTotal) { usersShort++; missing += user.AcceptedTotal - p.Total; }
                if (p.Total > user.AcceptedTotal) { usersOver++; extra += p.Total - user.AcceptedTotal; }
                Add("page", user.AcceptedPages, p.Pages);
                var trackSum = 0L;
                foreach (var (name, count) in p.Tracks) trackSum += count;
                Add("identify", user.AcceptedIdentifies, p.Total - p.Pages - p.Screens - trackSum);
                var names = new HashSet<string>(user.AcceptedTracks.Keys, StringComparer.Ordinal);
                names.UnionWith(p.Tracks.Keys);
                foreach (var name in names) Add("track: " + name, user.AcceptedTracks.GetValueOrDefault(name), p.Tracks.GetValueOrDefault(name));
                if (user.LatestPlan is not null && user.LatestPlan != p.Plan) traitMismatches++;
            }
        }
        sizes.Sort();
        var result = new LossResult(
            expected.Count, accepted, counted, missing, extra, usersShort, usersOver, unreadable,
            [.. byName.Select(kv => new NameCount(kv.Key, kv.Value.Accepted, kv.Value.Counted))],
            sessionsExpected, sessionsCounted, traitMismatches, drainSeconds, lastSweep.TotalSeconds, pending.Count == 0,
            sizes.Count > 0 ? sizes[sizes.Count / 2] : 0);
        return (result, sample);
    }

    private static async Task<(Seen?, byte[]?)> ReadAsync(HttpClient http, Uri profiles, AuthenticationHeaderValue? authorization, SimUser user, CancellationToken ct)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(profiles, Uri.EscapeDataString(user.UserId)));
            request.Headers.Authorization = authorization;
            using var response = await http.SendAsync(request, ct);
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            if (!response.IsSuccessStatusCode) return (null, null);
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            var tracks = new Dictionary<string, long>(StringComparer.Ordinal);
            if (root.TryGetProperty("eventCounts", out var counts) && counts.ValueKind == JsonValueKind.Object)
            {
                foreach (var item in counts.EnumerateObject()) tracks[item.Name] = item.Value.GetInt64();
            }
            string? plan = null;
            if (root.TryGetProperty("traits", out var traits) && traits.ValueKind == JsonValueKind.Object
                && traits.TryGetProperty("plan", out var planValue) && planValue.ValueKind == JsonValueKind.String)
            {
                plan = planValue.GetString();
            }
            return (new Seen(
                root.GetProperty("totalEvents").GetInt64(),
                root.GetProperty("pageViews").GetInt64(),
                root.TryGetProperty("screenViews", out var screens) ? screens.GetInt64() : 0,
                tracks,
                root.TryGetProperty("sessions", out var sessions) ? sessions.GetInt64() : 0,
                plan,
                body.Length), body);
        }
        catch (HttpRequestException)
        {
            return (null, null);
        }
    }
}
