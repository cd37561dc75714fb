using Microsoft.Extensions.Configuration;
using Personalization.Consent.Model;
using Personalization.Contracts;

namespace Personalization.Consent.Tests;

public sealed class ShippedConfigurationTests
{
    private static ConsentOptions Shipped()
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: false)
            .Build();
        var options = new ConsentOptions();
        configuration.GetSection(ConsentOptions.SectionName).Bind(options);
        return options;
    }

    [Fact]
    public void ShippedConsentConfigurationIsValid() => Assert.True(new ConsentOptionsValidator().Validate(null, Shipped()).Succeeded);

    [Fact]
    public void ShippedDefaultsAreAnalyticsOptOutAndMarketingOptIn()
    {
        var options = Shipped();
        Assert.Equal(ConsentDefault.OptOut, options.Defaults[Purposes.Analytics]);
        Assert.Equal(ConsentDefault.OptIn, options.Defaults[Purposes.Marketing]);
    }
}
