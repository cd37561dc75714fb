using System.Buffers;

namespace Personalization.Enrichment.Model;

/// <summary>
/// Bot user agents: crawlers and link previewers, headless or automated browsers, monitoring and audit tools, and HTTP
/// libraries (a person's browser or app never sends those), matched case-insensitively as substrings. No maintained
/// bot-pattern library is served by the package registry this project builds from, so this table holds the tokens seen
/// in nearly all automated traffic; the generic words (bot, crawl, spider) catch most of the rest. A phone brand that
/// contains one of them (CUBOT) is not a bot. One pass over the agent for all tokens (<see cref="SearchValues{T}"/>).
/// </summary>
public static class UserAgentBots
{
    public const string Crawler = "crawler";
    public const string Headless = "headless browser";
    public const string Monitor = "monitoring or audit tool";
    public const string Library = "HTTP library";

    private static readonly (string Token, string Kind)[] Tokens =
    [
        // Crawlers, link previewers, AI agents: most say bot, crawl or spider; these do not, or not in every version.
        ("bot", Crawler), ("crawl", Crawler), ("spider", Crawler), ("slurp", Crawler), ("scraper", Crawler),
        ("facebookexternalhit", Crawler), ("facebookcatalog", Crawler), ("Mediapartners-Google", Crawler),
        ("APIs-Google", Crawler), ("Google-InspectionTool", Crawler), ("FeedFetcher-Google", Crawler), ("Google-Read-Aloud", Crawler),
        ("bingpreview", Crawler), ("ia_archiver", Crawler), ("Embedly", Crawler), ("Quora Link Preview", Crawler),
        ("SkypeUriPreview", Crawler), ("ChatGPT-User", Crawler), ("anthropic-ai", Crawler), ("Claude-Web", Crawler),
        ("Perplexity", Crawler), ("Bytespider", Crawler), ("Scrapy", Crawler), ("archive.org", Crawler),
        ("Yahoo! Slurp", Crawler), ("Feedly", Crawler), ("feedparser", Crawler), ("Validator", Crawler),
        // Headless and automated browsers.
        ("HeadlessChrome", Headless), ("Headless", Headless), ("PhantomJS", Headless), ("SlimerJS", Headless),
        ("Selenium", Headless), ("WebDriver", Headless), ("Puppeteer", Headless), ("Playwright", Headless),
        ("Cypress", Headless), ("Prerender", Headless), ("Rendertron", Headless), ("Splash", Headless),
        // Monitoring, performance and SEO audits.
        ("Lighthouse", Monitor), ("PageSpeed", Monitor), ("GTmetrix", Monitor), ("Pingdom", Monitor),
        ("UptimeRobot", Monitor), ("StatusCake", Monitor), ("Site24x7", Monitor), ("Datadog Agent", Monitor),
        ("NewRelicPinger", Monitor), ("check_http", Monitor), ("Nagios", Monitor), ("Zabbix", Monitor),
        // HTTP libraries and command-line clients.
        ("curl/", Library), ("Wget/", Library), ("python-requests", Library), ("python-urllib", Library),
        ("Python/", Library), ("aiohttp", Library), ("python-httpx", Library), ("Go-http-client", Library),
        ("Java/", Library), ("Apache-HttpClient", Library), ("libwww-perl", Library), ("node-fetch", Library),
        ("axios/", Library), ("undici", Library), ("PostmanRuntime", Library), ("insomnia/", Library),
        ("HTTPie", Library), ("Faraday v", Library), ("GuzzleHttp", Library), ("Ruby", Library),
        ("Dart/", Library), ("Deno/", Library), ("Bun/", Library), ("reqwest", Library), ("WinHttp", Library),
    ];

    /// <summary>Agents of people's devices that contain a token above.</summary>
    private static readonly string[] NotBots = ["cubot"];

    private static readonly SearchValues<string> Search =
        SearchValues.Create([.. Tokens.Select(t => t.Token)], StringComparison.OrdinalIgnoreCase);

    /// <summary>The token found and what kind of bot it names; null when the agent looks like a person's.</summary>
    public static (string Token, string Kind)? Match(ReadOnlySpan<char> userAgent)
    {
        var offset = 0;
        while (offset < userAgent.Length)
        {
            var at = userAgent[offset..].IndexOfAny(Search);
            if (at < 0) return null;
            at += offset;
            if (!IsNotBot(userAgent, at))
            {
                // The longest token starting here: "HeadlessChrome" rather than "Headless".
                (string Token, string Kind)? best = null;
                foreach (var token in Tokens)
                {
                    if (userAgent[at..].StartsWith(token.Token, StringComparison.OrdinalIgnoreCase) && token.Token.Length > (best?.Token.Length ?? 0)) best = token;
                }
                if (best is not null) return best;
            }
            offset = at + 1;
        }
        return null;
    }

    private static bool IsNotBot(ReadOnlySpan<char> userAgent, int at)
    {
        foreach (var exception in NotBots)
        {
            // The exception's own match lies somewhere inside it: try each place it could start so that it covers 'at'.
            for (var start = Math.Max(0, at - exception.Length + 1); start <= at; start++)
            {
                if (userAgent[start..].StartsWith(exception, StringComparison.OrdinalIgnoreCase)) return true;
            }
        }
        return false;
    }
}
