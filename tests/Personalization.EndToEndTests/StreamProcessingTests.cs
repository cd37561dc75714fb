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
        // Other segments may exist (the demo storefront's, other tests'): look for this one among the profile's entries.
        Assert.Contains(entered, body => JsonNode.Parse(body)?["data"]?["changes"] is JsonArray batch
            && batch.Any(c => c?["profileId"]?.GetValue<string>() == late && c["entered"] is JsonArray into && into.Any(e => e?["segmentId"]?.GetValue<string>() == id)));

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
    private static JsonObject Anonymous(JsonObject e, string anonymousId)
    {
        e.Remove("userId");
        e["anonymousId"] = anonymousId;
        return e;
    }

    [Fact]
    public async Task AnIdentifiedVisitorsAnonymousProfileMergesIntoTheUsersAndLateAnonymousEventsFollow()
    {
        using var gateway = new GatewayClient(platform.App);
        var visitor = Events.NewUser("visitor");
        var user = Events.NewUser("member");
        var now = DateTimeOffset.UtcNow;

        // Before login: three pages and an order as an anonymous visitor, with a trait set then.
        await gateway.SendAcceptedAsync(
            At(Anonymous(Events.Page(user, "Home"), visitor), now.AddMinutes(-10)),
            At(Anonymous(Events.Page(user, "Shoes"), visitor), now.AddMinutes(-9)),
            At(Anonymous(Events.Page(user, "Cart"), visitor), now.AddMinutes(-8)),
            At(Anonymous(Events.Track(user, "Order Completed", properties: new JsonObject { ["revenue"] = 30 }), visitor), now.AddMinutes(-7)),
            At(Anonymous(Events.Identify(user, new JsonObject { ["size"] = "42", ["plan"] = "free" }), visitor), now.AddMinutes(-7)));
        await gateway.WaitForProfileAsync(visitor, p => p.Long("totalEvents") == 5);

        // Login: identify with both ids; then events as the user.
        var login = Events.Identify(user, new JsonObject { ["plan"] = "pro", ["email"] = "member@example.com" });
        login["anonymousId"] = visitor;
        await gateway.SendAcceptedAsync(At(login, now.AddMinutes(-6)), At(Events.Track(user, "Clicked"), now.AddMinutes(-5)));
        var merged = await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") == 7);
        Assert.Equal(user, merged["profileId"]!.GetValue<string>());
        Assert.Equal(3, merged.Long("pageViews"));
        Assert.Equal(1, merged.Count("Order Completed"));
        Assert.Equal(30m, merged["purchases"]!["revenue"]!.GetValue<decimal>());
        Assert.Equal("pro", merged["traits"]!["plan"]!.GetValue<string>());
        Assert.Equal("42", merged["traits"]!["size"]!.GetValue<string>());
        Assert.Contains(visitor, merged["mergedIds"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(7, merged["insights"]!["windows"]!["1h"]!["events"]!.GetValue<long>());

        // Read by the anonymous id: the merged profile.
        var byVisitor = await gateway.WaitForProfileAsync(visitor, p => p["profileId"]!.GetValue<string>() == user);
        Assert.Equal(7, byVisitor.Long("totalEvents"));

        // A late event of the anonymous id (sent before login, arriving now) lands in the merged profile.
        await gateway.SendAcceptedAsync(At(Anonymous(Events.Page(user, "Wishlist"), visitor), now.AddMinutes(-9.5)));
        var withLate = await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") == 8);
        Assert.Equal(4, withLate.Long("pageViews"));
        // Dwell per page, from the anonymous session: Shoes until Cart a minute later.
        Assert.Equal(60, withLate["insights"]!["engagement"]!["pageDwell"]!["Shoes"]!["totalSeconds"]!.GetValue<double>());
        Assert.Equal(now.AddMinutes(-10).ToUnixTimeSeconds(), DateTimeOffset.Parse(withLate["firstSeen"]!.GetValue<string>()).ToUnixTimeSeconds());
    }

    [Fact]
    public async Task AnAliasCycleEndsInOneProfileReadableByEitherId()
    {
        using var gateway = new GatewayClient(platform.App);
        var first = Events.NewUser("alias-a");
        var second = Events.NewUser("alias-b");
        await gateway.SendAcceptedAsync(Events.Track(first, "Clicked"), Events.Track(second, "Clicked"), Events.Track(second, "Clicked"));
        await gateway.WaitForProfileAsync(second, p => p.Long("totalEvents") == 2);
        await gateway.WaitForProfileAsync(first, p => p.Long("totalEvents") == 1);

        JsonObject Alias(string previousId, string userId) => new()
        {
            ["type"] = "alias", ["previousId"] = previousId, ["userId"] = userId, ["messageId"] = Guid.NewGuid().ToString(),
            ["timestamp"] = DateTimeOffset.UtcNow.ToString("O"),
        };
        // Links are taken in the order deliveries are: the second alias is sent once the first took effect.
        await gateway.SendAcceptedAsync(Alias(first, second));
        await gateway.WaitForProfileAsync(first, p => p["profileId"]!.GetValue<string>() == second);
        await gateway.SendAcceptedAsync(Alias(second, first));
        await gateway.SendAcceptedAsync(Events.Track(first, "Clicked"));

        // 3 clicks + 2 aliases + 1 click sent as the first id: one profile, mastered by the alias's user id.
        var merged = await gateway.WaitForProfileAsync(second, p => p.Long("totalEvents") == 6);
        Assert.Equal(4, merged.Count("Clicked"));
        var byFirst = await gateway.WaitForProfileAsync(first, p => p["profileId"]!.GetValue<string>() == second);
        Assert.Equal(6, byFirst.Long("totalEvents"));
        Assert.Equal([first], merged["mergedIds"]!.AsArray().Select(n => n!.GetValue<string>()));
    }
    [Fact]
    public async Task AScheduledEvaluationTakesAQuietProfileOutOfAWindowSegmentWithoutAnEvent()
    {
        using var gateway = new GatewayClient(platform.App);
        await using var broker = await Broker.ConnectAsync(platform.App);
        var changes = await broker.WatchAsync("segments.changed");
        var run = Guid.NewGuid().ToString("N");
        var id = $"active-{run[..8]}";
        var user = Events.NewUser("quiet");
        await gateway.AdminAsync(HttpMethod.Post, "/v1/segments", HttpStatusCode.Created, new
        {
            id, name = "Active in the last hour",
            rule = new { all = new object[] { new { field = "traits.run", op = "==", value = run }, new { field = "events", window = "1h", op = ">", value = 0 } } },
        });

        // Two events just inside the last hour (whose window starts at a whole minute): a member at once; within two
        // minutes they have left the window.
        var at = DateTimeOffset.UtcNow.AddMinutes(-58).AddSeconds(-30);
        await gateway.SendAcceptedAsync(At(Events.Identify(user, new JsonObject { ["run"] = run }), at), At(Events.Track(user, "Clicked"), at));
        await gateway.WaitForProfileAsync(user, p => p["segments"]?[id] is not null);

        // Nothing more is sent: the evaluation every Aggregation:EvaluationInterval takes the profile out, with the reason.
        var left = await gateway.WaitForProfileAsync(user, p => p["segments"]?[id] is null, TimeSpan.FromSeconds(150));
        Assert.Equal(2, left.Long("totalEvents"));
        Assert.Equal(0, left["insights"]!["windows"]!["1h"]!["events"]!.GetValue<long>());
        var exited = await broker.WaitForAsync(changes, "no longer holds", TimeSpan.FromSeconds(30));
        Assert.Contains(exited, body => body.Contains(user, StringComparison.Ordinal) && body.Contains(id, StringComparison.Ordinal));
        using var delete = GatewayClient.Request(HttpMethod.Delete, $"/v1/segments/{id}", GatewayClient.AdminKey);
        using var deleted = await gateway.SendAsync(delete);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
    }
}
