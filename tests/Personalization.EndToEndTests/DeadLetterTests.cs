using System.Net;
using System.Text.Json.Nodes;

namespace Personalization.EndToEndTests;

/// <summary>Dead letters are kept with why they failed, and an operator can inspect, replay and purge them (admin key).</summary>
[Collection(PlatformCollection.Name)]
public sealed class DeadLetterTests(PlatformFixture platform)
{
    /// <summary>Waits until the dead letter of CloudEvent <paramref name="cloudEventId"/> is kept; answers it as listed.</summary>
    public static async Task<JsonObject> WaitForKeptAsync(GatewayClient gateway, string topic, string cloudEventId)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var page = await gateway.AdminAsync(HttpMethod.Get, $"/v1/admin/dead-letters?topic={topic}", HttpStatusCode.OK);
            if (page["deadLetters"]!.AsArray().FirstOrDefault(d => d!["cloudEventId"]!.GetValue<string>() == cloudEventId) is { } kept) return kept.AsObject();
            await Task.Delay(500);
        }
        Assert.Fail($"dead letter {cloudEventId} of {topic} was never kept");
        return null!;
    }

    [Fact]
    public async Task APoisonMessageIsKeptWithItsReasonAttemptsAndOwnerAndCanBeInspectedAndPurged()
    {
        using var gateway = new GatewayClient(platform.App);
        await using var broker = await Broker.ConnectAsync(platform.App);
        var user = Events.NewUser("poisoned");
        var poisonId = await broker.PublishAsync("events.collected", new JsonObject { ["type"] = "track", ["userId"] = user, ["event"] = 42 });

        var kept = await WaitForKeptAsync(gateway, "events.collected", poisonId);
        Assert.StartsWith("unreadable", kept["reason"]!.GetValue<string>());
        Assert.True(kept["attempts"]!.GetValue<int>() >= 1);
        Assert.Contains(user, kept["profileIds"]!.AsArray().Select(i => i!.GetValue<string>()));

        var id = kept["id"]!.GetValue<long>();
        var inspected = await gateway.AdminAsync(HttpMethod.Get, $"/v1/admin/dead-letters/{id}", HttpStatusCode.OK);
        Assert.Equal(42, inspected["data"]!["event"]!.GetValue<int>());

        await gateway.AdminAsync(HttpMethod.Delete, $"/v1/admin/dead-letters/{id}", HttpStatusCode.OK);
        await gateway.AdminAsync(HttpMethod.Get, $"/v1/admin/dead-letters/{id}", HttpStatusCode.NotFound);
        await gateway.AdminAsync(HttpMethod.Post, $"/v1/admin/dead-letters/{id}/replay", HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AReplayedDeadLetterIsCountedOnceHoweverOftenItIsReplayed()
    {
        using var gateway = new GatewayClient(platform.App);
        await using var broker = await Broker.ConnectAsync(platform.App);
        var user = Events.NewUser("replayed");
        // A message that failed on events.consented for a reason now gone (say, a store that was down), twice.
        var e = Events.Track(user, "Recovered");
        e["receivedAt"] = DateTimeOffset.UtcNow.ToString("O");
        var message = new JsonObject { ["events"] = new JsonArray(e) };
        var first = await broker.PublishAsync("events.consented.dead-letter", message);
        var second = await broker.PublishAsync("events.consented.dead-letter", message);
        var kept = await WaitForKeptAsync(gateway, "events.consented", first);
        await WaitForKeptAsync(gateway, "events.consented", second);

        await gateway.AdminAsync(HttpMethod.Post, $"/v1/admin/dead-letters/{kept["id"]}/replay", HttpStatusCode.OK);
        await gateway.WaitForProfileAsync(user, p => p.Count("Recovered") == 1);
        var all = await gateway.AdminAsync(HttpMethod.Post, "/v1/admin/dead-letters/replay?topic=events.consented", HttpStatusCode.OK);
        Assert.True(all["replayed"]!.GetValue<int>() >= 1);

        var marker = Events.NewUser("marker");
        await gateway.SendAcceptedAsync(Events.Track(marker, "Marker"));
        await gateway.WaitForProfileAsync(marker, p => p.Count("Marker") == 1);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(1, (await gateway.GetProfileAsync(user))!.Count("Recovered"));
    }

    [Fact]
    public async Task DeadLetterRoutesNeedTheAdminKeyAndNameBadInput()
    {
        using var gateway = new GatewayClient(platform.App);
        using (var read = await gateway.SendAsync(GatewayClient.Request(HttpMethod.Get, "/v1/admin/dead-letters", GatewayClient.ReadKey)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, read.StatusCode);
        }
        var badTopic = await gateway.AdminAsync(HttpMethod.Get, "/v1/admin/dead-letters?topic=nope", HttpStatusCode.BadRequest);
        Assert.Equal("topic", badTopic["field"]!.GetValue<string>());
        await gateway.AdminAsync(HttpMethod.Post, "/v1/admin/dead-letters/999999999/replay", HttpStatusCode.NotFound);
    }
}
