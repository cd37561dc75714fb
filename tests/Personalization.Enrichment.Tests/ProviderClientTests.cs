using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Personalization.Contracts;
using Personalization.Enrichment.Extensions;
using Personalization.Enrichment.Model;
using Personalization.Enrichment.ThirdParty;

namespace Personalization.Enrichment.Tests;

/// <summary>
/// The provider client as the service builds it (service defaults, then its own resilience pipeline), in front of a
/// fake provider: what it sends, what it takes from the answer, and that nothing the provider does stalls or fails the
/// caller.
/// </summary>
public sealed class ProviderClientTests
{
    private static readonly Uri Url = new("http://provider.test/enrich");

    private static CollectedEvent Event(string id, string? ip = null, string? userId = "u1") => new()
    {
        Type = EventTypes.Track,
        MessageId = id,
        UserId = userId,
        Event = "Clicked",
        Context = ip is null ? null : new JsonObject { ["ip"] = ip, ["library"] = new JsonObject { ["name"] = "analytics.js" } },
        Properties = new JsonObject { ["sku"] = "X-1" },
        Timestamp = DateTimeOffset.UnixEpoch,
        ReceivedAt = DateTimeOffset.UnixEpoch,
    };

    [Fact]
    public void TheRequestHoldsEachEventsMessageIdAndOnlyTheConfiguredFieldsItHas()
    {
        var body = ProviderClient.Request([Event("m1", "81.2.69.142"), Event("m2", userId: null)], ["context.ip", "userId", "properties.sku", "context.library.name"]);
        Assert.Equal(
            """{"events":[{"messageId":"m1","fields":{"context.ip":"81.2.69.142","userId":"u1","properties.sku":"X-1","context.library.name":"analytics.js"}},""" +
            """{"messageId":"m2","fields":{"properties.sku":"X-1"}}]}""",
            body.ToJsonString());
    }

    [Theory]
    [InlineData("context.ip", true)]
    [InlineData("properties.a.b", true)]
    [InlineData("userId", true)]
    [InlineData("context.", false)]
    [InlineData("messageIdx", false)]
    [InlineData("integrations.x", false)]
    [InlineData("", false)]
    public void OnlyFieldsOfAnEventAreValidPaths(string path, bool valid) => Assert.Equal(valid, EventFields.IsValidPath(path));

    [Fact]
    public async Task TheAnswersObjectsGoToTheirEventsAndAnythingElseIsIgnored()
    {
        using var fake = new FakeProvider(_ => Json(HttpStatusCode.OK, """{"results":{"m1":{"company":"Acme"},"m2":"not an object","m9":{"x":1}}}"""));
        await using var host = Build(fake);
        using var metrics = new Metrics();

        var answer = await host.Client.EnrichAsync([Event("m1", "81.2.69.142"), Event("m2")], CancellationToken.None);

        Assert.Equal("""{"company":"Acme"}""", answer["m1"].ToJsonString());
        Assert.False(answer.ContainsKey("m2"));
        Assert.Equal("""{"events":[{"messageId":"m1","fields":{"context.ip":"81.2.69.142"}},{"messageId":"m2","fields":{}}]}""", fake.Bodies.Single());
        Assert.Equal(1, metrics.Calls(ProviderOutcomes.Enriched));
    }

    [Fact]
    public async Task AHangingProviderTimesOutWithinTheTimeoutAndTheEventsGoOnWithout()
    {
        using var fake = new FakeProvider(async ct =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return await Json(HttpStatusCode.OK, "{}");
        });
        await using var host = Build(fake, o => (o.Timeout, o.AttemptTimeout) = (TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(200)));
        using var metrics = new Metrics();

        var watch = Stopwatch.StartNew();
        var answer = await host.Client.EnrichAsync([Event("m1", "1.2.3.4")], CancellationToken.None);

