using System.Text.Json.Nodes;
using Personalization.Contracts;
using Personalization.ProfileQuery.Apis;
using Personalization.ProfileQuery.Decisions;

namespace Personalization.ProfileQuery.Tests;

public sealed class DecisionTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    public static ProfileView Profile(string[]? segments = null, string[]? flags = null, JsonObject? traits = null) => new()
    {
        ProfileId = "u1",
        Version = 3,
        Traits = traits ?? [],
        Segments = (segments ?? []).ToDictionary(s => s, s => new SegmentMembership(s, Now, "rule held", 1)),
        Insights = new ProfileInsights(Now, new Dictionary<string, WindowFigures>(), new RfmFigures(null, null, 0, 0),
            new EngagementFigures(0, 0, 0, null, null, 0, 0, new Dictionary<string, PageDwell>()),
            (flags ?? []).ToDictionary(f => f, f => new ProfileFlag("m", 1, 0, 0.25, Now, $"{f} explained"))),
    };

    private static Placement Banner(string body)
    {
        var request = PlacementRequest.Parse(System.Text.Encoding.UTF8.GetBytes(body), out var error) ?? throw new InvalidOperationException(error!.ToString());
        return new Placement("banner", request.Name, request.Variants, request.Fallback, 1, Now);
    }

    private static readonly Placement HomeBanner = Banner("""
        {"variants": [
            {"id": "win-back", "when": {"flag": "churnRisk"}, "content": {"title": "We miss you"}},
            {"id": "loyal", "when": {"all": [{"segment": "buyers"}, {"not": {"trait": "plan", "equals": "free"}}]}, "content": {"title": "Thanks"}}],
         "fallback": {"id": "welcome", "content": {"title": "Welcome"}}}
        """);

    [Fact]
    public void TheFirstVariantWhoseRuleHoldsIsChosenWithItsReason()
    {
        var both = Decider.Decide(HomeBanner, Profile(["buyers"], ["churnRisk"]), null);
        Assert.Equal(("win-back", "flag 'churnRisk': churnRisk explained"), (both.Variant, both.Reason));

        var loyal = Decider.Decide(HomeBanner, Profile(["buyers"], traits: new JsonObject { ["plan"] = "pro" }), null);
        Assert.Equal("loyal", loyal.Variant);
        Assert.Equal("member of segment 'buyers' since 2026-12-02 12:00:00 UTC and not ({\"trait\":\"plan\",\"equals\":\"free\"})", loyal.Reason);
        Assert.Equal("Thanks", loyal.Content!["title"]!.GetValue<string>());
    }

    [Fact]
    public void NoRuleHoldingOrNoProfileFallsBackSayingWhy()
    {
        Assert.Equal(("welcome", "fallback: no variant's rule holds"),
            Decider.Decide(HomeBanner, Profile(["buyers"], traits: new JsonObject { ["plan"] = "free" }), null) is var d ? (d.Variant, d.Reason) : default);
        Assert.Equal("fallback: no profile", Decider.Decide(HomeBanner, null, null).Reason);
        Assert.Equal("fallback: not consented", Decider.Decide(HomeBanner, null, "not consented").Reason);
    }

    [Fact]
    public void AVariantWithoutARuleIsShownToEveryoneEvenWithoutAProfile()
    {
        var always = Banner("""{"variants": [{"id": "season", "content": {"title": "Winter sale"}}]}""");

        Assert.Equal("season", Decider.Decide(always, null, null).Variant);
        Assert.Null(Decider.Decide(Banner("""{"variants": [{"id": "x", "when": {"segment": "s"}, "content": {}}]}"""), null, null).Variant);
    }

    [Theory]
    [InlineData("""{"variants": []}""", "variants")]
    [InlineData("""{"variants": [{"id": "A!", "content": {}}]}""", "variants[0].id")]
    [InlineData("""{"variants": [{"id": "a", "content": "text"}]}""", "variants[0].content")]
    [InlineData("""{"variants": [{"id": "a", "content": {}}, {"id": "a", "content": {}}]}""", "variants[1].id")]
    [InlineData("""{"variants": [{"id": "a", "when": {"segmnt": "s"}, "content": {}}]}""", "variants[0].when")]
    [InlineData("""{"variants": [{"id": "a", "when": {"any": [{"flag": "x"}, {"segment": ""}]}, "content": {}}]}""", "variants[0].when.any[1].segment")]
    [InlineData("""{"variants": [{"id": "a", "when": {"not": {"not": {"not": {"not": {"not": {"not": {"flag": "x"}}}}}}}, "content": {}}]}""", "variants[0].when.not.not.not.not.not.not")]
    [InlineData("""{"variants": [{"id": "a", "content": {}}], "fallback": {"id": "b", "when": {"flag": "x"}, "content": {}}}""", "fallback.when")]
    [InlineData("""[1]""", "body")]
    public void ABadPlacementNamesTheFieldAtFault(string body, string field)
    {
        Assert.Null(PlacementRequest.Parse(System.Text.Encoding.UTF8.GetBytes(body), out var error));
        Assert.Equal(field, error!.Field);
    }

    [Fact]
    public void APlacementThatIsNotUtf8IsABadBody()
    {
        byte[] body = [.. "{\"name\":\"Cor"u8, 0xC3, 0x28, .. "\",\"variants\":[]}"u8];

        Assert.Null(PlacementRequest.Parse(body, out var error));
        Assert.Equal("body", error!.Field);
    }
}
