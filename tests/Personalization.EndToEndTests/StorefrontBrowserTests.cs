using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Microsoft.Playwright;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Personalization.EndToEndTests;

/// <summary>
/// The demo storefront in a real browser (Debian's Chromium through Playwright): Segment's own analytics.js sends
/// through the gateway, the consent banner writes consent through the API, and the page's banner changes through the
/// live profile stream. Screenshots are kept in <c>.test-results/screenshots</c>.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class StorefrontBrowserTests(PlatformFixture platform, ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task BrowsingChangesTheBannerLiveAndAnOrderChangesItAgain()
    {
        await using var browser = await BrowserSession.StartAsync(platform.App);
        var page = browser.Page;
        await page.ClickAsync("#consent-accept");
        var visitor = await ReadyAsync(page);
        await BannerAsync(page, "welcome");
        await browser.ScreenshotAsync("storefront-1-welcome");

        // Three products viewed within the hour: the visitor enters "demo-browsers", whose banner the placement shows.
        var buttons = page.Locator("#products button");
        for (var i = 0; i < 3; i++) await buttons.Nth(i).ClickAsync();
        var clicked = Stopwatch.StartNew();
        await BannerAsync(page, "still-looking");
        output.WriteLine($"banner changed {clicked.ElapsedMilliseconds} ms after the third product view");
        await browser.ScreenshotAsync("storefront-2-still-looking");

        using var gateway = new GatewayClient(platform.App);
        var profile = await gateway.WaitForProfileAsync(visitor, p => p.Count("Product Viewed") == 3);
        Assert.NotNull(profile["segments"]!["demo-browsers"]);
        Assert.Equal("3", await page.TextContentAsync("#profile-viewed"));

        await page.ClickAsync("#buy");
        await BannerAsync(page, "thanks");
        await browser.ScreenshotAsync("storefront-3-thanks");
        Assert.Empty(browser.OutsideRequests);
    }

    [Fact]
    public async Task RefusedConsentCountsNothingAndGpcKeepsMarketingOff()
    {
        await using var browser = await BrowserSession.StartAsync(platform.App, globalPrivacyControl: true);
        var page = browser.Page;
        await page.WaitForSelectorAsync("#consent-refuse", new() { Timeout = (float)Wait.TotalMilliseconds });
        Assert.True(await page.IsVisibleAsync("#gpc-note"));
        await page.ClickAsync("#consent-refuse");
        var visitor = await ReadyAsync(page);
        await BannerAsync(page, "off");

        var buttons = page.Locator("#products button");
        for (var i = 0; i < 3; i++) await buttons.Nth(i).ClickAsync();
        await page.ClickAsync("#buy");
        // The SDK did send them (the gateway accepted them) ...
        await browser.WaitForAcceptedAsync("/v1/t", 4);
        await browser.ScreenshotAsync("storefront-4-refused");

        // ... and the platform counted none: the consent record says no, and no profile was ever written.
        using var gateway = new GatewayClient(platform.App);
        var consent = await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Get, $"/v1/consent/{visitor}", GatewayClient.ReadKey), HttpStatusCode.OK);
        Assert.Equal("false", consent["purposes"]!["analytics"]!.ToJsonString());
        Assert.Equal("false", consent["purposes"]!["marketing"]!.ToJsonString());
        await Task.Delay(TimeSpan.FromSeconds(3)); // longer than the pipeline takes to count an accepted event
        await using var redis = await ConnectionMultiplexer.ConnectAsync((await platform.App.GetConnectionStringAsync("redis"))!);
        Assert.False(await redis.GetDatabase().KeyExistsAsync($"statestore||profile:{visitor}"), "a profile was written for a visitor who refused consent");
        Assert.Empty(browser.OutsideRequests);
    }

    [Fact]
    public async Task TheStorefrontMintsTokensOnlyForTheVisitorsOwnIds()
    {
        using var storefront = platform.App.CreateHttpClient("storefront", "http");

        using var stranger = await storefront.PostAsJsonAsync("/api/token", new { userId = "someone-else" });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/token") { Content = JsonContent.Create(new { userId = "visitor-1" }) };
        request.Headers.Add("Cookie", "ajs_anonymous_id=%22visitor-1%22");
        using var own = await storefront.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, stranger.StatusCode);
        Assert.Equal(HttpStatusCode.Created, own.StatusCode);
    }

    /// <summary>Waits for the page to have loaded the SDK, recorded consent and opened its stream; answers the visitor's id.</summary>
    private static async Task<string> ReadyAsync(IPage page)
    {
        await page.WaitForFunctionAsync("() => window.demo && window.demo.ready", null, new() { Timeout = (float)Wait.TotalMilliseconds });
        return await page.EvaluateAsync<string>("() => window.demo.visitorId");
    }

    private static Task BannerAsync(IPage page, string variant) =>
        page.WaitForSelectorAsync($"#banner[data-variant=\"{variant}\"]", new() { Timeout = (float)Wait.TotalMilliseconds });

    /// <summary>Chromium with a fresh profile on the storefront, recording every request and what the gateway answered.</summary>
    private sealed class BrowserSession : IAsyncDisposable
    {
        private readonly IPlaywright _playwright;
        private readonly IBrowser _browser;
        private readonly List<(string Url, int Status)> _responses = [];

        private BrowserSession(IPlaywright playwright, IBrowser browser, IPage page)
        {
            (_playwright, _browser, Page) = (playwright, browser, page);
        }

        public IPage Page { get; }

        /// <summary>Requests to anywhere but this machine (the SDK's CDN or API at Segment, say): there must be none.</summary>
        public List<string> OutsideRequests { get; } = [];

        public static async Task<BrowserSession> StartAsync(DistributedApplication app, bool globalPrivacyControl = false)
        {
            if (!File.Exists(Chromium))
            {
                throw new InvalidOperationException($"{Chromium} is missing. Install with: apt-get update && apt-get install -y chromium (or run ./test.sh, which installs it)");
            }
            var playwright = await Playwright.CreateAsync();
            var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true });
            var context = await browser.NewContextAsync(new()
            {
                ViewportSize = new() { Width = 1200, Height = 800 },
                ExtraHTTPHeaders = globalPrivacyControl ? new Dictionary<string, string> { ["Sec-GPC"] = "1" } : null,
            });
            if (globalPrivacyControl)
            {
                await context.AddInitScriptAsync("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });");
            }
            var page = await context.NewPageAsync();
            var session = new BrowserSession(playwright, browser, page);
            page.Request += (_, request) =>
            {
                var host = new Uri(request.Url).Host;
                if (host is not ("localhost" or "127.0.0.1")) lock (session.OutsideRequests) session.OutsideRequests.Add(request.Url);
            };
            page.Response += (_, response) =>
            {
                lock (session._responses) session._responses.Add((response.Url, response.Status));
            };
            await page.GotoAsync(app.GetEndpoint("storefront", "http").ToString());
            return session;
        }

        /// <summary>Waits until the gateway answered 200 to <paramref name="count"/> requests to <paramref name="path"/>.</summary>
        public async Task WaitForAcceptedAsync(string path, int count)
        {
            var deadline = DateTime.UtcNow + Wait;
            while (DateTime.UtcNow < deadline)
            {
                lock (_responses)
                {
                    if (_responses.Count(r => new Uri(r.Url).AbsolutePath == path && r.Status == 200) >= count) return;
                }
                await Task.Delay(100);
            }
            Assert.Fail($"the gateway did not accept {count} requests to {path}; seen: {string.Join(", ", _responses.Select(r => $"{r.Status} {r.Url}"))}");
        }

        public async Task ScreenshotAsync(string name)
        {
            var folder = RepositoryFiles.PathOf(".test-results", "screenshots");
            Directory.CreateDirectory(folder);
            await Page.ScreenshotAsync(new() { Path = Path.Combine(folder, name + ".png"), FullPage = true });
        }

        public async ValueTask DisposeAsync()
        {
            await _browser.DisposeAsync();
            _playwright.Dispose();
        }
    }
}
