using System.Net;
using System.Text.Json.Nodes;

namespace Personalization.EndToEndTests;

/// <summary>
/// Windows, RFM, flags and segments, seen through the gateway like a client: events with their own timestamps go in,
/// the profile's insights and memberships come out, and segment changes are published on <c>segments.changed</c>.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class StreamProcessingTests(PlatformFixture platform)
{
    private static JsonObject At(JsonObject e, DateTimeOffset time)
    {
        e["timestamp"] = time.ToString("O");
        return e;
    }

    [Fact]
    public async Task EventTimeWindowsOrdersAndChurnRiskShowInTheProfileAndALateEventCountsInLifetimeOnly()
    {
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("windows");
        var now = DateTimeOffset.UtcNow;
        var events = new List<JsonObject>();
        // Five clicks a day from 34 to 7 days ago (the baseline), then quiet: an order two days ago and three pages now.
        for (var day = 34; day >= 7; day--)
        {
            for (var i = 0; i < 5; i++) events.Add(At(Events.Track(user, "Clicked"), now.AddDays(-day).AddSeconds(-i)));
        }
        events.Add(At(Events.Track(user, "Order Completed", properties: new JsonObject { ["revenue"] = 42.5 }), now.AddDays(-2)));
        for (var i = 0; i < 3; i++) events.Add(At(Events.Page(user, "Home"), now.AddSeconds(-i)));
        // Fifty days old: behind the watermark (35 days behind the newest event).
        events.Add(At(Events.Track(user, "Clicked"), now.AddDays(-50)));
        await gateway.SendAcceptedAsync([.. events]);

        var profile = await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") == 145);
        var insights = profile["insights"]!;
        Assert.Equal(141, profile.Count("Clicked"));
        Assert.Equal(3, insights["windows"]!["1h"]!["events"]!.GetValue<long>());
        Assert.Equal(4, insights["windows"]!["7d"]!["events"]!.GetValue<long>());
        Assert.Equal(23 * 5 + 4, insights["windows"]!["30d"]!["events"]!.GetValue<long>());
        Assert.Equal(23 * 5, insights["windows"]!["30d"]!["counts"]!["Clicked"]!.GetValue<long>());
        Assert.Equal(1, insights["rfm"]!["orders30d"]!.GetValue<long>());
        Assert.Equal(42.5m, insights["rfm"]!["revenue30d"]!.GetValue<decimal>());
        Assert.Equal(2, Math.Round(insights["rfm"]!["daysSinceLastOrder"]!.GetValue<double>()));
        Assert.Equal(1, profile["purchases"]!["orders"]!.GetValue<long>());

        var churn = insights["flags"]!["churnRisk"];
        Assert.True(churn is not null, $"no churn risk: {insights.ToJsonString()}");
        Assert.Equal("dailyEvents", churn["metric"]!.GetValue<string>());
        Assert.Equal(5, churn["baseline"]!.GetValue<double>(), 3);
        Assert.Contains("below 0.25 × the baseline of 5", churn["explanation"]!.GetValue<string>());
        Assert.Null(insights["flags"]!["anomaly"]);
    }

    [Fact]
    public async Task ABurstOfEventsRaisesTheAnomalyFlagWithItsExplanation()
    {
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("burst");
        var now = DateTimeOffset.UtcNow;
        await gateway.SendAcceptedAsync([.. Enumerable.Range(0, 250).Select(i => At(Events.Track(user, "Clicked"), now.AddMilliseconds(-4 * i)))]);

        var profile = await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") == 250);
        var anomaly = profile["insights"]!["flags"]!["anomaly"];
        Assert.True(anomaly is not null, $"no anomaly flag: {profile["insights"]!.ToJsonString()}");
        Assert.True(anomaly["current"]!.GetValue<double>() >= 125);
        Assert.Equal(120, anomaly["threshold"]!.GetValue<double>());
        Assert.Contains("events in the minute from", anomaly["explanation"]!.GetValue<string>());
    }

    [Fact]
    public async Task SegmentsAreManagedWithTheAdminKeyEvaluatedOnEveryChangeAndBackfilled()
    {
        using var gateway = new GatewayClient(platform.App);
        await using var broker = await Broker.ConnectAsync(platform.App);
        var changes = await broker.WatchAsync("segments.changed");
        var run = Guid.NewGuid().ToString("N");
        var id = $"buyers-{run[..8]}";
        var early = Events.NewUser("early");
        var late = Events.NewUser("late");
        JsonObject Traits() => new() { ["run"] = run, ["plan"] = "pro" };
        object Rule(int orders) => new
        {
            all = new object[]
            {
                new { field = "traits.run", op = "==", value = run },
                new { field = "traits.plan", op = "in", value = new[] { "pro", "team" } },
                new { field = "orders", window = "30d", op = ">=", value = orders },
            },
        };

        // A profile that exists before its segment does: the backfill puts it in.
        await gateway.SendAcceptedAsync(Events.Identify(early, Traits()), Events.Track(early, "Order Completed", properties: new JsonObject { ["revenue"] = 10 }));
        await gateway.WaitForProfileAsync(early, p => p.Long("totalEvents") == 2);

        var created = await gateway.AdminAsync(HttpMethod.Post, "/v1/segments", HttpStatusCode.Created, new { id, name = "Repeat buyers", rule = Rule(1) });
        Assert.Equal(1, created["version"]!.GetValue<long>());
        var member = await gateway.WaitForProfileAsync(early, p => p["segments"]?[id] is not null);
        Assert.Equal("traits.run = \"" + run + "\" == \"" + run + "\" and traits.plan = \"pro\" in [\"pro\",\"team\"] and orders[30d] = 1 ≥ 1",
            member["segments"]![id]!["reason"]!.GetValue<string>());
        await broker.WaitForAsync(changes, early, TimeSpan.FromSeconds(30));

        // A profile that qualifies through its own events enters as they are folded.
        await gateway.SendAcceptedAsync(Events.Identify(late, Traits()), Events.Track(late, "Order Completed"));
        await gateway.WaitForProfileAsync(late, p => p["segments"]?[id] is not null);
        var entered = await broker.WaitForAsync(changes, late, TimeSpan.FromSeconds(30));
        Assert.Contains(entered, body => body.Contains(late) && body.Contains("\"entered\":[{\"segmentId\":\"" + id, StringComparison.Ordinal));

        // A stricter rule: both leave without sending anything, with the reason.
        var changed = await gateway.AdminAsync(HttpMethod.Put, $"/v1/segments/{id}", HttpStatusCode.OK, new { name = "Repeat buyers", rule = Rule(2) });
        Assert.Equal(2, changed["version"]!.GetValue<long>());
        await gateway.WaitForProfileAsync(early, p => p["segments"]?[id] is null);
        await gateway.WaitForProfileAsync(late, p => p["segments"]?[id] is null);
        var exited = await broker.WaitForAsync(changes, "no longer holds", TimeSpan.FromSeconds(30));
        Assert.Contains(exited, body => body.Contains("orders[30d] ≥ 2", StringComparison.Ordinal) || body.Contains("orders[30d] \\u2265 2", StringComparison.Ordinal));

        var read = await gateway.AdminAsync(HttpMethod.Get, $"/v1/segments/{id}", HttpStatusCode.OK);
        Assert.Equal("Repeat buyers", read["segment"]!["name"]!.GetValue<string>());
        Assert.NotNull(read["backfill"]);
        var list = await gateway.AdminAsync(HttpMethod.Get, "/v1/segments", HttpStatusCode.OK);
        Assert.Contains(list["segments"]!.AsArray(), s => s!["id"]!.GetValue<string>() == id);

        await gateway.AdminAsync(HttpMethod.Post, "/v1/segments", HttpStatusCode.Conflict, new { id, name = "again", rule = Rule(1) });
        using (var delete = GatewayClient.Request(HttpMethod.Delete, $"/v1/segments/{id}", GatewayClient.AdminKey))
        using (var response = await gateway.SendAsync(delete))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }
        await gateway.AdminAsync(HttpMethod.Get, $"/v1/segments/{id}", HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task BadSegmentsAreRefusedNamingThePartAndOnlyTheAdminKeyManagesThem()
    {
        using var gateway = new GatewayClient(platform.App);
        var bad = await gateway.AdminAsync(HttpMethod.Post, "/v1/segments", HttpStatusCode.BadRequest, new
        {
            id = "bad-window", name = "x",
            rule = new { all = new object[] { new { field = "orders", op = ">", value = 1 }, new { field = "events", window = "2d", op = ">", value = 1 } } },
        });
        Assert.Equal("rule.all[1].window", bad["field"]!.GetValue<string>());
        Assert.Equal("urn:personalization:problem:invalid-request", bad["type"]!.GetValue<string>());
        var unknown = await gateway.AdminAsync(HttpMethod.Post, "/v1/segments", HttpStatusCode.BadRequest, new { id = "bad-field", name = "x", rule = new { field = "wealth", op = ">", value = 1 } });
        Assert.Contains("'wealth' is not a field", unknown["detail"]!.GetValue<string>());
        await gateway.AdminAsync(HttpMethod.Post, "/v1/segments", HttpStatusCode.BadRequest, new { id = "Not An Id", name = "x", rule = new { field = "orders", op = ">", value = 1 } });
        await gateway.AdminAsync(HttpMethod.Get, "/v1/segments/no-such-segment", HttpStatusCode.NotFound);
        await gateway.AdminAsync(HttpMethod.Delete, "/v1/segments/no-such-segment", HttpStatusCode.NotFound);

        foreach (var key in new[] { GatewayClient.WriteKey, GatewayClient.ReadKey })
        {
            using var request = GatewayClient.Request(HttpMethod.Get, "/v1/segments", key);
            using var response = await gateway.SendAsync(request);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }
    }
}
