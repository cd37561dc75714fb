using System.Globalization;
using Personalization.Contracts;

namespace Personalization.Enrichment.Model;

/// <summary>Events of one profile whose event time falls in the rate window starting at <see cref="Start"/> (Unix milliseconds).</summary>
public sealed record RateBucket(long Start, int Count);

/// <summary>Bound from <c>Enrichment:Bots</c>.</summary>
public sealed class BotOptions
{
    /// <summary><c>Enrichment:Bots:Enabled</c>: whether events get a bot verdict at all. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary><c>Enrichment:Bots:RateWindow</c>: the event-time window the rate is counted in. Default 00:01:00.</summary>
    public TimeSpan RateWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// <c>Enrichment:Bots:MaxEventsPerWindow</c>: events of one profile in one window past which its further events in
    /// that window are a bot's. Default 120: two a second for a whole minute, beyond a person clicking and scrolling
    /// with a tracking SDK's automatic page and click events.
    /// </summary>
    public int MaxEventsPerWindow { get; set; } = 120;
}

/// <summary>
/// Whether an event looks automated, from two signals:
/// <list type="bullet">
/// <item>its user agent (<c>context.userAgent</c>) names a crawler, headless browser, monitor or HTTP library
/// (<see cref="UserAgentBots"/>): a property of the event alone;</item>
/// <item>its profile's rate: the events of one profile (user id, else anonymous id) are counted per fixed window of
/// event time (<see cref="BotOptions.RateWindow"/>, aligned to the Unix epoch); once a window holds more than
/// <see cref="BotOptions.MaxEventsPerWindow"/>, every further event of that window is a bot's. The counts live in the
/// profile's session state, read and written with it (so the per-delivery batching stays one bulk get and one
/// transaction), and only for the newest <see cref="KeptWindows"/> windows: an event older than those is not counted
/// (it can only be late, and late events come one by one, not in bursts).</item>
/// </list>
/// The user agent wins when both hold. Counting is the caller's to make idempotent: a redelivered event must not be
/// counted again (the enrichment remembers the verdict with the message id, as it remembers its session).
/// </summary>
public sealed class BotDetector(BotOptions options)
{
    public const int KeptWindows = 3;

    public BotOptions Options { get; } = options;

    private readonly long _windowMs = (long)options.RateWindow.TotalMilliseconds;

    public BotVerdict? FromUserAgent(string? userAgent)
    {
        if (!Options.Enabled || string.IsNullOrEmpty(userAgent)) return null;
        return UserAgentBots.Match(userAgent) is { } match
            ? new BotVerdict(true, BotSignals.UserAgent, $"user agent contains '{match.Token}' ({match.Kind})")
            : null;
    }

    /// <summary>Counts one event into the profile's rate windows; the verdict is set once its window is over the limit.</summary>
    public (IReadOnlyList<RateBucket>? Buckets, BotVerdict? Verdict) Count(IReadOnlyList<RateBucket>? buckets, DateTimeOffset eventTime)
    {
        if (!Options.Enabled) return (null, null);
        var start = Math.DivRem(eventTime.ToUnixTimeMilliseconds(), _windowMs, out var rem) * _windowMs - (rem < 0 ? _windowMs : 0);
        var kept = new List<RateBucket>(KeptWindows + 1);
        var count = 0;
        foreach (var bucket in buckets ?? [])
        {
            if (bucket.Start == start)
            {
                count = bucket.Count + 1;
                kept.Add(bucket with { Count = count });
            }
            else
            {
                kept.Add(bucket);
            }
        }
        if (count == 0)
        {
            if (kept.Count >= KeptWindows && kept.All(b => b.Start > start)) return (buckets, null); // older than every window kept
            count = 1;
            kept.Add(new RateBucket(start, 1));
            kept.Sort((a, b) => a.Start.CompareTo(b.Start));
            if (kept.Count > KeptWindows) kept.RemoveRange(0, kept.Count - KeptWindows);
        }
        if (count <= Options.MaxEventsPerWindow) return (kept, null);
        var from = DateTimeOffset.FromUnixTimeMilliseconds(start);
        return (kept, new BotVerdict(true, BotSignals.Rate, string.Create(CultureInfo.InvariantCulture,
            $"{count} events of the profile in the {Options.RateWindow} from {from:yyyy-MM-ddTHH:mm:ssZ} (limit {Options.MaxEventsPerWindow})")));
    }
}
