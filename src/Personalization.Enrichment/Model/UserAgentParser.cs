using Personalization.Contracts;

namespace Personalization.Enrichment.Model;

/// <summary>
/// User agent → device type, OS and browser, from a compact table of tokens (first match wins, in this order).
/// No maintained user-agent library (UAParser, DeviceDetector.NET, …) is served by the package registry this
/// project builds from, so this table covers the agents that make up nearly all web and app traffic:
/// <code>
/// device type  bot      a crawler, headless browser, monitor or HTTP library (UserAgentBots)
///              tv       SmartTV, SMART-TV, Smart-TV, AppleTV, HbbTV, Roku, CrKey, BRAVIA, Web0S
///              console  PlayStation, Xbox, Nintendo
///              tablet   iPad, Tablet, Kindle, Silk/, PlayBook, Android without "Mobile"
///              mobile   Mobile, iPhone, iPod, Android, Windows Phone, BlackBerry, BB10, Opera Mini, IEMobile
///              desktop  anything else that is not empty; empty or missing: unknown
/// OS           Windows Phone x; Windows NT 10.0 → Windows 10 (11 sends the same token), 6.3 → 8.1, 6.2 → 8, 6.1 → 7, 6.0 → Vista, 5.1/5.2 → XP;
///              iPhone OS x_y / CPU OS x_y → iOS x.y; Android x.y; CrOS → Chrome OS; Mac OS X x_y → macOS x.y; Linux
/// browser      Edg/, EdgA/, EdgiOS/ → Edge; OPR/, Opera → Opera; SamsungBrowser/ → Samsung Internet; Firefox/, FxiOS/ → Firefox;
///              CriOS/, Chrome/ → Chrome; Version/x … Safari/ → Safari; MSIE x, Trident/ rv:x → Internet Explorer
/// </code>
/// Versions are the dotted digits after the token ('_' read as '.'); browsers report their major.minor… as sent.
/// </summary>
public static class UserAgentParser
{
    public const string Unknown = "unknown";
    public static readonly DeviceContext UnknownDevice = new(Unknown, null, null, null, null);

    private static readonly string[] Tvs = ["SmartTV", "SMART-TV", "Smart-TV", "AppleTV", "HbbTV", "Roku", "CrKey", "BRAVIA", "Web0S"];
    private static readonly string[] Consoles = ["PlayStation", "Xbox", "Nintendo"];
    private static readonly string[] Tablets = ["iPad", "Tablet", "Kindle", "Silk/", "PlayBook"];
    private static readonly string[] Mobiles = ["Mobile", "iPhone", "iPod", "Windows Phone", "BlackBerry", "BB10", "Opera Mini", "IEMobile"];

    public static DeviceContext Parse(string? userAgent)
    {
        if (string.IsNullOrWhiteSpace(userAgent)) return UnknownDevice;
        var ua = userAgent.AsSpan();
        var (os, osVersion) = Os(ua);
        var (browser, browserVersion) = Browser(ua);
        return new DeviceContext(DeviceType(ua), os, osVersion, browser, browserVersion);
    }

    public static string DeviceType(ReadOnlySpan<char> ua)
    {
        if (UserAgentBots.Match(ua) is not null) return "bot";
        if (ContainsAny(ua, Tvs, StringComparison.Ordinal)) return "tv";
        if (ContainsAny(ua, Consoles, StringComparison.Ordinal)) return "console";
        var android = ua.Contains("Android", StringComparison.Ordinal);
        if (ContainsAny(ua, Tablets, StringComparison.Ordinal) || (android && !ua.Contains("Mobile", StringComparison.Ordinal))) return "tablet";
        if (android || ContainsAny(ua, Mobiles, StringComparison.Ordinal)) return "mobile";
        return "desktop";
    }

    private static (string? Name, string? Version) Os(ReadOnlySpan<char> ua)
    {
        if (After(ua, "Windows Phone ") is { } wp) return ("Windows Phone", ReadVersion(ua, wp));
        if (After(ua, "Windows NT ") is { } nt)
        {
            return ("Windows", ReadVersion(ua, nt) switch
            {
                "10.0" => "10",
                "6.3" => "8.1",
                "6.2" => "8",
                "6.1" => "7",
                "6.0" => "Vista",
                "5.1" or "5.2" => "XP",
                var other => other,
            });
        }
        if (After(ua, "iPhone OS ") is { } ios) return ("iOS", ReadVersion(ua, ios));
        if (After(ua, "CPU OS ") is { } ipados) return ("iOS", ReadVersion(ua, ipados));
        if (After(ua, "Android ") is { } android) return ("Android", ReadVersion(ua, android));
        if (ua.Contains("Android", StringComparison.Ordinal)) return ("Android", null);
        if (ua.Contains("CrOS", StringComparison.Ordinal)) return ("Chrome OS", null);
        if (After(ua, "Mac OS X ") is { } mac) return ("macOS", ReadVersion(ua, mac));
        if (ua.Contains("Macintosh", StringComparison.Ordinal)) return ("macOS", null);
        if (ua.Contains("Linux", StringComparison.Ordinal)) return ("Linux", null);
        return (null, null);
    }

    private static (string? Name, string? Version) Browser(ReadOnlySpan<char> ua)
    {
        if ((After(ua, "Edg/") ?? After(ua, "EdgA/") ?? After(ua, "EdgiOS/")) is { } edge) return ("Edge", ReadVersion(ua, edge));
        if (After(ua, "OPR/") is { } opr) return ("Opera", ReadVersion(ua, opr));
        if (ua.Contains("Opera", StringComparison.Ordinal)) return ("Opera", After(ua, "Version/") is { } ov ? ReadVersion(ua, ov) : null);
        if (After(ua, "SamsungBrowser/") is { } samsung) return ("Samsung Internet", ReadVersion(ua, samsung));
        if ((After(ua, "Firefox/") ?? After(ua, "FxiOS/")) is { } firefox) return ("Firefox", ReadVersion(ua, firefox));
        if ((After(ua, "CriOS/") ?? After(ua, "Chrome/")) is { } chrome) return ("Chrome", ReadVersion(ua, chrome));
        if (ua.Contains("Safari/", StringComparison.Ordinal)) return ("Safari", After(ua, "Version/") is { } sv ? ReadVersion(ua, sv) : null);
        if (After(ua, "MSIE ") is { } msie) return ("Internet Explorer", ReadVersion(ua, msie));
        if (ua.Contains("Trident/", StringComparison.Ordinal)) return ("Internet Explorer", After(ua, "rv:") is { } rv ? ReadVersion(ua, rv) : null);
        return (null, null);
    }

    private static bool ContainsAny(ReadOnlySpan<char> ua, string[] tokens, StringComparison comparison)
    {
        foreach (var token in tokens)
        {
            if (ua.Contains(token, comparison)) return true;
        }
        return false;
    }

    /// <summary>Where the text after the first <paramref name="token"/> starts, or null.</summary>
    private static int? After(ReadOnlySpan<char> ua, string token)
    {
        var at = ua.IndexOf(token, StringComparison.Ordinal);
        return at < 0 ? null : at + token.Length;
    }

    /// <summary>The dotted digits at <paramref name="start"/> ('_' read as '.'), or null when there are none.</summary>
    public static string? ReadVersion(ReadOnlySpan<char> ua, int start)
    {
        var end = start;
        while (end < ua.Length && (char.IsAsciiDigit(ua[end]) || ua[end] is '.' or '_')) end++;
        while (end > start && ua[end - 1] is '.' or '_') end--;
        return end == start ? null : ua[start..end].ToString().Replace('_', '.');
    }
}