        Assert.Empty(answer);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2.5), $"took {watch.Elapsed}");
        Assert.Equal(2, fake.Calls); // the first attempt timed out, and its one retry
        Assert.Equal(1, metrics.Calls(ProviderOutcomes.Timeout));
    }

    [Fact]
    public async Task AnErrorIsRetriedOnceThenTheEventsGoOnWithout()
    {
        using var fake = new FakeProvider(_ => Json(HttpStatusCode.ServiceUnavailable, "{}"));
        await using var host = Build(fake);
        using var metrics = new Metrics();

        Assert.Empty(await host.Client.EnrichAsync([Event("m1")], CancellationToken.None));
        Assert.Equal(2, fake.Calls);
        Assert.Equal(1, metrics.Calls(ProviderOutcomes.Failed));
    }

    [Fact]
    public async Task AnAnswerOfAnotherShapeIsIgnored()
    {
        using var fake = new FakeProvider(_ => Json(HttpStatusCode.OK, """["m1"]"""));
        await using var host = Build(fake);
        using var metrics = new Metrics();

        Assert.Empty(await host.Client.EnrichAsync([Event("m1")], CancellationToken.None));
        Assert.Equal(1, metrics.Calls(ProviderOutcomes.InvalidAnswer));
    }

    [Fact]
    public async Task AProviderThatKeepsFailingIsNoLongerCalledWhileItsCircuitIsOpen()
    {
        using var fake = new FakeProvider(_ => Json(HttpStatusCode.InternalServerError, "{}"));
        await using var host = Build(fake, o => (o.Retries, o.MinimumThroughput, o.BreakDuration) = (0, 3, TimeSpan.FromMinutes(1)));
        using var metrics = new Metrics();

        for (var i = 0; i < 6; i++) Assert.Empty(await host.Client.EnrichAsync([Event($"m{i}")], CancellationToken.None));

        Assert.Equal(3, fake.Calls);
        Assert.Equal(3, metrics.Calls(ProviderOutcomes.Failed));
        Assert.Equal(3, metrics.Calls(ProviderOutcomes.CircuitOpen));
    }

    [Fact]
    public async Task ManyEventsGoInCallsOfAtMostTheConfiguredSize()
    {
        using var fake = new FakeProvider(_ => Json(HttpStatusCode.OK, """{"results":{}}"""));
        await using var host = Build(fake, o => o.MaxEventsPerCall = 2);

        await host.Client.EnrichAsync([Event("m1"), Event("m2"), Event("m3"), Event("m4"), Event("m5")], CancellationToken.None);

        Assert.Equal(3, fake.Calls);
    }

    [Fact]
    public async Task WithoutAUrlNothingIsCalled()
    {
        using var fake = new FakeProvider(_ => Json(HttpStatusCode.OK, "{}"));
        await using var host = Build(fake, o => o.Url = null);

        Assert.False(host.Client.IsConfigured);
        Assert.Empty(await host.Client.EnrichAsync([Event("m1")], CancellationToken.None));
        Assert.Equal(0, fake.Calls);
    }

    private static Task<HttpResponseMessage> Json(HttpStatusCode status, string body) =>
        Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") });

    private sealed class Built(IHost host) : IAsyncDisposable
    {
        public ProviderClient Client { get; } = host.Services.GetRequiredService<ProviderClient>();

        public async ValueTask DisposeAsync()
        {
            await host.StopAsync();
            host.Dispose();
        }
    }

    private static Built Build(FakeProvider fake, Action<ProviderOptions>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.AddServiceDefaults();
        builder.Services.AddOptions<EnrichmentOptions>().Configure(o =>
        {
            o.Provider.Url = Url;
            configure?.Invoke(o.Provider);
        });
        builder.Services.AddSingleton<EnrichmentTelemetry>();
        builder.AddProviderClient();
        builder.Services.AddHttpClient(ProviderClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => fake);
        return new Built(builder.Build());
    }

    /// <summary>The provider, in memory: answers each request with what <c>answer</c> gives, counting calls.</summary>
    private sealed class FakeProvider(Func<CancellationToken, Task<HttpResponseMessage>> answer) : HttpMessageHandler
    {
        private int _calls;

        public int Calls => _calls;
        public List<string> Bodies { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            Interlocked.Increment(ref _calls);
            var body = await request.Content!.ReadAsStringAsync(ct);
            lock (Bodies) Bodies.Add(body);
            return await answer(ct);
        }
    }

    /// <summary><c>enrichment.provider.calls</c> as recorded while it lives, per outcome.</summary>
    private sealed class Metrics : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _calls = [];

        public Metrics()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == EnrichmentTelemetry.Name && instrument.Name == "enrichment.provider.calls") listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key != "outcome") continue;
                    lock (_calls) _calls[(string)tag.Value!] = _calls.GetValueOrDefault((string)tag.Value!) + value;
                }
            });
            _listener.Start();
        }

        public long Calls(string outcome)
        {
            lock (_calls) return _calls.GetValueOrDefault(outcome);
        }

        public void Dispose() => _listener.Dispose();
    }
}
