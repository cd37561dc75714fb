using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapr.Client;
using Grpc.Core;
using Personalization.Sidecar.ConformanceTests.Infrastructure;

namespace Personalization.Sidecar.ConformanceTests;

public sealed class PubSubSidecarFixture : SidecarFixture
{
    public const int MaxRetries = 3;

    public SidecarProcess Sidecar { get; private set; } = null!;

    public DaprClient Client { get; private set; } = null!;

    public SubscriberApp App { get; private set; } = null!;

    public string AppId { get; } = $"conf-pubsub-{RunId}";

    /// <summary>Topic names carry the run id so queues of earlier runs never interfere.</summary>
    public static string Topic(string name) => $"{name}-{RunId}";

    protected override async Task StartAsync()
    {
        Resources.WithRabbitPubSub(Infra).WithInboundRetries(MaxRetries);
        var pubsub = ResourcesFolder.PubSub;
        TopicSubscription[] subscriptions =
        [
            new(pubsub, Topic("orders"), "orders"),
            new(pubsub, Topic("raw"), "raw") { RawPayload = true },
            new(pubsub, Topic("bulk"), "bulk") { BulkSubscribe = true, BulkMaxMessages = 50, BulkMaxAwaitMs = 500 },
            new(pubsub, Topic("retry"), "retry") { DeadLetterTopic = Topic("retry-dead"), Answer = d => d.Attempt <= 2 ? AppAnswer.Retry : AppAnswer.Success },
            new(pubsub, Topic("retry-dead"), "retry-dead"),
            new(pubsub, Topic("drop"), "drop") { DeadLetterTopic = Topic("drop-dead"), Answer = _ => AppAnswer.Drop },
            new(pubsub, Topic("drop-dead"), "drop-dead"),
            new(pubsub, Topic("drop-plain"), "drop-plain") { Answer = _ => AppAnswer.Drop },
            new(pubsub, Topic("missing"), "missing") { Answer = _ => AppAnswer.NotFound },
            new(pubsub, Topic("throws"), "throws") { DeadLetterTopic = Topic("throws-dead"), Answer = _ => AppAnswer.Throw },
            new(pubsub, Topic("throws-dead"), "throws-dead"),
        ];
        App = Own(await SubscriberApp.StartAsync(subscriptions));
        Sidecar = Own(await SidecarProcess.StartAsync(new SidecarOptions(AppId, Resources.Path) { AppPort = App.Port }));
        Client = Sidecar.CreateClient();
        await Broker.WaitForQueuesAsync(Infra.RabbitMq, subscriptions.Select(s => Broker.QueueOf(AppId, s.Topic)), () => Sidecar.OutputTail());
    }
}

