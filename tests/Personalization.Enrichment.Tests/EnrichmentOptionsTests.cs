using Personalization.Enrichment.Model;

namespace Personalization.Enrichment.Tests;

public sealed class EnrichmentOptionsTests
{
    private static readonly EnrichmentOptionsValidator Validator = new();

    [Fact]
    public void DefaultSessionTimeoutIsThirtyMinutes() => Assert.Equal(TimeSpan.FromMinutes(30), new EnrichmentOptions().SessionTimeout);

    [Fact]
    public void ZeroSessionTimeoutFailsValidation() =>
        Assert.True(Validator.Validate(null, new EnrichmentOptions { SessionTimeout = TimeSpan.Zero }).Failed);

    [Fact]
    public void GeoNetworkThatIsNoCidrFailsValidation() =>
        Assert.Contains("GeoNetworks:0:Cidr", Validator.Validate(null, new EnrichmentOptions { GeoNetworks = [new GeoNetwork { Cidr = "10.0.0.0/99" }] }).FailureMessage);
}
