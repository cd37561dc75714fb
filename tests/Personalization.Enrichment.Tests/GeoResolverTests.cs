using System.Text.Json.Nodes;
using Personalization.Contracts;
using Personalization.Enrichment.Model;

namespace Personalization.Enrichment.Tests;

public sealed class GeoResolverTests
{
    private static readonly GeoResolver Resolver = new([new GeoNetwork { Cidr = "10.1.0.0/16", Country = "DE", City = "Berlin" }]);

    [Fact]
    public void LocationInTheContextGivesTheGeo() =>
        Assert.Equal(new GeoContext("FR", "IDF", "Paris") { Source = GeoSources.Location },
            Resolver.Resolve(new JsonObject { ["location"] = new JsonObject { ["country"] = "FR", ["region"] = "IDF", ["city"] = "Paris" } }));

    [Fact]
    public void IpInAConfiguredNetworkGivesThatNetworksPlace() =>
        Assert.Equal(new GeoContext("DE", null, "Berlin") { Source = GeoSources.Network }, Resolver.Resolve(new JsonObject { ["ip"] = "10.1.2.3" }));

    [Fact]
    public void LocationWinsOverIp() =>
        Assert.Equal("FR", Resolver.Resolve(new JsonObject { ["ip"] = "10.1.2.3", ["location"] = new JsonObject { ["country"] = "FR" } })?.Country);

    [Theory]
    [InlineData("""{"ip":"192.168.1.1"}""")]
    [InlineData("""{"ip":"not an ip"}""")]
    [InlineData("""{"location":{"latitude":1.5}}""")]
    [InlineData("""{}""")]
    public void NothingKnownGivesNoGeo(string context) => Assert.Null(Resolver.Resolve(JsonNode.Parse(context)!.AsObject()));

    [Fact]
    public void NoContextGivesNoGeo() => Assert.Null(Resolver.Resolve(null));
}