/// <summary>Publishing, CloudEvents and the app-answer semantics, through a RabbitMQ pubsub component.</summary>
[Collection(ConformanceCollection.Name)]
public sealed class PublishSubscribeTests(InfrastructureFixture infra, PubSubSidecarFixture fixture)
    : IClassFixture<PubSubSidecarFixture>, IAsyncLifetime
{
    private const string PubSub = ResourcesFolder.PubSub;

    /// <summary>Long enough for every retry of the test resiliency policy (3 × 100 ms) to have happened.</summary>
    private static readonly TimeSpan SettleTime = TimeSpan.FromSeconds(1.5);

    public sealed record Order(string Marker, int Quantity);

    private DaprClient Dapr => fixture.Client;

    private SubscriberApp App => fixture.App;

    private static string Topic(string name) => PubSubSidecarFixture.Topic(name);

    private static string NewMarker() => Guid.NewGuid().ToString("N");

    private string Diagnostics() => fixture.Sidecar.OutputTail();

    public Task InitializeAsync() => fixture.EnsureStartedAsync(infra);

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task ThePublishedEventArrivesAsACloudEventWithEveryDocumentedField()
    {
        var marker = NewMarker();
        var before = DateTimeOffset.UtcNow.AddSeconds(-2);

        await Dapr.PublishEventAsync(PubSub, Topic("orders"), new Order(marker, 3));

        var delivery = Assert.Single(await App.WaitForAsync("orders", marker, diagnostics: Diagnostics));
        var ev = delivery.Event;
        Assert.StartsWith("application/cloudevents+json", delivery.ContentType, StringComparison.Ordinal);
        Assert.True(Guid.TryParse((string?)ev["id"], out _), $"id should be a uuid: {ev["id"]}");
        Assert.Equal(fixture.AppId, (string?)ev["source"]);
        Assert.Equal("com.dapr.event.sent", (string?)ev["type"]);
        Assert.Equal("1.0", (string?)ev["specversion"]);
        Assert.Equal("application/json", (string?)ev["datacontenttype"]);
        Assert.Equal(Topic("orders"), (string?)ev["topic"]);
        Assert.Equal(PubSub, (string?)ev["pubsubname"]);
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$", (string?)ev["traceparent"]);
        Assert.Equal((string?)ev["traceparent"], (string?)ev["traceid"]);
        Assert.True(ev.ContainsKey("tracestate"), "the envelope carries tracestate (empty when none was given)");
        var time = DateTimeOffset.Parse((string)ev["time"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(time, before, DateTimeOffset.UtcNow.AddSeconds(2));
        var data = Assert.IsType<JsonObject>(ev["data"]);
        Assert.Equal(marker, (string?)data["marker"]);
        Assert.Equal(3, (int?)data["quantity"]);
    }

    [Fact]
    public async Task TheTraceparentOfTheHttpPublishCallReachesTheSubscriber()
    {
        var marker = NewMarker();
        var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1.0/publish/{PubSub}/{Topic("orders")}")
        {
            Content = new StringContent($$"""{"marker":"{{marker}}","quantity":1}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("traceparent", $"00-{traceId}-0102030405060708-01");
        request.Headers.TryAddWithoutValidation("tracestate", "conformance=1");

        using var response = await fixture.Sidecar.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);

        var delivery = Assert.Single(await App.WaitForAsync("orders", marker, diagnostics: Diagnostics));
        Assert.Contains(traceId, (string?)delivery.Event["traceparent"], StringComparison.Ordinal);
        Assert.Equal("conformance=1", (string?)delivery.Event["tracestate"]);
        Assert.Contains(traceId, delivery.Headers.GetValueOrDefault("traceparent"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CloudEventMetadataOverridesTheEnvelopeFields()
    {
        var marker = NewMarker();

        await Dapr.PublishEventAsync(PubSub, Topic("orders"), new Order(marker, 1), new Dictionary<string, string>
        {
            ["cloudevent.id"] = "custom-" + marker,
            ["cloudevent.source"] = "custom-source",
            ["cloudevent.type"] = "custom.type",
            ["cloudevent.subject"] = "custom-subject",
        });

        var ev = Assert.Single(await App.WaitForAsync("orders", marker, diagnostics: Diagnostics)).Event;
        Assert.Equal("custom-" + marker, (string?)ev["id"]);
        Assert.Equal("custom-source", (string?)ev["source"]);
        Assert.Equal("custom.type", (string?)ev["type"]);
        Assert.Equal("custom-subject", (string?)ev["subject"]);
    }

    [Fact]
    public async Task ARawPayloadIsPublishedUnwrappedAndReachesARawSubscriberAsDataBase64()
    {
        var marker = NewMarker();
        var published = JsonSerializer.SerializeToUtf8Bytes(new Order(marker, 4), JsonSerializerOptions.Web);

        await Dapr.PublishEventAsync(PubSub, Topic("raw"), new Order(marker, 4), new Dictionary<string, string> { ["rawPayload"] = "true" });

        var ev = Assert.Single(await App.WaitForAsync("raw", marker, diagnostics: Diagnostics)).Event;
        Assert.False(ev.ContainsKey("data"), "a raw payload is delivered as data_base64, never as data");
        Assert.Equal(published, Convert.FromBase64String((string)ev["data_base64"]!));
        Assert.Equal("application/octet-stream", (string?)ev["datacontenttype"]);
        Assert.Equal(Topic("raw"), (string?)ev["topic"]);
        Assert.Equal(PubSub, (string?)ev["pubsubname"]);
    }

    [Fact]
    public async Task BulkPublishDeliversEveryEntry()
    {
        var orders = Enumerable.Range(0, 10).Select(i => new Order(NewMarker(), i)).ToList();

        var result = await Dapr.BulkPublishEventAsync(PubSub, Topic("orders"), orders);

        Assert.Empty(result.FailedEntries);
        foreach (var order in orders)
        {
            var ev = Assert.Single(await App.WaitForAsync("orders", order.Marker, diagnostics: Diagnostics)).Event;
            Assert.Equal(order.Quantity, (int?)ev["data"]?["quantity"]);
            Assert.Equal(fixture.AppId, (string?)ev["source"]);
        }
    }

    [Fact]
    public async Task HttpBulkPublishReadsFieldNamesIgnoringCaseAndIgnoresUnknownOnesAsDaprdDoes()
    {
        var marker = NewMarker();
        var entries = $$$"""[{"EntryID":"1","EVENT":{"marker":"{{{marker}}}","quantity":3},"ContentType":"application/json","Unknown":true,"Metadata":{"n":1}}]""";
        using var content = new StringContent(entries, Encoding.UTF8, "application/json");

        using var response = await fixture.Sidecar.Http.PostAsync($"/v1.0-alpha1/publish/bulk/{PubSub}/{Topic("orders")}", content);

        Assert.True(response.IsSuccessStatusCode, $"bulk publish answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        var ev = Assert.Single(await App.WaitForAsync("orders", marker, diagnostics: Diagnostics)).Event;
        Assert.Equal(3, (int?)ev["data"]?["quantity"]);
    }

    [Fact]
    public async Task HttpBulkPublishDeliversEveryEntry()
    {
        var markers = Enumerable.Range(0, 5).Select(_ => NewMarker()).ToList();
        var entries = new JsonArray([.. markers.Select((m, i) => (JsonNode)new JsonObject
        {
            ["entryId"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["event"] = new JsonObject { ["marker"] = m, ["quantity"] = i },
            ["contentType"] = "application/json",
        })]);
        using var content = new StringContent(entries.ToJsonString(), Encoding.UTF8, "application/json");

        using var response = await fixture.Sidecar.Http.PostAsync($"/v1.0-alpha1/publish/bulk/{PubSub}/{Topic("orders")}", content);

        Assert.True(response.IsSuccessStatusCode, $"bulk publish answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        for (var i = 0; i < markers.Count; i++)
        {
            var ev = Assert.Single(await App.WaitForAsync("orders", markers[i], diagnostics: Diagnostics)).Event;
            Assert.Equal(i, (int?)ev["data"]?["quantity"]);
        }
    }

    [Fact]
    public async Task MetadataNamesTheAppIdComponentsAndSubscriptions()
    {
        using var response = await fixture.Sidecar.Http.GetAsync("/v1.0/metadata");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var metadata = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(fixture.AppId, (string?)metadata["id"]);
        var pubsub = Assert.Single(metadata["components"]!.AsArray(), c => (string?)c?["name"] == PubSub)!;
        Assert.Equal("pubsub.rabbitmq", (string?)pubsub["type"]);
        var topics = metadata["subscriptions"]!.AsArray().Select(s => (string?)s?["topic"]).ToList();
        Assert.Contains(Topic("orders"), topics);
        Assert.Contains(Topic("throws-dead"), topics);

        var grpc = await Dapr.GetMetadataAsync();
        Assert.Equal(fixture.AppId, grpc.Id);
        Assert.Contains(grpc.Components, c => c.Name == PubSub && c.Type == "pubsub.rabbitmq");
    }

    [Fact]
    public async Task BulkSubscribeDeliversEntriesInBatchesThatTheAppAcknowledgesPerEntry()
    {
        var orders = Enumerable.Range(0, 20).Select(i => new Order(NewMarker(), i)).ToList();

        var result = await Dapr.BulkPublishEventAsync(PubSub, Topic("bulk"), orders);

        Assert.Empty(result.FailedEntries);
        foreach (var order in orders)
        {
            var delivery = (await App.WaitForAsync("bulk", order.Marker, diagnostics: Diagnostics))[0];
            Assert.True(delivery.InBulk);
            Assert.Equal(Topic("bulk"), (string?)delivery.Event["topic"]);
            Assert.Equal(order.Quantity, (int?)delivery.Event["data"]?["quantity"]);
        }

        Assert.Contains(App.BulkBatchSizes, size => size > 1);
        await Task.Delay(SettleTime);
        Assert.All(orders, o => Assert.Single(App.DeliveriesTo("bulk", o.Marker)));
    }

    [Fact]
    public async Task AMessageAnsweredWithRetryIsRedeliveredUntilTheAppSucceeds()
    {
        var marker = NewMarker();

        await Dapr.PublishEventAsync(PubSub, Topic("retry"), new Order(marker, 1));

        var deliveries = await App.WaitForAsync("retry", marker, count: 3, diagnostics: Diagnostics);
        Assert.Single(deliveries.Select(d => (string?)d.Event["id"]).Distinct());
        await Task.Delay(SettleTime);
        Assert.Equal(3, App.DeliveriesTo("retry", marker).Count);
        Assert.Empty(App.DeliveriesTo("retry-dead", marker));
    }

    /// <summary>
    /// daprd (pkg/runtime/subscription): DROP is never retried; with a deadLetterTopic the dropped message is
    /// forwarded there, then acknowledged.
    /// </summary>
    [Fact]
    public async Task AMessageAnsweredWithDropIsNeverRedeliveredAndGoesToTheDeadLetterTopic()
    {
        var marker = NewMarker();

        await Dapr.PublishEventAsync(PubSub, Topic("drop"), new Order(marker, 1));

        var original = Assert.Single(await App.WaitForAsync("drop", marker, diagnostics: Diagnostics));
        var dead = Assert.Single(await App.WaitForAsync("drop-dead", marker, diagnostics: Diagnostics));
        Assert.Equal((string?)original.Event["id"], (string?)dead.Event["id"]);
        await Task.Delay(SettleTime);
        Assert.Single(App.DeliveriesTo("drop", marker));
        Assert.Single(App.DeliveriesTo("drop-dead", marker));
    }

    [Fact]
    public async Task AMessageAnsweredWithDropWithoutADeadLetterTopicIsDeliveredOnceAndDiscarded()
    {
        var marker = NewMarker();

        await Dapr.PublishEventAsync(PubSub, Topic("drop-plain"), new Order(marker, 1));

        await App.WaitForAsync("drop-plain", marker, diagnostics: Diagnostics);
        await Task.Delay(SettleTime);
        Assert.Single(App.DeliveriesTo("drop-plain", marker));
        Assert.Equal(0u, await Broker.ReadyMessagesAsync(fixture.Infra.RabbitMq, Broker.QueueOf(fixture.AppId, Topic("drop-plain"))));
    }

    [Fact]
    public async Task AMessageAnsweredWith404IsDroppedWithoutRetry()
    {
        var marker = NewMarker();

        await Dapr.PublishEventAsync(PubSub, Topic("missing"), new Order(marker, 1));

        await App.WaitForAsync("missing", marker, diagnostics: Diagnostics);
        await Task.Delay(SettleTime);
        Assert.Single(App.DeliveriesTo("missing", marker));
        Assert.Equal(0u, await Broker.ReadyMessagesAsync(fixture.Infra.RabbitMq, Broker.QueueOf(fixture.AppId, Topic("missing"))));
    }

    [Fact]
    public async Task AThrowingHandlerIsRetriedPerResiliencyPolicyThenTheMessageIsDeadLettered()
    {
        var marker = NewMarker();

        await Dapr.PublishEventAsync(PubSub, Topic("throws"), new Order(marker, 1));

        var dead = Assert.Single(await App.WaitForAsync("throws-dead", marker, diagnostics: Diagnostics));
        await Task.Delay(SettleTime);
        var attempts = App.DeliveriesTo("throws", marker);
        Assert.Equal(1 + PubSubSidecarFixture.MaxRetries, attempts.Count);
        Assert.Equal((string?)attempts[0].Event["id"], (string?)dead.Event["id"]);
        Assert.Equal(marker, (string?)dead.Event["data"]?["marker"]);
        Assert.Single(App.DeliveriesTo("throws-dead", marker));
    }

    [Fact]
    public async Task UnknownPubSubIsAnInvalidArgumentOverGrpcAndErrPubSubNotFoundOverHttp()
    {
        Assert.Equal(StatusCode.InvalidArgument,
            await DaprErrors.GrpcStatusOfAsync(() => Dapr.PublishEventAsync("no-such-pubsub", "t", new Order("x", 1))));

        using var content = new StringContent("""{"a":1}""", Encoding.UTF8, "application/json");
        using var response = await fixture.Sidecar.Http.PostAsync("/v1.0/publish/no-such-pubsub/t", content);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("ERR_PUBSUB_NOT_FOUND", (string?)error["errorCode"]);
        Assert.Contains("no-such-pubsub", (string?)error["message"], StringComparison.Ordinal);
    }
}
