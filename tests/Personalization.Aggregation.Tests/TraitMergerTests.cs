using System.Text.Json.Nodes;
using Personalization.Aggregation.Model;

namespace Personalization.Aggregation.Tests;

public sealed class TraitMergerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly Dictionary<string, DateTimeOffset> NoStamps = new();

    private static JsonObject Json(string text) => JsonNode.Parse(text)!.AsObject();

    [Fact]
    public void NestedObjectsMergeDeeplyKeepingKeysTheUpdateDoesNotName()
    {
        var (traits, _) = TraitMerger.Merge(
            Json("""{"address":{"city":"Berlin","zip":"10115"},"name":"Ada"}"""), NoStamps,
            Json("""{"address":{"city":"Hamburg","street":"Main 1"}}"""), T0);
        Assert.Equal("""{"address":{"city":"Hamburg","zip":"10115","street":"Main 1"},"name":"Ada"}""", traits.ToJsonString());
    }

    [Fact]
    public void ArraysAndScalarsReplaceWhatWasThere()
    {
        var (traits, _) = TraitMerger.Merge(Json("""{"tags":["a","b"],"age":30}"""), NoStamps, Json("""{"tags":["c"],"age":31}"""), T0);
        Assert.Equal("""{"tags":["c"],"age":31}""", traits.ToJsonString());
    }

    [Fact]
    public void NullRemovesATraitOrNestedKey()
    {
        var (traits, _) = TraitMerger.Merge(
            Json("""{"phone":"123","address":{"city":"Berlin","zip":"10115"}}"""), NoStamps,
            Json("""{"phone":null,"address":{"zip":null}}"""), T0);
        Assert.Equal("""{"address":{"city":"Berlin"}}""", traits.ToJsonString());
    }

    [Fact]
    public void OlderIdentifyDoesNotOverwriteANewerTrait()
    {
        var (traits, stamps) = TraitMerger.Merge(Json("{}"), NoStamps, Json("""{"plan":"pro"}"""), T0.AddMinutes(5));
        (traits, stamps) = TraitMerger.Merge(traits, stamps, Json("""{"plan":"free","email":"a@example.com"}"""), T0);
        Assert.Equal("pro", traits["plan"]!.GetValue<string>());
        Assert.Equal("a@example.com", traits["email"]!.GetValue<string>());
        Assert.Equal(T0.AddMinutes(5), stamps["plan"]);
        Assert.Equal(T0, stamps["email"]);
    }

    [Fact]
    public void OlderIdentifyCannotBringBackARemovedTrait()
    {
        var (traits, stamps) = TraitMerger.Merge(Json("""{"phone":"123"}"""), NoStamps, Json("""{"phone":null}"""), T0.AddMinutes(5));
        (traits, _) = TraitMerger.Merge(traits, stamps, Json("""{"phone":"999"}"""), T0);
        Assert.False(traits.ContainsKey("phone"));
    }

    [Fact]
    public void MergingLeavesItsInputsUnchanged()
    {
        var current = Json("""{"address":{"city":"Berlin"}}""");
        var incoming = Json("""{"address":{"city":"Hamburg"}}""");
        TraitMerger.Merge(current, NoStamps, incoming, T0);
        Assert.Equal("""{"address":{"city":"Berlin"}}""", current.ToJsonString());
        Assert.Equal("""{"address":{"city":"Hamburg"}}""", incoming.ToJsonString());
    }
}
