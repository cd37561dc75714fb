using System.Net;
using Aspire.Hosting;
using Aspire.Hosting.Testing;

namespace Personalization.EndToEndTests;

/// <summary>
/// Back-pressure, not silent buffering: with RabbitMQ down the collector answers 503 with Retry-After,
/// and once it is back every event the client retried is counted exactly once.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class BrokerOutageTests(PlatformFixture platform)
{
    [Fact]
    public async Task WithTheBrokerStoppedTheCollectorAnswers503AndRetriedEventsCountExactlyOnce()
    {
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("outage");
        var batch = Enumerable.Range(0, 5).Select(i => Events.Track(user, "During Outage", $"outage-{user}-{i}")).ToArray();

        await platform.App.ResourceCommands.ExecuteCommandAsync("rabbitmq", "resource-stop");
        try
        {
            await WaitForStateAsync("rabbitmq", state => state is "Exited" or "Finished" or "Stopped");
            HttpResponseMessage? refused = null;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < deadline)
            {
                refused?.Dispose();
                refused = await gateway.SendBatchAsync(batch);
                if (refused.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    break;
                }
                Assert.True(refused.StatusCode != HttpStatusCode.OK, "a 2xx while the broker is down would be an event not safely queued");
                await Task.Delay(500);
            }
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused!.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            refused.Dispose();
        }
        finally
        {
            await platform.App.ResourceCommands.ExecuteCommandAsync("rabbitmq", "resource-start");
            using var healthy = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await platform.App.ResourceNotifications.WaitForResourceHealthyAsync("rabbitmq", healthy.Token);
        }

        // The client retries, as a Segment SDK does, until the platform accepts.
        var accepted = false;
        var retryUntil = DateTime.UtcNow.AddSeconds(90);
        while (!accepted && DateTime.UtcNow < retryUntil)
        {
            using var response = await gateway.SendBatchAsync(batch);
            accepted = response.StatusCode == HttpStatusCode.OK;
            if (!accepted)
            {
                await Task.Delay(1000);
            }
        }
        Assert.True(accepted, "the collector never accepted the batch after the broker came back");
        await gateway.SendAcceptedAsync(batch);   // a second retry of the same batch must not count twice
        await gateway.SendAcceptedAsync(Events.Track(user, "Marker"));

        // Redeliveries after the outage may overtake one another: wait for everything, then make sure
        // nothing arrives twice.
        await gateway.WaitForProfileAsync(user, p => p.Count("Marker") == 1 && p.Count("During Outage") >= 5, TimeSpan.FromSeconds(120));
        await Task.Delay(TimeSpan.FromSeconds(3));
        var profile = (await gateway.GetProfileAsync(user))!;
        Assert.Equal(5, profile.Count("During Outage"));
        Assert.Equal(6, profile.Long("totalEvents"));
    }

    private async Task WaitForStateAsync(string resource, Func<string?, bool> predicate)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await platform.App.ResourceNotifications.WaitForResourceAsync(resource, e => predicate(e.Snapshot.State?.Text), timeout.Token);
    }
}
