using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Personalization.Collector.Model;
using Personalization.Contracts;

namespace Personalization.Collector.Tests;

/// <summary>Tracking plans: parsing a plan, evaluating its schema, choosing an event's plan, and ingestion enforcing the modes.</summary>
public sealed class TrackingPlanTests
{
    private const string OrderSchema = """
        {"type":"object","required":["total","currency"],"additionalProperties":false,
         "properties":{"total":{"type":"number","minimum":0},"currency":{"enum":["EUR","USD"]},
                       "items":{"type":"array","items":{"$ref":"#/$defs/item"}}},
         "$defs":{"item":{"type":"object","required":["sku"]}}}
        """;

    private static CompiledPlan Plan(string id, string type, string? name, string mode, string schema = OrderSchema)
    {
        var json = (JsonObject)JsonNode.Parse(schema)!;
        var compiled = PlanSchema.Compile(json, out var error) ?? throw new InvalidOperationException(error!.Detail);
        return new CompiledPlan(new TrackingPlan(id, type, name, mode, json, 1, Requests.ReceivedAt, Requests.ReceivedAt), compiled);
    }

    private static CollectedEvent Track(string messageId, string name, string? properties, string userId = "u1") => new()
    {
        Type = EventTypes.Track,
        MessageId = messageId,
        UserId = userId,
        Event = name,
        Properties = properties is null ? null : (JsonObject)JsonNode.Parse(properties)!,
        Timestamp = Requests.ReceivedAt,
        ReceivedAt = Requests.ReceivedAt,
    };

    private static TrackingPlanRequest? Parse(string body, out Personalization.Streaming.FieldError? error) =>
        TrackingPlanRequest.Parse(Encoding.UTF8.GetBytes(body), out error);

    [Fact]
    public void APlanRequestWithAValidSchemaParses()
    {
        var request = Parse($$"""{"type":"track","event":"Order Completed","mode":"block","schema":{{OrderSchema}}}""", out var error);

        Assert.Null(error);
        Assert.Equal(("track", "Order Completed", "block"), (request!.Type, request.Event, request.Mode));
    }

