using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Personalization.LoadGenerator;

public enum EventKind
{
    Page,
    Track,
    Identify,
}

/// <summary>One generated event, kept until its batch is answered so the accepted counts can be updated.</summary>
public readonly record struct GeneratedEvent(SimUser User, EventKind Kind, string? Name, int Session, DateTimeOffset Time, string? Plan);

/// <summary>
/// One simulated user: a browser (user agent) and a timeline of sessions. Event time runs on the user's own clock, which
/// starts weeks in the past, moves seconds between events of a session and 35 minutes to 8 hours between sessions, so
/// the platform's 30-minute sessionization sees real sessions. Also holds what the platform accepted for this user.
/// </summary>
public sealed class SimUser(string userId, string anonymousId, string userAgent, string ip, string locale, DateTimeOffset clock)
{
    public string UserId { get; } = userId;
    public string AnonymousId { get; } = anonymousId;
    public string UserAgent { get; } = userAgent;
    public string Ip { get; } = ip;
    public string Locale { get; } = locale;

    // Generator state: only the generator touches it, under its own lock.
    internal DateTimeOffset Clock = clock;
    internal int Session;
    internal int EventsLeftInSession;
    internal bool Identified;

    // What the platform accepted (HTTP 200) for this user; guarded by Gate.
    public Lock Gate { get; } = new();
    public long AcceptedTotal { get; private set; }
    public long AcceptedPages { get; private set; }
    public long AcceptedIdentifies { get; private set; }
    public Dictionary<string, long> AcceptedTracks { get; } = new(StringComparer.Ordinal);
    public HashSet<int> AcceptedSessions { get; } = [];
    public string? LatestPlan { get; private set; }
    private DateTimeOffset _latestPlanTime = DateTimeOffset.MinValue;

    /// <summary>Set for the users whose profile is polled for freshness.</summary>
    public FreshnessProbe.Waiter? Probe { get; set; }

    /// <summary>Call under <see cref="Gate"/>.</summary>
    public void Accept(in GeneratedEvent e)
    {
        AcceptedTotal++;
        AcceptedSessions.Add(e.Session);
        switch (e.Kind)
        {
            case EventKind.Page: AcceptedPages++; break;
            case EventKind.Track: AcceptedTracks[e.Name!] = AcceptedTracks.GetValueOrDefault(e.Name!) + 1; break;
            case EventKind.Identify:
                AcceptedIdentifies++;
                if (e.Time > _latestPlanTime) (LatestPlan, _latestPlanTime) = (e.Plan, e.Time);
                break;
        }
    }
}

/// <summary>
/// A web shop's clickstream: page views (about 55 %), track events of a shopping funnel (about 40 %) and identify calls
/// (about 5 %, always the first event of a user's first session). Users are picked uniformly at random, one event at a
/// time, so a batch mixes users the way a server-side relay's batch does. The mix is deterministic for a seed; message ids are random.
/// </summary>
public sealed class Clickstream
{
    private static readonly (string Name, string Path)[] Pages =
    [
        ("Home", "/"), ("Category", "/c/shoes"), ("Category", "/c/jackets"), ("Product", "/p/"), ("Product", "/p/"),
        ("Product", "/p/"), ("Search", "/search"), ("Cart", "/cart"), ("Checkout", "/checkout"), ("Account", "/account"),
    ];

    private static readonly (string Name, int Weight)[] Tracks =
    [
        ("Product Viewed", 40), ("Products Searched", 20), ("Product Added", 15), ("Cart Viewed", 10),
        ("Checkout Started", 8), ("Order Completed", 5), ("Signed Up", 2),
    ];

