using Personalization.Enrichment.Model;

namespace Personalization.Enrichment.Tests;

public sealed class ProfileTraitsReaderTests
{
    private const string Profile = """
        {"profileId":"u1","traits":{"plan":"pro","email":"a@example.test","address":{"city":"Leeds"}},"totalEvents":12,
         "activity":{"minutes":{"1":{"counts":{"$all":3}}}},"version":4}
        """;

    [Fact]
    public void AllTraitsOfTheStoredProfileAreRead()
    {
        var (traits, mergedInto) = ProfileTraitsReader.Read(Profile, []);
        Assert.Equal("""{"plan":"pro","email":"a@example.test","address":{"city":"Leeds"}}""", traits?.ToJsonString());
        Assert.Null(mergedInto);
    }

    [Fact]
    public void OnlyTheConfiguredTraitsAreKept() =>
        Assert.Equal("""{"plan":"pro"}""", ProfileTraitsReader.Read(Profile, ["plan", "company"]).Traits?.ToJsonString());

    [Fact]
    public void NoProfileOrNoTraitsGivesNone()
    {
        Assert.Equal((null, null), ProfileTraitsReader.Read(null, []));
        Assert.Null(ProfileTraitsReader.Read("""{"profileId":"u1","traits":{}}""", []).Traits);
        Assert.Null(ProfileTraitsReader.Read(Profile, ["company"]).Traits);
    }

    [Fact]
    public void AMergedProfileNamesTheProfileItWasMergedInto() =>
        Assert.Equal((null, "u2"), ProfileTraitsReader.Read("""{"profileId":"anon-1","mergedInto":"u2","traits":{}}""", []));
}