    [Theory]
    [InlineData("""{"type":"numbr"}""", "schema", "'numbr' is not a valid JSON Schema value type")]
    [InlineData("""{"properties":{"total":{"minimum":"zero"}}}""", "schema", "'minimum'")]
    [InlineData("""{"requried":["total"]}""", "schema", "requried")]
    [InlineData("""{"properties":{"sku":{"pattern":"(("}}}""", "schema", "((")]
    [InlineData("""{"$ref":"https://example.com/order.json"}""", "schema/$ref", "does not point inside the schema")]
    [InlineData("""{"properties":{"a":{"$ref":"#/$defs/missing"}}}""", "schema/properties/a/$ref", "#/$defs/missing")]
    public void ASchemaThatIsNotValidJsonSchemaIsRefusedNamingTheError(string schema, string field, string named)
    {
        Assert.Null(Parse($$"""{"type":"track","event":"A","mode":"warn","schema":{{schema}}}""", out var error));

        Assert.Equal(field, error!.Field);
        Assert.Contains("is not valid JSON Schema", error.Detail, StringComparison.Ordinal);
        Assert.Contains(named, error.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"type":"alias","mode":"warn","schema":{}}""", "type")]
    [InlineData("""{"type":"identify","event":"Signed Up","mode":"warn","schema":{}}""", "event")]
    [InlineData("""{"type":"track","event":"A","mode":"strict","schema":{}}""", "mode")]
    [InlineData("""{"type":"track","event":"A","mode":"warn"}""", "schema")]
    [InlineData("""{"type":"track","event":"A","mode":"warn","schema":true}""", "schema")]
    [InlineData("""{"type":"track","event":"","mode":"warn","schema":{}}""", "event")]
    [InlineData("""{"type":"track","event":"A","mode":"warn","schema":{},"owner":"me"}""", "owner")]
    [InlineData("""[1]""", "body")]
    public void APlanRequestNamesTheFieldThatIsWrong(string body, string field)
    {
        Assert.Null(Parse(body, out var error));
        Assert.Equal(field, error!.Field);
    }

    [Fact]
    public void ALocalReferenceAndAnAnchorAreAccepted()
    {
        Assert.NotNull(Parse("""{"type":"track","event":"A","mode":"warn","schema":{"$defs":{"s":{"$anchor":"sku","type":"string"}},"properties":{"a":{"$ref":"#sku"},"b":{"$ref":"#/$defs/s"},"c":{"const":{"$ref":"not a reference"}}}}}""", out var error));
        Assert.Null(error);
    }

    [Fact]
    public void ViolationsNamePathAndRule()
    {
        var violations = Plan("orders", "track", "Order Completed", "block").Schema.Evaluate(
            (JsonObject)JsonNode.Parse("""{"total":"12","items":[{"qty":1}],"coupon":"X"}""")!, "properties");

        Assert.Contains(violations, v => v is { Path: "/properties", Rule: "required" } && v.Message.Contains("currency", StringComparison.Ordinal));
        Assert.Contains(violations, v => v is { Path: "/properties/total", Rule: "type", SchemaPath: "/properties/total/type" });
        Assert.Contains(violations, v => v is { Path: "/properties/items/0", Rule: "required" });
        Assert.Contains(violations, v => v is { Path: "/properties/coupon", Rule: "additionalProperties" });
    }

    [Fact]
    public void AnEventWithoutPropertiesIsCheckedAsAnEmptyObject()
    {
        var violations = Plan("orders", "track", "Order Completed", "block").Schema.Evaluate(null, "properties");

        Assert.Equal("required", Assert.Single(violations).Rule);
    }

    [Fact]
    public void AConformingEventHasNoViolations() =>
        Assert.Empty(Plan("orders", "track", "Order Completed", "block").Schema.Evaluate(
            (JsonObject)JsonNode.Parse("""{"total":12.5,"currency":"EUR","items":[{"sku":"a"}]}""")!, "properties"));

    [Fact]
    public void FormatIsAsserted()
    {
        var plan = Plan("signup", "identify", null, "warn", """{"properties":{"email":{"type":"string","format":"email"}}}""");

        Assert.Equal("format", Assert.Single(plan.Schema.Evaluate((JsonObject)JsonNode.Parse("""{"email":"not-an-address"}""")!, "traits")).Rule);
    }

    [Fact]
    public void AnEventsPlanIsTheOneNamingItElseTheOneOfItsType()
    {
        var named = Plan("orders", "track", "Order Completed", "block");
        var everyTrack = Plan("tracks", "track", null, "warn", """{"type":"object"}""");
        var identify = Plan("traits", "identify", null, "warn", """{"required":["email"]}""");
        var plans = new TrackingPlanSet([named, everyTrack, identify]);

        Assert.Same(named, plans.For(Track("m1", "Order Completed", null)));
        Assert.Same(everyTrack, plans.For(Track("m2", "Product Viewed", null)));
        Assert.Same(identify, plans.For(new CollectedEvent { Type = "identify", MessageId = "m3", UserId = "u", Timestamp = Requests.ReceivedAt, ReceivedAt = Requests.ReceivedAt }));
        Assert.Null(plans.For(new CollectedEvent { Type = "page", MessageId = "m4", UserId = "u", Name = "Order Completed", Timestamp = Requests.ReceivedAt, ReceivedAt = Requests.ReceivedAt }));
    }

    [Fact]
    public void IdentifyIsCheckedOnItsTraits()
    {
        var plans = new TrackingPlanSet([Plan("traits", "identify", null, "block", """{"required":["email"]}""")]);
        CollectedEvent Identify(string id, string traits) => new()
        {
            Type = "identify", MessageId = id, UserId = "u", Traits = (JsonObject)JsonNode.Parse(traits)!, Properties = (JsonObject)JsonNode.Parse("""{"email":"x"}""")!,
            Timestamp = Requests.ReceivedAt, ReceivedAt = Requests.ReceivedAt,
        };

        var check = plans.Check([Identify("m1", """{"email":"a@example.com"}"""), Identify("m2", """{"name":"A"}""")]);

        Assert.Equal(["m1"], check.Passing.Select(e => e.MessageId));
        Assert.Equal("/traits", Assert.Single(Assert.Single(check.Breaches).Violations).Path);
    }

    [Fact]
    public void BlockHoldsAnEventBackWarnAndAllowLetItThroughAndOnlyWarnAndBlockAreQuarantined()
    {
        var plans = new TrackingPlanSet([
            Plan("orders", "track", "Order Completed", "block"),
            Plan("carts", "track", "Cart Viewed", "warn"),
            Plan("searches", "track", "Searched", "allow", """{"required":["query"]}"""),
        ]);
        var check = plans.Check([
            Track("ok", "Order Completed", """{"total":1,"currency":"EUR"}"""),
            Track("blocked", "Order Completed", """{"total":-1,"currency":"EUR"}"""),
            Track("warned", "Cart Viewed", """{"total":"x"}"""),
            Track("allowed", "Searched", "{}"),
            Track("unplanned", "Clicked", "{}"),
        ]);

        Assert.Equal(["ok", "warned", "allowed", "unplanned"], check.Passing.Select(e => e.MessageId));
        Assert.Equal(["blocked"], check.Blocked.Select(e => e.MessageId));
        Assert.Equal(["blocked", "warned", "allowed"], check.Breaches.Select(b => b.Event.MessageId));
        var quarantined = check.ToQuarantine(Requests.ReceivedAt);
        Assert.Equal([("blocked", "block", "orders"), ("warned", "warn", "carts")], quarantined.Select(q => (q.Event.MessageId, q.Mode, q.PlanId)));
        Assert.Contains(quarantined[0].Violations, v => v is { Path: "/properties/total", Rule: "minimum" });
    }

    [Fact]
    public void WithNoPlansTheEventsPassAsTheyAre()
    {
        IReadOnlyList<CollectedEvent> events = [Track("m1", "A", null)];
        Assert.Same(events, TrackingPlanSet.Empty.Check(events).Passing);
    }

    [Fact]
    public void EveryEventEitherPassesOrIsBlockedInRequestOrder()
    {
        var plans = new TrackingPlanSet([Plan("b", "track", "B", "block", """{"required":["ok"]}"""), Plan("w", "track", "W", "warn", """{"required":["ok"]}""")]);
        var gen = Gen.Select(Gen.OneOf(Gen.Const("B"), Gen.Const("W"), Gen.Const("X")), Gen.Bool).Array[0, 30];
        gen.Sample(specs =>
        {
            var events = specs.Select((s, i) => Track("m" + i, s.Item1, s.Item2 ? """{"ok":1}""" : "{}")).ToList();
            var check = plans.Check(events);
            Assert.Equal(events.Where(e => !(e.Event == "B" && e.Properties!.Count == 0)), check.Passing);
            Assert.Equal(events.Where(e => e.Event == "B" && e.Properties!.Count == 0), check.Blocked);
            Assert.Equal(events.Where(e => e.Event != "X" && e.Properties!.Count == 0), check.Breaches.Select(b => b.Event));
        });
    }

    private static (IngestionPipeline Pipeline, ViolationRecorder Violations) Pipeline(FakeSink sink)
    {
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        var metrics = new CollectorMetrics(meters);
        return (new IngestionPipeline(sink, sink, Options.Create(new CollectorOptions()), metrics, TimeProvider.System, NullLogger<IngestionPipeline>.Instance),
            new ViolationRecorder(meters));
    }

    /// <summary>The measurements of <c>collector.tracking_plan.violations</c> from one meter factory.</summary>
    private sealed class ViolationRecorder
    {
        public List<(long Value, Dictionary<string, object?> Tags)> Measurements { get; } = [];

        public ViolationRecorder(IMeterFactory meters)
        {
            var listener = new MeterListener
            {
                InstrumentPublished = (instrument, l) =>
                {
                    if (instrument.Name == "collector.tracking_plan.violations" && instrument.Meter.Scope == meters) l.EnableMeasurementEvents(instrument);
                },
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                var copy = new Dictionary<string, object?>();
                foreach (var tag in tags) copy[tag.Key] = tag.Value;
                lock (Measurements) Measurements.Add((value, copy));
            });
            listener.Start();
        }
    }

    [Fact]
    public async Task ABlockedEventIsQuarantinedAndMarkedButNotPublishedAndItsRetryIsADuplicate()
    {
        var sink = new FakeSink { Plans = new TrackingPlanSet([Plan("orders", "track", "Order Completed", "block")]) };
        var (pipeline, violations) = Pipeline(sink);
        CollectedEvent[] request = [Track("bad", "Order Completed", """{"total":"x"}"""), Track("good", "Order Completed", """{"total":3,"currency":"USD"}""")];

        var outcome = await pipeline.IngestAsync(request, CancellationToken.None);
        var retry = await pipeline.IngestAsync(request, CancellationToken.None);

        Assert.True(outcome.IsAccepted);
        Assert.Equal(1, outcome.Published);
        Assert.Equal(["good"], sink.Published.Select(e => e.MessageId));
        Assert.Equal(["bad"], sink.Quarantined.Select(q => q.Event.MessageId));
        Assert.Equal(["bad", "good"], sink.Markers.Order());
        Assert.Equal(["find", "quarantine", "publish", "mark", "find"], sink.Calls);
        Assert.Equal(2, retry.Duplicates);
        var measurement = Assert.Single(violations.Measurements);
        Assert.Equal((1L, (object?)"Order Completed", (object?)"block"), (measurement.Value, measurement.Tags["event.name"], measurement.Tags["mode"]));
    }

    [Fact]
    public async Task AQuarantineTheBrokerRefusesAcceptsNothing()
    {
        var sink = new FakeSink { Plans = new TrackingPlanSet([Plan("carts", "track", "Cart Viewed", "warn")]), QuarantineDown = true };

        var outcome = await Pipeline(sink).Pipeline.IngestAsync([Track("warned", "Cart Viewed", "{}"), Track("other", "Clicked", "{}")], CancellationToken.None);

        Assert.False(outcome.IsAccepted);
        Assert.Equal(503, outcome.Problem!.Status);
        Assert.Empty(sink.Published);
        Assert.Empty(sink.Markers);
    }

    [Fact]
    public async Task PlansThatCannotBeReadAnswerUnavailable()
    {
        var sink = new FakeSink();
        var pipeline = new IngestionPipeline(sink, new UnreadablePlans(), Options.Create(new CollectorOptions()),
            new CollectorMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>()),
            TimeProvider.System, NullLogger<IngestionPipeline>.Instance);

        var outcome = await pipeline.IngestAsync([Track("m1", "A", null)], CancellationToken.None);

        Assert.Equal(503, outcome.Problem!.Status);
        Assert.Empty(sink.Published);
    }

    private sealed class UnreadablePlans : ITrackingPlanSource
    {
        public Task<TrackingPlanSet> CurrentAsync(CancellationToken cancellationToken) =>
            throw new EventSinkUnavailableException("record store down");
    }
}
