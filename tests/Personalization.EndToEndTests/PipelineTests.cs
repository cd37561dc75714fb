using System.Net;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.Testing;

namespace Personalization.EndToEndTests;

/// <summary>
/// The whole pipeline, spoken to only through the gateway like a client: collector → consent →
/// enrichment → aggregation → profile-query, over the Dapr sidecars, RabbitMQ and Redis.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class PipelineTests(PlatformFixture platform)
{
    [Fact]
    public async Task IdentifyTrackAndPageForTwoUsersShowExactCountsAndTraitsInTheirProfiles()
    {
        using var gateway = new GatewayClient(platform.App);
        var alice = Events.NewUser("alice");
        var bob = Events.NewUser("bob");

        await gateway.SendAcceptedAsync(
            Events.Identify(alice, new JsonObject { ["plan"] = "pro", ["email"] = "alice@example.test" }),
            Events.Track(alice, "Product Viewed"),
            Events.Track(alice, "Product Viewed"),
            Events.Track(alice, "Order Completed"),
            Events.Page(alice, "Home"),
            Events.Identify(bob, new JsonObject { ["plan"] = "free" }),
            Events.Page(bob, "Pricing"),
            Events.Page(bob, "Docs"),
            Events.Track(bob, "Signed Up"));

        var a = await gateway.WaitForProfileAsync(alice, p => p.Long("totalEvents") == 5);
        var b = await gateway.WaitForProfileAsync(bob, p => p.Long("totalEvents") == 4);

        Assert.Equal(2, a.Count("Product Viewed"));
        Assert.Equal(1, a.Count("Order Completed"));
        Assert.Equal(1, a.Long("pageViews"));
        Assert.Equal("pro", a["traits"]?["plan"]?.GetValue<string>());
        Assert.Equal("alice@example.test", a["traits"]?["email"]?.GetValue<string>());
        Assert.Equal(1, a.Long("sessions"));
        Assert.Equal(2, b.Long("pageViews"));
        Assert.Equal(1, b.Count("Signed Up"));
        Assert.Equal("free", b["traits"]?["plan"]?.GetValue<string>());
    }

    [Fact]
    public async Task TheSameMessageIdSentTwiceCountsOnce()
    {
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("dup");
        var messageId = Guid.NewGuid().ToString();

        await gateway.SendAcceptedAsync(Events.Track(user, "Clicked", messageId));
        await gateway.SendAcceptedAsync(Events.Track(user, "Clicked", messageId));
        // A later, different event. Replicated stages do not keep the order of requests, so wait for both, then give a
        // duplicate that slipped through time to show before reading again.
        await gateway.SendAcceptedAsync(Events.Track(user, "Marker"));

        await gateway.WaitForProfileAsync(user, p => p.Count("Marker") == 1 && p.Count("Clicked") >= 1);
        await Task.Delay(TimeSpan.FromSeconds(1));
        var profile = (await gateway.GetProfileAsync(user))!;
        Assert.Equal(1, profile.Count("Clicked"));
        Assert.Equal(2, profile.Long("totalEvents"));

        // The collector stopped the second copy at the door: its de-dup marker is in the state store, with a TTL.
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync((await platform.App.GetConnectionStringAsync("redis"))!);
        var marker = $"statestore||dedupe:{messageId}";
        Assert.True(await redis.GetDatabase().KeyExistsAsync(marker), $"no de-duplication marker {marker}");
        Assert.NotNull(await redis.GetDatabase().KeyTimeToLiveAsync(marker));
    }

    [Fact]
    public async Task AnEventWhosePurposeLacksConsentNeverReachesTheProfile()
    {
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("consent");
        await gateway.PutConsentAsync(user, new Dictionary<string, bool> { ["analytics"] = true, ["marketing"] = false });

        await gateway.SendAcceptedAsync(
            Events.Track(user, "Newsletter Opened", properties: new JsonObject { ["purpose"] = "marketing" }),
            Events.Track(user, "Marker"));

        var profile = await gateway.WaitForProfileAsync(user, p => p.Count("Marker") == 1);
        await Task.Delay(TimeSpan.FromSeconds(1));
        profile = (await gateway.GetProfileAsync(user))!;
        Assert.Equal(0, profile.Count("Newsletter Opened"));
        Assert.Equal(1, profile.Long("totalEvents"));
    }

    [Fact]
    public async Task APoisonEventLandsInTheDeadLetterTopicWhileLaterEventsStillArrive()
    {
        await using var broker = await Broker.ConnectAsync(platform.App);
        var deadLetters = await broker.WatchAsync("events.collected.dead-letter");

        // A producer other than the collector publishes something no handler can read.
        var poisonId = await broker.PublishAsync("events.collected", new JsonObject { ["type"] = "track", ["event"] = 42 });

        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("after-poison");
        await gateway.SendAcceptedAsync(Events.Track(user, "Still Flowing"));
        await gateway.WaitForProfileAsync(user, p => p.Count("Still Flowing") == 1);

        await broker.WaitForAsync(deadLetters, poisonId, TimeSpan.FromSeconds(60));
    }
}
