using System.Text.Json.Nodes;
using Personalization.Aggregation.Model;
using Personalization.Contracts;
using static Personalization.Aggregation.Tests.StreamFixtures;

namespace Personalization.Aggregation.Tests;

public sealed class SegmentRuleTests
{
    [Theory]
    [InlineData("""{"field":"nope","op":"==","value":1}""", "rule.field", "'nope' is not a field")]
    [InlineData("""{"all":[{"field":"orders","op":">=","value":2},{"field":"orders","window":"2d","op":">","value":1}]}""", "rule.all[1].window", "1h, 24h, 7d, 30d")]
    [InlineData("""{"any":[{"not":{"field":"flags.churnRisk","op":"==","value":"yes"}}]}""", "rule.any[0].not.value", "true or false")]
    [InlineData("""{"all":[]}""", "rule.all", "non-empty array")]
    [InlineData("""{"field":"traits.plan","op":"~","value":1}""", "rule.op", "one of")]
    [InlineData("""{"field":"daysSinceLastSeen","window":"7d","op":"<","value":1}""", "rule.window", "applies only to")]
    [InlineData("""{"field":"orders","event":"x","op":">","value":1}""", "rule.event", "only to the field events")]
    [InlineData("""{"field":"orders","op":">","value":"two"}""", "rule.value", "must be a number")]
    [InlineData("""{"field":"traits.plan","op":"in","value":[]}""", "rule.value", "1 to 100 values")]
    [InlineData("""{"field":"traits.plan","op":"==","value":1,"extra":true}""", "rule.extra", "not part of a condition")]
    [InlineData("""{"all":[{"field":"orders","op":">","value":1}],"any":[{"field":"orders","op":">","value":1}]}""", "rule", "one of all, any, not")]
    [InlineData("""[1]""", "rule", "must be an object")]
    [InlineData("""{"field":"traits.","op":"exists","value":true}""", "rule.field", "is not a field")]
    public void ARuleThatDoesNotParseNamesItsPart(string rule, string path, string message)
    {
        Assert.Null(SegmentRule.Parse(JsonNode.Parse(rule), "rule", out var error));
        Assert.Equal(path, error!.Value.Path);
        Assert.Contains(message, error.Value.Message);
    }

    [Fact]
    public void DeeplyNestedOrLongRulesAreRefused()
    {
        var deep = """{"field":"orders","op":">","value":1}""";
        for (var i = 0; i < SegmentRule.MaxDepth; i++) deep = $$"""{"not":{{deep}}}""";
        Assert.Null(SegmentRule.Parse(JsonNode.Parse(deep), "rule", out var error));
        Assert.Contains("deeper than", error!.Value.Message);

        var many = string.Join(",", Enumerable.Repeat("""{"field":"orders","op":">","value":1}""", SegmentRule.MaxConditions + 1));
        Assert.Null(SegmentRule.Parse(JsonNode.Parse($$"""{"any":[{{many}}]}"""), "rule", out error));
        Assert.Equal($"rule.any[{SegmentRule.MaxConditions}]", error!.Value.Path);
    }

    [Fact]
    public void ARuleSaysWhyItHoldsWithTheValuesFound()
    {
        var profile = Fold([
            Track(Now.AddDays(-1), ActivityKeys.OrderEvent, 20m), Track(Now.AddDays(-2), ActivityKeys.OrderEvent, 30m),
            Event(EventTypes.Identify, Now.AddDays(-3), traits: new() { ["plan"] = "pro", ["address"] = new JsonObject { ["city"] = "Lyon" } }),
        ]);
        profile = profile with { Insights = Insights(profile) };
        var rule = Segment("buyers", """
            {"all":[{"field":"orders","window":"30d","op":">=","value":2},
                    {"field":"traits.plan","op":"in","value":["pro","team"]},
                    {"field":"traits.address.city","op":"contains","value":"Ly"},
                    {"not":{"field":"flags.churnRisk","op":"==","value":true}}]}
            """).Rule;
        Assert.Equal("""orders[30d] = 2 ≥ 2 and traits.plan = "pro" in ["pro","team"] and traits.address.city = "Lyon" contains "Ly" and not flags.churnRisk == true""",
            rule.Evaluate(profile));
    }

