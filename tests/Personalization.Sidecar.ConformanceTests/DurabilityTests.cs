using Personalization.Sidecar.ConformanceTests.Infrastructure;

namespace Personalization.Sidecar.ConformanceTests;

public sealed class DurabilitySidecarFixture : SidecarFixture
{
    /// <summary>A sidecar without an app, to publish while the subscriber side is down.</summary>
    public SidecarProcess Publisher { get; private set; } = null!;

    protected override async Task StartAsync()
    {
        Resources.WithRabbitPubSub(Infra).WithInboundRetries(maxRetries: 3);
        Publisher = Own(await SidecarProcess.StartAsync(new SidecarOptions($"conf-publisher-{RunId}", Resources.Path)));
    }
}

/// <summary>At-least-once delivery across crashes: the broker keeps what the app has not acknowledged.</summary>
[Collection(ConformanceCollection.Name)]
public sealed class DurabilityTests(InfrastructureFixture infra, DurabilitySidecarFixture fixture)
    : IClassFixture<DurabilitySidecarFixture>, IAsyncLifetime
{
    public sealed record Order(string Marker, int Quantity);

    public Task InitializeAsync() => fixture.EnsureStartedAsync(infra);

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task AMessageTheAppHadNotAcknowledgedSurvivesKillDashNineOfTheSidecarAndIsRedeliveredAfterRestart()
    {
        var appId = $"conf-crash-{SidecarFixture.RunId}";
        var topic = $"crash-{SidecarFixture.RunId}";
        var queue = Broker.QueueOf(appId, topic);
        var marker = Guid.NewGuid().ToString("N");
        // First delivery: the app sits on it (no answer, so no ack). Any later delivery: success.
        await using var app = await SubscriberApp.StartAsync(
            [new(ResourcesFolder.PubSub, topic, "crash") { Answer = d => d.Attempt == 1 ? AppAnswer.Hang : AppAnswer.Success }]);
        var options = new SidecarOptions(appId, fixture.Resources.Path) { AppPort = app.Port };

        await using (var doomed = await SidecarProcess.StartAsync(options))
        {
            await Broker.WaitForQueuesAsync(infra.RabbitMq, [queue], () => doomed.OutputTail());
            await doomed.CreateClient().PublishEventAsync(ResourcesFolder.PubSub, topic, new Order(marker, 1));
            await app.WaitForAsync("crash", marker, diagnostics: () => doomed.OutputTail());

            await doomed.KillHardAsync();
        }

        // The broker took the un-acknowledged message back when the sidecar's connection died.
        await Eventually.IsTrueAsync(
            async () => await Broker.ReadyMessagesAsync(infra.RabbitMq, queue) == 1,
            $"the un-acked message to be back as ready in queue {queue}");

        await using var restarted = await SidecarProcess.StartAsync(options);
        var deliveries = await app.WaitForAsync("crash", marker, count: 2, diagnostics: () => restarted.OutputTail());
        Assert.Equal((string?)deliveries[0].Event["id"], (string?)deliveries[1].Event["id"]);
        await Eventually.IsTrueAsync(
            async () => await Broker.ReadyMessagesAsync(infra.RabbitMq, queue) == 0,
            $"queue {queue} to be empty once the app acknowledged the redelivery");
    }

    [Fact]
    public async Task MessagesPublishedWhileTheAppIsDownWaitInTheBrokerAndArriveOnceItIsUp()
    {
        var appId = $"conf-late-{SidecarFixture.RunId}";
        var topic = $"late-{SidecarFixture.RunId}";
        var queue = Broker.QueueOf(appId, topic);
        TopicSubscription[] subscriptions = [new(ResourcesFolder.PubSub, topic, "late")];

        // Subscribe once so the durable queue exists, then take the app and its sidecar down.
        await using (var firstApp = await SubscriberApp.StartAsync(subscriptions))
        await using (var firstSidecar = await SidecarProcess.StartAsync(new SidecarOptions(appId, fixture.Resources.Path) { AppPort = firstApp.Port }))
        {
            await Broker.WaitForQueuesAsync(infra.RabbitMq, [queue], () => firstSidecar.OutputTail());
        }

        var markers = Enumerable.Range(0, 5).Select(_ => Guid.NewGuid().ToString("N")).ToList();
        var publisher = fixture.Publisher.CreateClient();
        foreach (var marker in markers)
        {
            await publisher.PublishEventAsync(ResourcesFolder.PubSub, topic, new Order(marker, 1));
        }

        await Eventually.IsTrueAsync(
            async () => await Broker.ReadyMessagesAsync(infra.RabbitMq, queue) == (uint)markers.Count,
            $"{markers.Count} messages waiting in queue {queue}",
            diagnostics: () => fixture.Publisher.OutputTail());

        await using var app = await SubscriberApp.StartAsync(subscriptions);
        await using var sidecar = await SidecarProcess.StartAsync(new SidecarOptions(appId, fixture.Resources.Path) { AppPort = app.Port });
        foreach (var marker in markers)
        {
            await app.WaitForAsync("late", marker, diagnostics: () => sidecar.OutputTail());
        }
    }
}
