using Personalization.Enrichment.Model;

namespace Personalization.Enrichment.Tests;

public sealed class UserAgentParserTests
{
    [Theory]
    [InlineData("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36",
        "desktop", "Windows", "10", "Chrome", "120.0.6099.109")]
    [InlineData("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
        "mobile", "iOS", "17.1.2", "Safari", "17.1.2")]
    [InlineData("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        "tablet", "iOS", "16.6", "Safari", "16.6")]
    [InlineData("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36",
        "mobile", "Android", "14", "Chrome", "119.0.0.0")]
    [InlineData("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
        "tablet", "Android", "13", "Chrome", "118.0.0.0")]
    [InlineData("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
        "desktop", "macOS", "10.15.7", "Safari", "17.1")]
    [InlineData("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
        "desktop", "Windows", "10", "Edge", "120.0.2210.61")]
    [InlineData("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        "desktop", "Linux", null, "Firefox", "120.0")]
    [InlineData("Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
        "desktop", "Windows", "7", "Internet Explorer", "11.0")]
    [InlineData("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "bot", null, null, null, null)]
    [InlineData("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
        "desktop", "Chrome OS", null, "Chrome", "119.0.0.0")]
    [InlineData("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/538.1 (KHTML, like Gecko) Version/6.0 TV Safari/538.1",
        "tv", "Linux", null, "Safari", "6.0")]
    [InlineData("Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
        "mobile", "Android", "13", "Samsung Internet", "23.0")]
    public void KnownAgentsAreRecognised(string ua, string deviceType, string? os, string? osVersion, string? browser, string? browserVersion)
    {
        var device = UserAgentParser.Parse(ua);
        Assert.Equal(deviceType, device.DeviceType);
        Assert.Equal(os, device.Os);
        Assert.Equal(osVersion, device.OsVersion);
        Assert.Equal(browser, device.Browser);
        Assert.Equal(browserVersion, device.BrowserVersion);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void MissingAgentGivesAnUnknownDevice(string? ua) => Assert.Equal(UserAgentParser.UnknownDevice, UserAgentParser.Parse(ua));

    [Fact]
    public void UnrecognisedAgentIsADesktopWithNoOsOrBrowser()
    {
        var device = UserAgentParser.Parse("SomeInternalTool");
        Assert.Equal("desktop", device.DeviceType);
        Assert.Null(device.Os);
        Assert.Null(device.Browser);
    }
}
