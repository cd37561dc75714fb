using System.Net;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.Testing;

namespace Personalization.EndToEndTests;

/// <summary>
/// Privacy through the gateway: erasure reaches every store and later events are suppressed, consent revoked
/// mid-stream stops what follows at every stage, opt-out signals land in the ledger, and a user's data can be exported.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class PrivacyTests(PlatformFixture platform)
{
    /// <summary>DELETE /v1/profiles/{id}, then polls the erasure until it completes; answers its final status.</summary>
    internal static async Task<JsonObject> EraseAsync(GatewayClient gateway, string userId)
    {
        var accepted = await gateway.AdminAsync(HttpMethod.Delete, $"/v1/profiles/{userId}", HttpStatusCode.Accepted);
        var statusUrl = accepted["statusUrl"]!.GetValue<string>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        JsonObject status;
        do
        {
            await Task.Delay(500);
            status = await gateway.AdminAsync(HttpMethod.Get, statusUrl, HttpStatusCode.OK);
        }
        while (status["status"]!.GetValue<string>() != "completed" && DateTime.UtcNow < deadline);
        Assert.True(status["status"]!.GetValue<string>() == "completed", $"erasure never completed: {status.ToJsonString()}");
        return status;
    }

    internal static long Removed(JsonObject status, string store, string kind) =>
        status["stores"]!.AsArray().Single(s => s!["store"]!.GetValue<string>() == store)!["removed"]![kind]?.GetValue<long>() ?? 0;

    /// <summary>An enriched event as aggregation receives it: what a message still queued for it holds.</summary>
    private static JsonObject Enriched(string userId, string name, string messageId) => new()
    {
        ["events"] = new JsonArray(new JsonObject
        {
            ["event"] = new JsonObject
            {
                ["type"] = "track", ["messageId"] = messageId, ["userId"] = userId, ["event"] = name,
                ["timestamp"] = DateTimeOffset.UtcNow.ToString("O"), ["receivedAt"] = DateTimeOffset.UtcNow.ToString("O"),
                ["purposes"] = new JsonArray("analytics", "personalization"),
            },
            ["session"] = new JsonObject { ["sessionId"] = "s-" + messageId, ["sequence"] = 1, ["isNewSession"] = true, ["startedAt"] = DateTimeOffset.UtcNow.ToString("O") },
            ["device"] = new JsonObject { ["deviceType"] = "desktop" },
        }),
    };

    [Fact]
    public async Task ErasureLeavesNothingOfTheUserInAnyStoreAndLaterEventsNeverReachAProfile()
    {
        using var gateway = new GatewayClient(platform.App);
        await using var broker = await Broker.ConnectAsync(platform.App);
        var user = Events.NewUser("erase");
        var anonymous = Events.NewUser("anon");
        var identify = Events.Identify(user, new JsonObject { ["email"] = $"{user}@example.test" });
        identify["anonymousId"] = anonymous;
        var viewed = Events.Track(user, "Product Viewed");
        var page = Events.Page(user, "Home");
        await gateway.PutConsentAsync(user, new Dictionary<string, bool> { ["analytics"] = true });
        await gateway.SendAcceptedAsync(identify, viewed, page);
        await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") == 3);

        // A message of theirs no stage can read: retried, then dead-lettered.
        var deadLetters = await broker.WatchAsync("events.collected.dead-letter");
        var poisonId = await broker.PublishAsync("events.collected", new JsonObject { ["type"] = "track", ["userId"] = user, ["event"] = 42 });
        await broker.WaitForAsync(deadLetters, poisonId, TimeSpan.FromSeconds(60));
        await DeadLetterTests.WaitForKeptAsync(gateway, "events.collected", poisonId);

        string[] traces = [user, anonymous, identify["messageId"]!.GetValue<string>(), viewed["messageId"]!.GetValue<string>(), page["messageId"]!.GetValue<string>()];
        var before = await StoreScan.FindAsync(platform.App, traces);
        Assert.Contains(before, place => place.StartsWith("redis", StringComparison.Ordinal));
        Assert.Contains(before, place => place.StartsWith("postgresql", StringComparison.Ordinal));

        var status = await EraseAsync(gateway, user);
        // The profile, and the redirect its identify left under the anonymous id it linked.
        Assert.Equal(2, Removed(status, "redis", "profiles"));
        Assert.Equal(1, Removed(status, "redis", "sessions"));
        Assert.Equal(1, Removed(status, "redis", "seenSets"));
        Assert.Equal(3, Removed(status, "redis", "dedupeMarkers"));
        Assert.True(Removed(status, "postgresql", "consentLedgerRowsPseudonymized") >= 1);
        Assert.Equal(1, Removed(status, "postgresql", "deadLetters"));
        Assert.Equal(1, Removed(status, "postgresql", "identityLinks"));
        Assert.DoesNotContain(user, status.ToJsonString());

        // After the erasure: the same user sends again, and a message of theirs still queued for aggregation arrives.
        var afterErasure = Events.Track(user, "After Erasure");
        await gateway.SendAcceptedAsync(afterErasure);
        var lateId = Guid.NewGuid().ToString();
        await broker.PublishAsync("events.enriched", Enriched(user, "Queued Before Erasure", lateId));
        var marker = Events.NewUser("marker");
        await gateway.SendAcceptedAsync(Events.Track(marker, "Marker"));
        await gateway.WaitForProfileAsync(marker, p => p.Count("Marker") == 1);
        await Task.Delay(TimeSpan.FromSeconds(3));

        Assert.Null(await gateway.GetProfileAsync(user));
        var after = await StoreScan.FindAsync(platform.App, [.. traces, lateId, afterErasure["messageId"]!.GetValue<string>()]);
        Assert.True(after.Count == 0, "found after erasure:\n" + string.Join("\n", after));
    }

    [Fact]
    public async Task ErasingAnUnknownUserCompletesWithZeroCounts()
    {
        using var gateway = new GatewayClient(platform.App);
        var status = await EraseAsync(gateway, Events.NewUser("never-seen"));
        foreach (var store in status["stores"]!.AsArray())
        {
            foreach (var (kind, count) in store!["removed"]!.AsObject())
            {
                if (kind != "suppressionListEntries") Assert.True(count!.GetValue<long>() == 0, $"{store["store"]} {kind} = {count}");
            }
        }
    }

    [Fact]
    public async Task PrivacyRoutesRefuseOtherKeysAndBadIds()
    {
        using var gateway = new GatewayClient(platform.App);
        foreach (var key in new[] { GatewayClient.ReadKey, GatewayClient.WriteKey })
        {
            using var erase = await gateway.SendAsync(GatewayClient.Request(HttpMethod.Delete, "/v1/profiles/someone", key));
            Assert.Equal(HttpStatusCode.Forbidden, erase.StatusCode);
            using var export = await gateway.SendAsync(GatewayClient.Request(HttpMethod.Get, "/v1/profiles/someone/export", key));
            Assert.Equal(HttpStatusCode.Forbidden, export.StatusCode);
        }

        var badId = await gateway.AdminAsync(HttpMethod.Delete, "/v1/profiles/a%7C%7Cb", HttpStatusCode.BadRequest);
        Assert.Equal("userId", badId["field"]!.GetValue<string>());
        var badErasure = await gateway.AdminAsync(HttpMethod.Get, "/v1/privacy/erasures/not-a-uuid", HttpStatusCode.BadRequest);
        Assert.Equal("erasureId", badErasure["field"]!.GetValue<string>());
        await gateway.AdminAsync(HttpMethod.Get, $"/v1/privacy/erasures/{Guid.NewGuid()}", HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task ConsentRevokedMidStreamMeansNoLaterEventIsCountedAtAnyStage()
    {
        using var gateway = new GatewayClient(platform.App);
        await using var broker = await Broker.ConnectAsync(platform.App);
        var user = Events.NewUser("revoke");
        var stream = Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                await gateway.SendAcceptedAsync(Events.Track(user, "Before"));
                await Task.Delay(25);
            }
        });
        await gateway.WaitForProfileAsync(user, p => p.Count("Before") >= 1);
        await gateway.PutConsentAsync(user, new Dictionary<string, bool> { ["analytics"] = false });
        for (var i = 0; i < 10; i++) await gateway.SendAcceptedAsync(Events.Track(user, "After"));
        // A message consent let through before the change, still queued for enrichment: enrichment must drop it now.
        var queued = Events.Track(user, "Queued");
        queued["purposes"] = new JsonArray("analytics", "personalization");
        queued["receivedAt"] = DateTimeOffset.UtcNow.ToString("O");
        await broker.PublishAsync("events.consented", new JsonObject { ["events"] = new JsonArray(queued) });
        await stream;

        var marker = Events.NewUser("marker");
        await gateway.SendAcceptedAsync(Events.Track(marker, "Marker"));
        await gateway.WaitForProfileAsync(marker, p => p.Count("Marker") == 1);
        await Task.Delay(TimeSpan.FromSeconds(3));

        var profile = (await gateway.GetProfileAsync(user))!;
        Assert.Equal(0, profile.Count("After"));
        Assert.Equal(0, profile.Count("Queued"));
    }

    [Fact]
    public async Task RevokingPersonalizationWithholdsTheProfileAtOnceAndDeletesIt()
    {
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("no-personalization");
        await gateway.SendAcceptedAsync(Events.Track(user, "Clicked"));
        await gateway.WaitForProfileAsync(user, p => p.Count("Clicked") == 1);

        await gateway.PutConsentAsync(user, new Dictionary<string, bool> { ["personalization"] = false });
        var withheld = await gateway.SendExpectingAsync(GatewayClient.ProfileRequest(user), HttpStatusCode.NotFound);
        Assert.Equal("urn:personalization:problem:profile-withheld", withheld["type"]!.GetValue<string>());
        await gateway.SendAcceptedAsync(Events.Track(user, "Clicked"));

        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync((await platform.App.GetConnectionStringAsync("redis"))!);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await redis.GetDatabase().KeyExistsAsync($"statestore||profile:{user}") && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.False(await redis.GetDatabase().KeyExistsAsync($"statestore||profile:{user}"), "the profile is still stored");
        Assert.False(await redis.GetDatabase().KeyExistsAsync($"statestore||session:{user}"), "the session is still stored");

        // Granted again, only what comes after counts: nothing derived from before survived.
        await gateway.PutConsentAsync(user, new Dictionary<string, bool> { ["personalization"] = true });
        await gateway.SendAcceptedAsync(Events.Track(user, "Clicked"));
        var profile = await gateway.WaitForProfileAsync(user, p => p.Count("Clicked") >= 1);
        Assert.Equal(1, profile.Count("Clicked"));
    }

    [Fact]
    public async Task GpcAndDoNotSellAreInTheLedgerWithTheirSourceKeyAndPolicyVersion()
    {
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("gpc");
        using (var request = GatewayClient.BatchRequest([Events.Track(user, "Viewed")]))
        {
            request.Headers.Add("Sec-GPC", "1");
            using var response = await gateway.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        // GPC denies marketing and sale, not analytics: the event is still counted.
        await gateway.WaitForProfileAsync(user, p => p.Count("Viewed") == 1);

        var history = await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Get, $"/v1/consent/{user}/history", GatewayClient.ReadKey), HttpStatusCode.OK);
        var entries = history["entries"]!.AsArray().Select(e => e!.AsObject()).ToList();
        Assert.Contains(entries, e => e["purpose"]!.GetValue<string>() == "marketing" && !e["granted"]!.GetValue<bool>() && e["source"]!.GetValue<string>() == "gpc");
        Assert.Contains(entries, e => e["purpose"]!.GetValue<string>() == "sale" && !e["granted"]!.GetValue<bool>() && e["source"]!.GetValue<string>() == "gpc");
        Assert.All(entries, e =>
        {
            Assert.Equal("write:default", e["keyId"]!.GetValue<string>());
            Assert.False(string.IsNullOrEmpty(e["policyVersion"]!.GetValue<string>()));
        });

        var other = Events.NewUser("dns");
        await gateway.AdminAsync(HttpMethod.Put, $"/v1/consent/{other}", HttpStatusCode.OK, new { doNotSellOrShare = true, policyVersion = "v9" });
        history = await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Get, $"/v1/consent/{other}/history", GatewayClient.ReadKey), HttpStatusCode.OK);
        var sale = history["entries"]!.AsArray().Single(e => e!["purpose"]!.GetValue<string>() == "sale")!;
        Assert.Equal("do-not-sell", sale["source"]!.GetValue<string>());
        Assert.Equal("v9", sale["policyVersion"]!.GetValue<string>());
        Assert.StartsWith("admin:", sale["keyId"]!.GetValue<string>());
    }

    [Fact]
    public async Task ExportHoldsTheProfileSessionsLinkedIdsAndConsentHistory()
    {
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("export");
        var anonymous = Events.NewUser("anon");
        var identify = Events.Identify(user, new JsonObject { ["plan"] = "pro" });
        identify["anonymousId"] = anonymous;
        await gateway.PutConsentAsync(user, new Dictionary<string, bool> { ["analytics"] = true });
        await gateway.SendAcceptedAsync(identify, Events.Page(user, "Home"));
        await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") == 2);

        var export = await gateway.AdminAsync(HttpMethod.Get, $"/v1/profiles/{user}/export", HttpStatusCode.OK);

        Assert.Equal("pro", export["profiles"]![user]!["traits"]!["plan"]!.GetValue<string>());
        Assert.Equal(2, export["profiles"]![user]!["totalEvents"]!.GetValue<long>());
        Assert.NotNull(export["sessions"]![user]);
        Assert.Contains(anonymous, export["linkedIds"]!.AsArray().Select(i => i!.GetValue<string>()));
        Assert.Equal("analytics", export["consentHistory"]![user]![0]!["purpose"]!.GetValue<string>());
        Assert.True(export["effectiveConsent"]!["analytics"]!.GetValue<bool>());
    }
}
