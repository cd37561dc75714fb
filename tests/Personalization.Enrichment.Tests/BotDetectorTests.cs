using Personalization.Contracts;
using Personalization.Enrichment.Model;

namespace Personalization.Enrichment.Tests;

public sealed class BotDetectorTests
{
    private static readonly BotDetector Detector = new(new BotOptions { RateWindow = TimeSpan.FromMinutes(1), MaxEventsPerWindow = 3 });
    private static readonly DateTimeOffset Minute = new(2026, 12, 3, 10, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot", UserAgentBots.Crawler)]
    [InlineData("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot", UserAgentBots.Crawler)]
    [InlineData("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "facebookexternalhit", UserAgentBots.Crawler)]
    [InlineData("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "bot", UserAgentBots.Crawler)]
    [InlineData("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36", "HeadlessChrome", UserAgentBots.Headless)]
    [InlineData("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 Chrome-Lighthouse", "Lighthouse", UserAgentBots.Monitor)]
    [InlineData("curl/8.5.0", "curl/", UserAgentBots.Library)]
    [InlineData("python-requests/2.31.0", "python-requests", UserAgentBots.Library)]
    [InlineData("Go-http-client/2.0", "Go-http-client", UserAgentBots.Library)]
    public void AnAutomatedUserAgentIsABotsWithTheTokenAndKind(string userAgent, string token, string kind)
    {
        var verdict = Detector.FromUserAgent(userAgent);
        Assert.NotNull(verdict);
        Assert.True(verdict.IsBot);
        Assert.Equal(BotSignals.UserAgent, verdict.Signal);
        Assert.Equal($"user agent contains '{token}' ({kind})", verdict.Reason);
    }

    [Theory]
    [InlineData("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36")]
    [InlineData("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")]
    [InlineData("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:120.0) Gecko/20100101 Firefox/120.0")]
    [InlineData("Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36")]
    [InlineData("Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36")]
    [InlineData("Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230901.001)")]
    [InlineData("")]
    [InlineData(null)]
    public void APersonsUserAgentIsNoBot(string? userAgent) => Assert.Null(Detector.FromUserAgent(userAgent));

    [Fact]
    public void EventsUpToTheLimitInAWindowAreAPersonsAndTheNextOnesABots()
    {
        IReadOnlyList<RateBucket>? buckets = null;
        var verdicts = new List<BotVerdict?>();
        for (var i = 0; i < 5; i++)
        {
            (buckets, var verdict) = Detector.Count(buckets, Minute.AddSeconds(10 * i));
            verdicts.Add(verdict);
        }
        Assert.Equal([false, false, false, true, true], verdicts.Select(v => v?.IsBot == true));
        Assert.Equal(BotSignals.Rate, verdicts[3]!.Signal);
        Assert.Equal("4 events of the profile in the 00:01:00 from 2026-12-03T10:00:00Z (limit 3)", verdicts[3]!.Reason);
        Assert.Equal([new RateBucket(Minute.ToUnixTimeMilliseconds(), 5)], buckets);
    }

    [Fact]
    public void TheNextWindowStartsAgainFromZero()
    {
        IReadOnlyList<RateBucket>? buckets = null;
        for (var i = 0; i < 4; i++) (buckets, _) = Detector.Count(buckets, Minute.AddSeconds(i));
        var (_, next) = Detector.Count(buckets, Minute.AddMinutes(1));
        Assert.Null(next);
    }

    [Fact]
    public void OutOfOrderEventsCountInTheirOwnWindow()
    {
        IReadOnlyList<RateBucket>? buckets = null;
        (buckets, _) = Detector.Count(buckets, Minute.AddMinutes(1));
        for (var i = 0; i < 3; i++) (buckets, _) = Detector.Count(buckets, Minute.AddSeconds(i));
        var (after, verdict) = Detector.Count(buckets, Minute.AddSeconds(59));
        Assert.True(verdict?.IsBot);
        Assert.Equal([new RateBucket(Minute.ToUnixTimeMilliseconds(), 4), new RateBucket(Minute.AddMinutes(1).ToUnixTimeMilliseconds(), 1)], after);
    }

    [Fact]
    public void OnlyTheNewestWindowsAreKeptAndAnEventOlderThanAllOfThemIsNotCounted()
    {
        IReadOnlyList<RateBucket>? buckets = null;
        for (var m = 1; m <= BotDetector.KeptWindows + 1; m++) (buckets, _) = Detector.Count(buckets, Minute.AddMinutes(m));
        Assert.Equal(BotDetector.KeptWindows, buckets!.Count);
        Assert.Equal(Minute.AddMinutes(2).ToUnixTimeMilliseconds(), buckets[0].Start);
        var (same, verdict) = Detector.Count(buckets, Minute);
        Assert.Same(buckets, same);
        Assert.Null(verdict);
    }

    [Fact]
    public void DisabledDetectionGivesNoVerdictAndKeepsNoCounts()
    {
        var off = new BotDetector(new BotOptions { Enabled = false, MaxEventsPerWindow = 1 });
        Assert.Null(off.FromUserAgent("curl/8.5.0"));
        Assert.Equal((null, null), off.Count([new RateBucket(Minute.ToUnixTimeMilliseconds(), 5)], Minute));
    }

    [Fact]
    public void SessionsCarryTheRateCountsOver()
    {
        var sessionizer = new Sessionizer(TimeSpan.FromMinutes(30));
        var state = sessionizer.Assign(null, "p", "m1", Minute).Next! with { Rate = [new RateBucket(1, 2)] };
        Assert.Equal(state.Rate, sessionizer.Assign(state, "p", "m2", Minute.AddMinutes(1)).Next!.Rate);
        Assert.Equal(state.Rate, sessionizer.Assign(state, "p", "m3", Minute.AddHours(2)).Next!.Rate); // a new session too
    }
}
