using System.Text.Json.Nodes;
using Aspire.Hosting;

namespace Personalization.EndToEndTests;

/// <summary>
/// The bulk paths: every consuming stage takes its messages in bulk deliveries and answers per message, messages carry
/// several events, and every consuming service runs <see cref="PlatformFixture.Replicas"/> replicas.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class BatchDeliveryTests(PlatformFixture platform)
{
    /// <summary>A collected event as the collector publishes it (ids, times), for publishing straight to the broker.</summary>
    private static JsonObject Collected(string userId, string eventName, string? messageId = null)
    {
        var now = DateTimeOffset.UtcNow.ToString("O");
        return new JsonObject
        {
            ["type"] = "track", ["messageId"] = messageId ?? Guid.NewGuid().ToString(), ["userId"] = userId, ["event"] = eventName,
            ["timestamp"] = now, ["receivedAt"] = now,
        };
    }

    private static JsonObject Batch(params JsonObject[] events) => new() { ["events"] = new JsonArray([.. events]) };

    [Fact]
    public async Task APoisonMessageAmongGoodOnesIsDeadLetteredAloneWhileItsNeighboursAreCountedExactly()
    {
        await using var broker = await Broker.ConnectAsync(platform.App);
        var deadLetters = await broker.WatchAsync("events.collected.dead-letter");
        var user = Events.NewUser("neighbours");

        // Published back to back, so they arrive in the same bulk deliveries: the poison must fail alone.
        var good = new List<string>();
        string? poisonId = null;
        for (var i = 0; i < 10; i++)
        {
            if (i == 5) poisonId = await broker.PublishAsync("events.collected", Batch(Collected(user, "Clicked"), new JsonObject { ["type"] = "track" }));
            good.Add(await broker.PublishAsync("events.collected", Batch(Collected(user, "Viewed"), Collected(user, "Clicked"))));
        }

        using var gateway = new GatewayClient(platform.App);
        var profile = await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") >= 20);
        var taken = await broker.WaitForAsync(deadLetters, poisonId!, TimeSpan.FromSeconds(60));

        // The poison's good first event is not counted (a message is applied whole or not at all); its neighbours are.
        profile = (await gateway.GetProfileAsync(user))!;
        Assert.Equal(20, profile.Long("totalEvents"));
        Assert.Equal(10, profile.Count("Viewed"));
        Assert.Equal(10, profile.Count("Clicked"));
        await Task.Delay(TimeSpan.FromSeconds(2));
        taken.AddRange(await broker.TakeAllAsync(deadLetters));
        Assert.Single(taken);
        Assert.DoesNotContain(taken, body => good.Any(id => body.Contains(id, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task AMessageDeliveredAgainCountsOnceWhetherTheCopyComesInTheSameDeliveryOrLater()
    {
        await using var broker = await Broker.ConnectAsync(platform.App);
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("redelivered");
        var message = Batch(Collected(user, "Viewed"), Collected(user, "Clicked"), Collected(user, "Clicked"));

        // Two copies back to back (one bulk delivery, or two deliveries on two replicas at once), then a third later:
        // the same event ids each time, as a broker redelivery would bring them.
        await broker.PublishAsync("events.collected", message);
        await broker.PublishAsync("events.collected", message);
        await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") >= 3);
        await broker.PublishAsync("events.collected", message);
        await broker.PublishAsync("events.collected", Batch(Collected(user, "Marker")));

        // Replicas do not keep publish order: once the marker shows, give a late copy time to (wrongly) count, then read.
        await gateway.WaitForProfileAsync(user, p => p.Count("Marker") == 1);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var profile = (await gateway.GetProfileAsync(user))!;
        Assert.Equal(4, profile.Long("totalEvents"));
        Assert.Equal(1, profile.Count("Viewed"));
        Assert.Equal(2, profile.Count("Clicked"));
        Assert.Equal(1, profile.Long("sessions"));
    }

    [Fact]
    public async Task DeliveriesOfFullSizeSegmentBatchesAddingUpToMoreThanOneSidecarRequestAreCountedExactly()
    {
        await using var broker = await Broker.ConnectAsync(platform.App);
        var deadLetters = await broker.WatchAsync("events.consented.dead-letter");
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("large");
        const int Messages = 32, PerMessage = 15;

        // Messages of the largest size a Segment SDK sends (15 events of 30 KB: 450 KB), published while consent is paused
        // so its sidecar takes them into one or two deliveries once it resumes: what a stage passes on from such a
        // delivery is far over the 4 MiB a sidecar takes in one bulk publish request, and the delivery itself over the
        // 30 MB an app takes in one request by default.
        var padding = new string('x', 30_000);
        var consent = PlatformFixture.ReplicaNames("consent").Select(name => ResourceProcesses.Of(platform.App, name)).ToList();
        var paused = consent.Select(ResourceProcesses.Pause).ToList();
        try
        {
            for (var m = 0; m < Messages; m++)
            {
                var events = Enumerable.Range(0, PerMessage).Select(_ => Collected(user, "Viewed")).ToArray();
                foreach (var e in events) e["properties"] = new JsonObject { ["description"] = padding };
                await broker.PublishAsync("events.collected", Batch(events));
            }
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
        finally
        {
            paused.ForEach(p => p.Dispose());
        }

        var profile = await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") >= Messages * PerMessage, TimeSpan.FromSeconds(90));
        Assert.Equal(Messages * PerMessage, profile.Long("totalEvents"));
        Assert.Empty(await broker.TakeAllAsync(deadLetters));
    }

    [Fact]
    public async Task EveryConsumingServiceRunsItsReplicasOnOneSharedQueue()
    {
        await using var broker = await Broker.ConnectAsync(platform.App);
        Assert.Equal((uint)PlatformFixture.Replicas, await broker.ConsumerCountAsync("consent-events.collected"));
        Assert.Equal((uint)PlatformFixture.Replicas, await broker.ConsumerCountAsync("enrichment-events.consented"));
        Assert.Equal((uint)PlatformFixture.Replicas, await broker.ConsumerCountAsync("aggregation-events.enriched"));
    }

    [Fact]
    public async Task ConcurrentRequestsForTheSameUsersThroughReplicatedStagesGiveExactCounts()
    {
        using var gateway = new GatewayClient(platform.App);
        var users = Enumerable.Range(0, 8).Select(i => Events.NewUser($"replicas{i}")).ToArray();
        const int Requests = 40, PerRequest = 20;

        // Every request carries events of every user, and requests run concurrently: both replicas of every stage
        // handle the same profiles at the same moment, so their etag-guarded writes collide and must be redone.
        await Parallel.ForAsync(0, Requests, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (r, _) =>
        {
            var events = Enumerable.Range(0, PerRequest).Select(i => i % 4 == 3
                ? Events.Page(users[(r + i) % users.Length], "Home")
                : Events.Track(users[(r + i) % users.Length], i % 2 == 0 ? "Viewed" : "Clicked")).ToArray();
            await gateway.SendAcceptedAsync(events);
        });

        const int PerUser = Requests * PerRequest / 8;
        foreach (var user in users)
        {
            var profile = await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") >= PerUser, TimeSpan.FromSeconds(90));
            Assert.Equal(PerUser, profile.Long("totalEvents"));
            Assert.Equal(PerUser / 4, profile.Long("pageViews"));
            Assert.Equal(PerUser / 2, profile.Count("Viewed"));
            Assert.Equal(PerUser / 4, profile.Count("Clicked"));
            Assert.Equal(1, profile.Long("sessions"));
        }
        await Task.Delay(TimeSpan.FromSeconds(1));
        foreach (var user in users)
        {
            Assert.Equal(PerUser, (await gateway.GetProfileAsync(user))!.Long("totalEvents"));
        }
    }
}
