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

public sealed class EnrichmentProviderAndBotOptionsTests
{
    private static readonly EnrichmentOptionsValidator Validator = new();

    private static string? Failure(Action<EnrichmentOptions> configure)
    {
        var options = new EnrichmentOptions();
        configure(options);
        var result = Validator.Validate(null, options);
        return result.Failed ? result.FailureMessage : null;
    }

    [Fact]
    public void TheDefaultsAreValidAndCallNoProvider()
    {
        Assert.Null(Failure(_ => { }));
        Assert.Null(new EnrichmentOptions().Provider.Url);
        Assert.Equal(["context.ip"], new EnrichmentOptions().Provider.EffectiveFields);
    }

    [Fact]
    public void AProviderUrlThatIsNotHttpIsRefused() =>
        Assert.Contains("Enrichment:Provider:Url must be an absolute http or https URL", Failure(o => o.Provider.Url = new Uri("ftp://provider.test/")));

    [Fact]
    public void AProviderTimeoutOverThirtySecondsIsRefused() =>
        Assert.Contains("Enrichment:Provider:Timeout must be above zero and at most 30 seconds", Failure(o => o.Provider.Timeout = TimeSpan.FromMinutes(1)));

    [Fact]
    public void AnAttemptTimeoutLongerThanTheWholeCallIsRefused() =>
        Assert.Contains("Enrichment:Provider:AttemptTimeout", Failure(o => o.Provider.AttemptTimeout = TimeSpan.FromSeconds(5)));

    [Fact]
    public void AFieldThatIsNotPartOfAnEventIsRefusedNamingIt() =>
        Assert.Contains("Enrichment:Provider:Fields:1 'integrations.x'", Failure(o => o.Provider.Fields = ["userId", "integrations.x"]));

    [Fact]
    public void ARateLimitBelowOneIsRefused() =>
        Assert.Contains("Enrichment:Bots:MaxEventsPerWindow", Failure(o => o.Bots.MaxEventsPerWindow = 0));
}
