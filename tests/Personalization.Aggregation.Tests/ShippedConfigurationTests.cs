using Microsoft.Extensions.Configuration;
using Personalization.Aggregation.Model;

namespace Personalization.Aggregation.Tests;

public sealed class ShippedConfigurationTests
{
    [Fact]
    public void ShippedAppsettingsKeepsSeenMarkersForOneDay()
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: false)
            .Build();
        var options = configuration.GetSection(AggregationOptions.SectionName).Get<AggregationOptions>()!;
        Assert.Equal(TimeSpan.FromDays(1), options.DeduplicationWindow);
        Assert.True(new AggregationOptionsValidator().Validate(null, options).Succeeded);
    }
}