    [Theory]
    [InlineData("""{"field":"traits.missing","op":"==","value":1}""", false)]
    [InlineData("""{"field":"traits.missing","op":"!=","value":1}""", true)]
    [InlineData("""{"field":"traits.missing","op":"exists","value":false}""", true)]
    [InlineData("""{"field":"traits.plan","op":"exists","value":true}""", true)]
    [InlineData("""{"field":"traits.plan","op":">","value":"basic"}""", true)]
    [InlineData("""{"field":"daysSinceLastOrder","op":"<","value":1}""", false)]
    [InlineData("""{"field":"events","event":"Clicked","window":"1h","op":"==","value":2}""", true)]
    [InlineData("""{"field":"events","event":"Clicked","op":"==","value":3}""", true)]
    [InlineData("""{"field":"pageViews","window":"24h","op":"==","value":0}""", true)]
    [InlineData("""{"any":[{"field":"orders","op":">","value":0},{"field":"sessions","op":">=","value":0}]}""", true)]
    public void ConditionsOnValuesTheProfileLacksDoNotHoldExceptAbsence(string rule, bool holds)
    {
        var profile = Fold([
            Track(Now.AddMinutes(-1), "Clicked"), Track(Now.AddMinutes(-2), "Clicked"), Track(Now.AddDays(-2), "Clicked"),
            Event(EventTypes.Identify, Now.AddDays(-3), traits: new() { ["plan"] = "pro" }),
        ]);
        profile = profile with { Insights = Insights(profile) };
        Assert.Equal(holds, Segment("s", rule).Rule.Evaluate(profile) is not null);
    }

    [Fact]
    public void AProfileEntersStaysAndLeavesSegmentsWithReasons()
    {
        var buyers = Segment("buyers", """{"field":"orders","op":">=","value":1}""");
        var active = Segment("active", """{"field":"events","window":"1h","op":">","value":0}""");
        var profile = Fold([Track(Now.AddMinutes(-1), ActivityKeys.OrderEvent, 10m)]);

        var (first, changes) = ProfileEvaluation.Apply(profile, [buyers, active], new FlagOptions(), Now);
        Assert.Equal(["active", "buyers"], changes!.Entered.Select(c => c.SegmentId).Order());
        Assert.Equal("orders = 1 ≥ 1", first.Segments["buyers"].Reason);

        var (later, laterChanges) = ProfileEvaluation.Apply(first, [buyers with { Definition = buyers.Definition with { Version = 2 } }, active], new FlagOptions(), Now.AddHours(2));
        var exited = Assert.Single(laterChanges!.Exited);
        Assert.Equal("active", exited.SegmentId);
        Assert.Equal("no longer holds: events[1h] > 0", exited.Reason);
        Assert.Empty(laterChanges.Entered);
        Assert.Equal(Now, later.Segments["buyers"].EnteredAt);
        Assert.Equal(2, later.Segments["buyers"].DefinitionVersion);

        var (_, deleted) = ProfileEvaluation.Apply(later, [], new FlagOptions(), Now.AddHours(3));
        Assert.Equal(ProfileEvaluation.DeletedReason, Assert.Single(deleted!.Exited).Reason);

        Assert.Null(ProfileEvaluation.Apply(later, [buyers, active], new FlagOptions(), Now.AddHours(3)).Changes);
    }

    [Theory]
    [InlineData("""{"id":"Bad Id","name":"x","rule":{"field":"orders","op":">","value":1}}""", "id")]
    [InlineData("""{"id":"ok","rule":{"field":"orders","op":">","value":1}}""", "name")]
    [InlineData("""{"id":"ok","name":"x"}""", "rule")]
    [InlineData("""{"id":"ok","name":"x","rule":{"field":"orders","op":">","value":1},"owner":"me"}""", "owner")]
    [InlineData("""{"id":"ok","name":"x","rule":{"all":[{"field":"orders","op":"?","value":1}]}}""", "rule.all[0].op")]
    [InlineData("""not json""", "body")]
    public void ASegmentRequestNamesTheFieldThatIsWrong(string body, string field)
    {
        Assert.Null(SegmentRequest.Parse(System.Text.Encoding.UTF8.GetBytes(body), withId: true, out var error));
        Assert.Equal(field, error!.Field);
    }
}