    private static readonly string[] UserAgents =
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    ];

    private static readonly string[] Plans = ["free", "basic", "pro", "enterprise"];
    private static readonly string[] Locales = ["en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "nl-NL"];

    private readonly Lock _gate = new();
    private readonly Random _random;
    private readonly int _trackWeight;

    public Clickstream(string prefix, int users, int seed)
    {
        _random = new Random(seed);
        foreach (var t in Tracks) _trackWeight += t.Weight;
        var now = DateTimeOffset.UtcNow;
        var list = new SimUser[users];
        for (var i = 0; i < users; i++)
        {
            var start = now - TimeSpan.FromDays(30) + TimeSpan.FromSeconds(_random.Next(0, 86_400));
            list[i] = new SimUser(
                $"{prefix}-u{i:D6}",
                $"anon-{prefix}-{i:D6}",
                UserAgents[_random.Next(UserAgents.Length)],
                "203.0.113." + _random.Next(1, 255).ToString(CultureInfo.InvariantCulture),
                Locales[_random.Next(Locales.Length)],
                start);
        }
        Users = list;
    }

    public IReadOnlyList<SimUser> Users { get; }

    /// <summary>Writes one <c>POST /v1/batch</c> body of <paramref name="size"/> events and lists what it holds.</summary>
    public GeneratedEvent[] NextBatch(int size, ArrayBufferWriter<byte> body)
    {
        var events = new GeneratedEvent[size];
        body.ResetWrittenCount();
        using var json = new Utf8JsonWriter(body);
        var sentAt = DateTimeOffset.UtcNow;
        lock (_gate)
        {
            json.WriteStartObject();
            json.WriteStartArray("batch");
            for (var i = 0; i < size; i++)
            {
                var user = Users[_random.Next(Users.Count)];
                events[i] = NextEvent(user, sentAt);
                WriteEvent(json, events[i]);
            }
            json.WriteEndArray();
            json.WriteString("sentAt", sentAt);
            json.WriteEndObject();
        }
        json.Flush();
        return events;
    }

    private GeneratedEvent NextEvent(SimUser user, DateTimeOffset now)
    {
        var first = user.Session == 0;
        if (user.EventsLeftInSession <= 0)
        {
            if (!first) user.Clock += TimeSpan.FromMinutes(35 + _random.Next(0, 445));
            user.Session++;
            user.EventsLeftInSession = 3 + _random.Next(0, 18);
        }
        else
        {
            user.Clock += TimeSpan.FromSeconds(2 + _random.Next(0, 118));
        }
        // Never in the future: a long run at a high rate could otherwise outrun the real clock.
        if (user.Clock > now) user.Clock = now;
        user.EventsLeftInSession--;

        var roll = _random.Next(100);
        if (!user.Identified || roll < 3)
        {
            user.Identified = true;
            return new GeneratedEvent(user, EventKind.Identify, null, user.Session, user.Clock, Plans[_random.Next(Plans.Length)]);
        }
        if (roll < 60)
        {
            var page = Pages[_random.Next(Pages.Length)];
            return new GeneratedEvent(user, EventKind.Page, page.Name, user.Session, user.Clock, null);
        }
        var pick = _random.Next(_trackWeight);
        foreach (var (name, weight) in Tracks)
        {
            if (pick < weight) return new GeneratedEvent(user, EventKind.Track, name, user.Session, user.Clock, null);
            pick -= weight;
        }
        return new GeneratedEvent(user, EventKind.Track, Tracks[0].Name, user.Session, user.Clock, null);
    }

    private void WriteEvent(Utf8JsonWriter json, in GeneratedEvent e)
    {
        var user = e.User;
        json.WriteStartObject();
        json.WriteString("type", e.Kind switch { EventKind.Page => "page", EventKind.Track => "track", _ => "identify" });
        json.WriteString("messageId", Guid.NewGuid());
        json.WriteString("userId", user.UserId);
        json.WriteString("anonymousId", user.AnonymousId);
        json.WriteString("timestamp", e.Time);
        switch (e.Kind)
        {
            case EventKind.Page:
            {
                json.WriteString("name", e.Name);
                var product = _random.Next(1, 5000);
                var path = e.Name == "Product" ? "/p/" + product.ToString(CultureInfo.InvariantCulture) : PathOf(e.Name!);
                json.WriteStartObject("properties");
                json.WriteString("path", path);
                json.WriteString("url", "https://shop.example.com" + path);
                json.WriteString("title", e.Name + " | Example Shop");
                json.WriteString("referrer", _random.Next(4) == 0 ? "https://www.google.com/" : "https://shop.example.com/");
                json.WriteEndObject();
                break;
            }
            case EventKind.Track:
                json.WriteString("event", e.Name);
                json.WriteStartObject("properties");
                json.WriteString("product_id", "sku-" + _random.Next(1, 5000).ToString(CultureInfo.InvariantCulture));
                json.WriteString("category", _random.Next(2) == 0 ? "shoes" : "jackets");
                json.WriteNumber("price", Math.Round(5 + _random.NextDouble() * 195, 2));
                json.WriteString("currency", "EUR");
                json.WriteNumber("quantity", 1 + _random.Next(3));
                json.WriteEndObject();
                break;
            default:
                json.WriteStartObject("traits");
                json.WriteString("email", user.UserId + "@example.com");
                json.WriteString("plan", e.Plan);
                json.WriteString("firstName", "Bench");
                json.WriteString("lastName", "User " + user.UserId[^6..]);
                json.WriteNumber("logins", e.Session);
                json.WriteEndObject();
                break;
        }
        json.WriteStartObject("context");
        json.WriteString("userAgent", user.UserAgent);
        json.WriteString("ip", user.Ip);
        json.WriteString("locale", user.Locale);
        json.WriteStartObject("library");
        json.WriteString("name", "personalization-loadgen");
        json.WriteString("version", "1.0.0");
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static string PathOf(string name)
    {
        foreach (var (n, path) in Pages)
        {
            if (n == name) return path;
        }
        return "/";
    }
}
