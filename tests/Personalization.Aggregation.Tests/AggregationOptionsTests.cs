using Personalization.Aggregation.Model;

namespace Personalization.Aggregation.Tests;

public sealed class AggregationOptionsTests
{
    [Fact]
    public void DeduplicationWindowDefaultsToADay() => Assert.Equal(TimeSpan.FromHours(24), new AggregationOptions().DeduplicationWindow);

    [Fact]
    public void DeduplicationWindowUnderAMinuteFailsValidation() =>
        Assert.True(new AggregationOptionsValidator().Validate(null, new AggregationOptions { DeduplicationWindow = TimeSpan.FromSeconds(5) }).Failed);
}
