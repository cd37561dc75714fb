using Dapr;
using Dapr.Client;
using Personalization.Sidecar.ConformanceTests.Infrastructure;

namespace Personalization.Sidecar.ConformanceTests;

public sealed class BrokerRestartSidecarFixture : SidecarFixture
{
    public const string Route = "restart";

    public string Topic { get; } = $"restart-{RunId}";

    public SidecarProcess Publisher { get; private set; } = null!;

    public SidecarProcess Subscriber { get; private set; } = null!;

    public SubscriberApp App { get; private set; } = null!;

    protected override async Task StartAsync()
    {
        Resources.WithRabbitPubSub(Infra).WithInboundRetries(maxRetries: 3);
        Publisher = Own(await SidecarProcess.StartAsync(new SidecarOptions($"conf-restart-pub-{RunId}", Resources.Path)));
        App = Own(await SubscriberApp.StartAsync([new(ResourcesFolder.PubSub, Topic, Route)]));
        Subscriber = Own(await SidecarProcess.StartAsync(
            new SidecarOptions($"conf-restart-sub-{RunId}", Resources.Path) { AppPort = App.Port }));
    }
}

/// <summary>
/// The broker goes away and comes back: nothing published while it is down is reported as published, and once it
/// is back, publishing and consuming resume within seconds on the same sidecar processes.
/// </summary>
[Collection(ConformanceCollection.Name)]
public sealed class BrokerRestartTests(InfrastructureFixture infra, BrokerRestartSidecarFixture fixture)
    : IClassFixture<BrokerRestartSidecarFixture>, IAsyncLifetime
{
    public sealed record Order(string Marker, int Quantity);

    private static readonly TimeSpan ResumeTimeout = TimeSpan.FromSeconds(30);

    public Task InitializeAsync() => fixture.EnsureStartedAsync(infra);

    public Task DisposeAsync() => Task.CompletedTask;

    private string Diagnostics() =>
        "publisher sidecar:" + Environment.NewLine + fixture.Publisher.OutputTail() + Environment.NewLine +
        "subscriber sidecar:" + Environment.NewLine + fixture.Subscriber.OutputTail();

    private static Order NewOrder(int quantity) => new(Guid.NewGuid().ToString("N"), quantity);

    [Fact]
    public async Task AfterABrokerRestartPublishingAndConsumingResumeAndNothingPublishedDuringTheOutageIsReportedAsPublished()
    {
        var publisher = fixture.Publisher.CreateClient();
        var queue = Broker.QueueOf(fixture.Subscriber.Options.AppId, fixture.Topic);
        await Broker.WaitForQueuesAsync(infra.RabbitMq, [queue], Diagnostics);

        // Warm up: publisher channels and exchange declarations exist before the broker goes away.
        var warmUp = Enumerable.Range(0, 8).Select(NewOrder).ToList();
        Assert.Empty((await publisher.BulkPublishEventAsync(ResourcesFolder.PubSub, fixture.Topic, warmUp)).FailedEntries);
        foreach (var order in warmUp)
        {
            await fixture.App.WaitForAsync(BrokerRestartSidecarFixture.Route, order.Marker, diagnostics: Diagnostics);
        }

        var duringOutage = Enumerable.Range(0, 5).Select(NewOrder).ToList();
        var reportedPublished = new List<Order>();
        await infra.StopRabbitMqAsync();
        try
        {
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
            {
                try
                {
                    var result = await publisher.BulkPublishEventAsync(
                        ResourcesFolder.PubSub, fixture.Topic, duringOutage, cancellationToken: timeout.Token);
                    var failed = result.FailedEntries.Select(f => f.Entry.EventData.Marker).ToHashSet();
                    reportedPublished.AddRange(duringOutage.Where(o => !failed.Contains(o.Marker)));
                }
                catch (Exception e) when (e is DaprException or OperationCanceledException)
                {
                    // The whole call failing is an honest answer too.
                }
            }

            // The first publish ever to a topic (its exchange not yet declared by this sidecar) while the broker is down.
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
            {
                var single = NewOrder(100);
                try
                {
                    await publisher.PublishEventAsync(ResourcesFolder.PubSub, fixture.Topic + "-new", single, timeout.Token);
                    reportedPublished.Add(single);
                }
                catch (Exception e) when (e is DaprException or OperationCanceledException)
                {
                }
            }
        }
        finally
        {
            await infra.StartRabbitMqAsync();
        }

        Assert.True(reportedPublished.Count == 0,
            $"{reportedPublished.Count} publish(es) answered success while the broker was down: {string.Join(", ", reportedPublished.Select(o => o.Marker))}");

        // Publishing resumes: the same sidecar process takes a bulk publish within seconds.
        var afterRestart = Enumerable.Range(0, 5).Select(NewOrder).ToList();
        var missing = afterRestart;
        var deadline = DateTime.UtcNow + ResumeTimeout;
        string lastError = "";
        while (missing.Count > 0 && DateTime.UtcNow < deadline)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                var result = await publisher.BulkPublishEventAsync(ResourcesFolder.PubSub, fixture.Topic, missing, cancellationToken: timeout.Token);
                var failed = result.FailedEntries.Select(f => f.Entry.EventData.Marker).ToHashSet();
                lastError = result.FailedEntries.FirstOrDefault()?.ErrorMessage ?? lastError;
                missing = missing.Where(o => failed.Contains(o.Marker)).ToList();
            }
            catch (Exception e) when (e is DaprException or OperationCanceledException)
            {
                lastError = e.InnerException?.Message ?? e.Message;
            }

            if (missing.Count > 0)
            {
                await Task.Delay(500);
            }
        }

        Assert.True(missing.Count == 0,
            $"{missing.Count} of {afterRestart.Count} publishes still failed {ResumeTimeout.TotalSeconds:0} s after the broker came back; last error: {lastError}{Environment.NewLine}{Diagnostics()}");

        // Consuming resumes: the subscriber sidecar (same process) delivers what was published after the restart.
        foreach (var order in afterRestart)
        {
            await fixture.App.WaitForAsync(BrokerRestartSidecarFixture.Route, order.Marker, timeout: ResumeTimeout, diagnostics: Diagnostics);
        }

        // The topic first published during the outage works now too.
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            await publisher.PublishEventAsync(ResourcesFolder.PubSub, fixture.Topic + "-new", NewOrder(150), timeout.Token);
        }

        // A single publish works as well, on every publisher channel the sidecar may pick.
        for (var i = 0; i < 8; i++)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await publisher.PublishEventAsync(ResourcesFolder.PubSub, fixture.Topic, NewOrder(200 + i), timeout.Token);
        }

        await Eventually.IsTrueAsync(
            async () => await Broker.ReadyMessagesAsync(infra.RabbitMq, queue) == 0,
            $"queue {queue} to be drained by the recovered consumer",
            ResumeTimeout,
            Diagnostics);
    }
}
