using Personalization.Aggregation.Model;
using Personalization.Contracts;
using static Personalization.Aggregation.Tests.StreamFixtures;

namespace Personalization.Aggregation.Tests;

public sealed class FlagTests
{
    /// <summary>Five events a day from 34 to 7 days ago, and <paramref name="recentPerDay"/> a day over the last 7.</summary>
    private static UserProfile Regular(int recentPerDay)
    {
        var events = new List<EnrichedEvent>();
        for (var day = 34; day >= 1; day--)
        {
            var perDay = day >= 7 ? 5 : recentPerDay;
            for (var i = 0; i < perDay; i++) events.Add(Track(Now.AddDays(-day).AddMinutes(i), "Clicked"));
        }
        return Fold(events);
    }

    [Fact]
    public void ChurnRiskIsRaisedWhenActivityFallsFarBelowTheBaselineWithItsExplanation()
    {
        var insights = Insights(Regular(recentPerDay: 0));
        var flag = Assert.Contains(FlagNames.ChurnRisk, insights.Flags);
        Assert.Equal("dailyEvents", flag.Metric);
        Assert.Equal(5, flag.Baseline, 3);
        Assert.Equal(0, flag.Current);
        Assert.Equal(1.25, flag.Threshold, 3);
        Assert.Equal(Now, flag.Since);
        Assert.Contains("below 0.25 × the baseline of 5", flag.Explanation);
    }

    [Fact]
    public void SteadyActivityRaisesNoChurnRisk() =>
        Assert.DoesNotContain(FlagNames.ChurnRisk, Insights(Regular(recentPerDay: 4)).Flags);

    [Fact]
    public void ChurnRiskIsRaisedWhenEventsStopArrivingWithoutAnyNewEvent()
    {
        var profile = Regular(recentPerDay: 5);
        Assert.DoesNotContain(FlagNames.ChurnRisk, Insights(profile).Flags);
        Assert.Contains(FlagNames.ChurnRisk, Insights(profile, at: Now.AddDays(6)).Flags);
    }

    [Fact]
    public void AFlagKeepsTheTimeItWasFirstRaised()
    {
        var profile = Regular(recentPerDay: 0);
        var first = Insights(profile);
        var later = InsightsEvaluator.Evaluate(profile, first, new FlagOptions(), Now.AddHours(3));
        Assert.Equal(Now, later.Flags[FlagNames.ChurnRisk].Since);
    }

    [Fact]
    public void ABurstOfEventsInOneMinuteRaisesTheAnomalyFlag()
    {
        var minute = new DateTimeOffset(2026, 3, 31, 12, 10, 0, TimeSpan.Zero);
        var burst = Enumerable.Range(0, 150).Select(i => Track(minute.AddMilliseconds(i * 300), "Clicked"));
        var insights = Insights(Fold(burst));
        var flag = Assert.Contains(FlagNames.Anomaly, insights.Flags);
        Assert.Equal(150, flag.Current);
        Assert.Equal(120, flag.Threshold);
        Assert.Equal(minute, flag.Since);
        Assert.Contains("150 events in the minute from 12:10 UTC", flag.Explanation);
        Assert.DoesNotContain(FlagNames.Anomaly, Insights(Fold(burst.Take(100))).Flags);
    }
}
