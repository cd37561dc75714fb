using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Personalization.EndToEndTests;

/// <summary>
/// What the enrichment service adds to events sent through the gateway, seen on <c>events.enriched</c> as the aggregation
/// service receives them: geo from the IP database, bot verdicts, the profile's current traits, and the third-party
/// provider's data, with the stream going on unenriched while that provider hangs or fails.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class EnrichmentTests(PlatformFixture platform)
{
    private const string Chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

    [Fact]
    public async Task AnIpIsPlacedFromTheGeoDatabaseUnlessTheEventSaysWhereItIs()
    {
        using var gateway = new GatewayClient(platform.App);
        await using var broker = await Broker.ConnectAsync(platform.App);
        var enriched = await broker.WatchAsync("events.enriched");
        var user = Events.NewUser("geo");
        var byIp = With(Events.Track(user, "Viewed"), ip: "81.2.69.142");
        var byLocation = With(Events.Track(user, "Viewed"), ip: "81.2.69.142");
        byLocation["context"]!["location"] = new JsonObject { ["country"] = "FR", ["city"] = "Paris" };
        var unknown = With(Events.Track(user, "Viewed"), ip: "10.20.30.40");

        await gateway.SendAcceptedAsync(byIp, byLocation, unknown);
        var seen = await WaitForEnrichedAsync(broker, enriched, Id(byIp), Id(byLocation), Id(unknown));

        var geo = seen[Id(byIp)]["geo"]!;
        Assert.Equal(("GB", "England", "Bracknell", "database", "Europe/London"),
            (Text(geo, "country"), Text(geo, "region"), Text(geo, "city"), Text(geo, "source"), Text(geo, "timeZone")));
        Assert.Equal(51.4036, geo["latitude"]!.GetValue<double>());
        var told = seen[Id(byLocation)]["geo"]!;
        Assert.Equal(("FR", "Paris", "location"), (Text(told, "country"), Text(told, "city"), Text(told, "source")));
        Assert.Null(seen[Id(unknown)]["geo"]);
    }

    [Fact]
    public async Task ACrawlersEventsAndAProfilesEventsPastTheRateLimitAreMarkedAsBots()
    {
        using var gateway = new GatewayClient(platform.App);
        await using var broker = await Broker.ConnectAsync(platform.App);
        var enriched = await broker.WatchAsync("events.enriched");
        var crawler = Events.NewUser("crawler");
        var person = Events.NewUser("person");
        var burst = Events.NewUser("burst");

        var crawled = Events.Track(crawler, "Viewed");
        crawled["context"]!["userAgent"] = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        var human = Events.Track(person, "Viewed");
        // 130 events of one profile within one minute of event time: the limit (Enrichment:Bots:MaxEventsPerWindow) is 120.
        var minute = DateTimeOffset.UtcNow.AddMinutes(-2);
        minute = new DateTimeOffset(minute.Year, minute.Month, minute.Day, minute.Hour, minute.Minute, 0, TimeSpan.Zero);
        var flood = Enumerable.Range(0, 130).Select(i =>
        {
            var e = Events.Track(burst, "Clicked");
            e["timestamp"] = minute.AddMilliseconds(100 * i).ToString("O");
            return e;
        }).ToArray();

        await gateway.SendAcceptedAsync([crawled, human, .. flood]);
        var seen = await WaitForEnrichedAsync(broker, enriched, [Id(crawled), Id(human), .. flood.Select(Id)]);

        var crawlerBot = seen[Id(crawled)]["bot"]!;
        Assert.True(crawlerBot["isBot"]!.GetValue<bool>());
        Assert.Equal("userAgent", Text(crawlerBot, "signal"));
        Assert.Equal("user agent contains 'bot' (crawler)", Text(crawlerBot, "reason"));
        Assert.Equal("bot", seen[Id(crawled)]["device"]!["deviceType"]!.GetValue<string>());
        Assert.False(seen[Id(human)]["bot"]!["isBot"]!.GetValue<bool>());

        var flagged = flood.Select(Id).Where(id => seen[id]["bot"]!["isBot"]!.GetValue<bool>()).ToList();
        Assert.Equal(flood.Skip(120).Select(Id), flagged);
        Assert.All(flagged, id => Assert.Equal("rate", Text(seen[id]["bot"]!, "signal")));
        Assert.StartsWith("121 events of the profile in the 00:01:00 from", Text(seen[flagged[0]]["bot"]!, "reason"));
    }

    [Fact]
    public async Task EachEventCarriesTheProfilesTraitsAsTheProfileHeldThem()
    {
        using var gateway = new GatewayClient(platform.App);
        await using var broker = await Broker.ConnectAsync(platform.App);
        var enriched = await broker.WatchAsync("events.enriched");
        var user = Events.NewUser("traits");

        var first = Events.Track(user, "Viewed");
        await gateway.SendAcceptedAsync(Events.Identify(user, new JsonObject { ["plan"] = "pro", ["company"] = new JsonObject { ["name"] = "Acme" } }), first);
        await gateway.WaitForProfileAsync(user, p => p["traits"]?["plan"] is not null && p.Long("totalEvents") == 2);
        var later = Events.Track(user, "Checked Out");
        await gateway.SendAcceptedAsync(later);
        var seen = await WaitForEnrichedAsync(broker, enriched, Id(later));

        Assert.Equal("""{"plan":"pro","company":{"name":"Acme"}}""", seen[Id(later)]["profileTraits"]!.ToJsonString());
    }

    [Fact]
    public async Task TheProviderEnrichesEventsAndWhileItHangsOrFailsEventsGoOnWithoutItsDataWithinABound()
    {
        using var gateway = new GatewayClient(platform.App);
        await using var broker = await Broker.ConnectAsync(platform.App);
        var enriched = await broker.WatchAsync("events.enriched");
        var user = Events.NewUser("provider");
        var provider = platform.Provider;
        try
        {
            provider.Behaviour = EnrichmentProvider.Mode.Answer;
            var answered = With(Events.Track(user, "Viewed"), ip: "81.2.69.142");
            await gateway.SendAcceptedAsync(answered);
            var seen = await WaitForEnrichedAsync(broker, enriched, Id(answered));
            Assert.Equal($$"""{"company":"Company of 81.2.69.142","userId":"{{user}}"}""", seen[Id(answered)]["provider"]?.ToJsonString());
            // Only the configured fields (Enrichment:Provider:Fields) left the platform.
            Assert.Equal($$"""{"context.ip":"81.2.69.142","userId":"{{user}}"}""", provider.SentFor(Id(answered))?["fields"]?.ToJsonString());

            foreach (var mode in new[] { EnrichmentProvider.Mode.Hang, EnrichmentProvider.Mode.Fail })
            {
                provider.Behaviour = mode;
                var calls = provider.Calls;
                var events = Enumerable.Range(0, 3).Select(_ => With(Events.Track(user, "Viewed"), ip: "81.2.69.142")).ToArray();
                var watch = Stopwatch.StartNew();
                foreach (var e in events) await gateway.SendAcceptedAsync(e);
                seen = await WaitForEnrichedAsync(broker, enriched, [.. events.Select(Id)]);
                // Each delivery waits for the provider at most its timeout; three deliveries, and the rest of the pipeline.
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"{mode}: took {watch.Elapsed}");
                Assert.All(events, e => Assert.Null(seen[Id(e)]["provider"]));
                Assert.All(events, e => Assert.Equal("GB", Text(seen[Id(e)]["geo"]!, "country"))); // the rest of the enrichment is there
                Assert.True(provider.Calls > calls || mode == EnrichmentProvider.Mode.Fail, $"{mode}: the provider was not called");
            }

            // Once the provider answers again (its circuit closes after Enrichment:Provider:BreakDuration), events get its data again.
            provider.Behaviour = EnrichmentProvider.Mode.Answer;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (true)
            {
                var again = With(Events.Track(user, "Viewed"), ip: "2.125.160.216");
                await gateway.SendAcceptedAsync(again);
                seen = await WaitForEnrichedAsync(broker, enriched, Id(again));
                if (seen[Id(again)]["provider"] is { } data)
                {
                    Assert.Equal("Company of 2.125.160.216", Text(data, "company"));
                    break;
                }
                Assert.True(DateTime.UtcNow < deadline, "events never got the provider's data again after it recovered");
                await Task.Delay(1000);
            }
        }
        finally
        {
            provider.Behaviour = EnrichmentProvider.Mode.Answer;
        }
    }

    private static JsonObject With(JsonObject e, string ip)
    {
        e["context"] ??= new JsonObject { ["userAgent"] = Chrome };
        e["context"]!["ip"] = ip;
        return e;
    }

    private static string Id(JsonObject e) => e["messageId"]!.GetValue<string>();

    private static string? Text(JsonNode node, string name) => node[name]?.GetValue<string>();

    /// <summary>The enriched events with these message ids, as published on <c>events.enriched</c>; fails after 60 s with those missing.</summary>
    private static async Task<Dictionary<string, JsonObject>> WaitForEnrichedAsync(Broker broker, string queue, params string[] messageIds)
    {
        var wanted = messageIds.ToHashSet(StringComparer.Ordinal);
        var found = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (found.Count < wanted.Count && DateTime.UtcNow < deadline)
        {
            foreach (var body in await broker.TakeAllAsync(queue))
            {
                var data = JsonNode.Parse(body)?["data"];
                foreach (var e in data?["events"] as JsonArray ?? [])
                {
                    if (e?["event"]?["messageId"]?.GetValue<string>() is { } id && wanted.Contains(id)) found[id] = e.AsObject();
                }
            }
            if (found.Count < wanted.Count) await Task.Delay(200);
        }
        if (found.Count < wanted.Count)
        {
            Assert.Fail($"{wanted.Count - found.Count} of {wanted.Count} events never arrived on events.enriched within 60 s, e.g. {wanted.Except(found.Keys).First()}");
        }
        return found;
    }
}
