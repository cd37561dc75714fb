using Personalization.Aggregation.Model;

namespace Personalization.Aggregation.Tests;

public sealed class AggregationOptionsTests
{
    [Fact]
    public void DeduplicationWindowDefaultsToADay() => Assert.Equal(TimeSpan.FromHours(24), new AggregationOptions().DeduplicationWindow);

    [Fact]
    public void DeduplicationWindowUnderAMinuteFailsValidation() =>
        Assert.True(new AggregationOptionsValidator().Validate(null, new AggregationOptions { DeduplicationWindow = TimeSpan.FromSeconds(5) }).Failed);

    [Theory]
    [InlineData(5)]
    [InlineData(2 * 86_400)]
    public void AnEvaluationIntervalOutsideTenSecondsToADayFailsValidationNamingIt(int seconds)
    {
        var result = new AggregationOptionsValidator().Validate(null, new AggregationOptions { EvaluationInterval = TimeSpan.FromSeconds(seconds) });
        Assert.True(result.Failed);
        Assert.Contains("Aggregation:EvaluationInterval", result.FailureMessage);
    }
}
