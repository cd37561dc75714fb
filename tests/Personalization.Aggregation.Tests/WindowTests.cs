using Personalization.Aggregation.Model;
using Personalization.Contracts;
using static Personalization.Aggregation.Tests.StreamFixtures;

namespace Personalization.Aggregation.Tests;

public sealed class WindowTests
{
    [Fact]
    public void SlidingWindowsCountEachEventWhereItsTimeFalls()
    {
        var profile = Fold([
            Track(Now.AddMinutes(-5), "Clicked"),
            Track(Now.AddMinutes(-90), "Clicked"),
            Track(Now.AddHours(-30), "Clicked"),
            Track(Now.AddDays(-10), "Clicked"),
            Track(Now.AddDays(-40), "Clicked"),
        ]);
        var windows = Insights(profile).Windows;
        Assert.Equal(1, windows["1h"].Counts["Clicked"]);
        Assert.Equal(2, windows["24h"].Counts["Clicked"]);
        Assert.Equal(3, windows["7d"].Events);
        Assert.Equal(4, windows["30d"].Events);
        Assert.Equal(5, profile.EventCounts["Clicked"]);
    }

    [Fact]
    public void WindowsEmptyAsTimePassesWithoutASweep()
    {
        var profile = Fold([Track(Now.AddMinutes(-1), "Clicked")]);
        Assert.Equal(1, Insights(profile).Windows["1h"].Events);
        var later = Insights(profile, at: Now.AddHours(2)).Windows;
        Assert.Equal(0, later["1h"].Events);
        Assert.Equal(1, later["24h"].Events);
        Assert.Equal(0, Insights(profile, at: Now.AddDays(31)).Windows["30d"].Events);
    }

    [Fact]
    public void AnEventBehindTheWatermarkCountsInLifetimeCountersOnly()
    {
        var events = new[] { Track(Now, "Clicked"), Track(Now.AddDays(-50), "Clicked") };
        var profile = ProfileFolder.FoldAll(null, events, Now, ProfileFolder.DefaultAllowedLateness, out var late);
        Assert.Equal(1, late);
        Assert.Equal(2, profile.EventCounts["Clicked"]);
        Assert.Single(profile.Activity!.Days);
    }

    [Fact]
    public void AClockAheadOfTheCollectorCannotPlaceAnEventInTheFuture()
    {
        var ahead = Event(EventTypes.Track, Now.AddDays(6), "Clicked", receivedAt: Now);
        var profile = Fold([Track(Now.AddMinutes(-10), "Clicked"), ahead]);
        Assert.Equal(Now, profile.Activity!.Newest);
        Assert.Equal(2, Insights(profile).Windows["1h"].Events);
    }

    [Fact]
    public void OrdersCountWithTheirRevenueInWindowsAndLifetime()
    {
        var profile = Fold([
            Track(Now.AddDays(-1), ActivityKeys.OrderEvent, 19.99m),
            Track(Now.AddDays(-20), ActivityKeys.OrderEvent, 100m),
            Event(EventTypes.Track, Now.AddDays(-2), ActivityKeys.OrderEvent, new() { ["total"] = 5 }),
            Event(EventTypes.Track, Now.AddDays(-3), ActivityKeys.OrderEvent, new() { ["revenue"] = "lots" }),
        ]);
        var insights = Insights(profile);
        Assert.Equal(4, profile.Purchases!.Orders);
        Assert.Equal(124.99m, profile.Purchases.Revenue);
        Assert.Equal(3, insights.Windows["7d"].Orders);
        Assert.Equal(24.99m, insights.Windows["7d"].Revenue);
        Assert.Equal(4, insights.Rfm.Orders30d);
        Assert.Equal(124.99m, insights.Rfm.Revenue30d);
        Assert.Equal(1, Math.Round(insights.Rfm.DaysSinceLastOrder!.Value));
    }

    [Fact]
    public void SessionsKeepTheirDwellTimeAndTheNewestAreKept()
    {
        var events = new List<EnrichedEvent>();
        for (var i = 0; i < ActivityFolder.MaxRecentSessions + 5; i++)
        {
            var start = Now.AddHours(-i - 1);
            events.Add(Event(EventTypes.Page, start, "Home", session: $"s{i:00}", newSession: true));
            events.Add(Event(EventTypes.Page, start.AddSeconds(90), "Pricing", session: $"s{i:00}", sessionStart: start));
        }
        var profile = Fold(events);
        Assert.Equal(ActivityFolder.MaxRecentSessions, profile.RecentSessions.Count);
        Assert.Equal("s00", profile.RecentSessions[^1].SessionId);
        Assert.All(profile.RecentSessions, s => Assert.Equal(90, s.DwellSeconds));
        Assert.Equal(90, Insights(profile).Engagement.AverageSessionDwellSeconds);
        Assert.Equal(23, Insights(profile).Windows["24h"].Sessions); // started from 13:00 yesterday: the current hour and the 23 before it
    }

    [Fact]
    public void ClickFrequencyIsEventsPerActiveMinuteOverTheLastHour()
    {
        var profile = Fold([
            Track(Now.AddMinutes(-3).AddSeconds(-1), "Clicked"), Track(Now.AddMinutes(-3).AddSeconds(-2), "Clicked"),
            Track(Now.AddMinutes(-3).AddSeconds(-3), "Clicked"), Track(Now.AddMinutes(-10), "Clicked"),
        ]);
        var engagement = Insights(profile).Engagement;
        Assert.Equal(2, engagement.ActiveMinutesLastHour);
        Assert.Equal(2, engagement.EventsPerActiveMinute);
        Assert.Equal(3, engagement.PeakEventsPerMinuteLastHour);
    }

    [Fact]
    public void ATrackEventNamedLikeAnInternalKeyStaysItsOwnCount()
    {
        var profile = Fold([Track(Now, "$page"), Event(EventTypes.Page, Now, "Home")]);
        var window = Insights(profile).Windows["1h"];
        Assert.Equal(1, window.PageViews);
        Assert.Equal(1, window.Counts["$page"]);
    }

    [Fact]
    public void AProfileIsNextDueWhenItsOldestBucketLeavesTheLastHour()
    {
        var profile = Fold([Track(Now.AddMinutes(-59).AddSeconds(-10), "Clicked"), Track(Now.AddMinutes(-5), "Clicked")]);
        var minute = Now.AddMinutes(-59).AddSeconds(-10).ToUnixTimeSeconds() / 60 * 60;
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(minute + 3_600), InsightsEvaluator.NextChange(profile, Now));
        // Evaluated then, the hour holds one event less, and the profile is due again when the next bucket leaves.
        var then = DateTimeOffset.FromUnixTimeSeconds(minute + 3_600);
        Assert.Equal(1, Insights(profile, at: then).Windows["1h"].Events);
        Assert.Equal(Now.AddMinutes(-5).ToUnixTimeSeconds() / 60 * 60 + 3_600, InsightsEvaluator.NextChange(profile, then)!.Value.ToUnixTimeSeconds());
    }

    [Fact]
    public void AQuietProfileIsDueDailyUntilItsDaysLeaveTheBaselineAndThenNever()
    {
        var lastDay = Now.AddDays(-20);
        var profile = Fold([Track(lastDay, "Clicked")]);
        Assert.Equal(Now.AddDays(1), InsightsEvaluator.NextChange(profile, Now));
        var dayStart = lastDay.ToUnixTimeSeconds() / 86_400 * 86_400;
        var afterBaseline = DateTimeOffset.FromUnixTimeSeconds(dayStart + 35 * 86_400);
        Assert.Equal(afterBaseline.AddDays(-1), InsightsEvaluator.NextChange(profile, afterBaseline.AddDays(-2)));
        Assert.Null(InsightsEvaluator.NextChange(profile, afterBaseline));
        Assert.Null(InsightsEvaluator.NextChange(ProfileFolder.Empty("u1"), Now));
    }

    [Fact]
    public void DwellPerPageIsTheTimeToTheNextPageOrToTheSessionsLastEvent()
    {
        var start = Now.AddMinutes(-30);
        var profile = Fold(
        [
            Event(EventTypes.Page, start.AddSeconds(90), "Cart", sessionStart: start),
            Event(EventTypes.Track, start.AddSeconds(120), "Clicked", sessionStart: start),
            Event(EventTypes.Page, start, "Home", sessionStart: start, newSession: true),
            Event(EventTypes.Page, start.AddSeconds(30), "Shoes", sessionStart: start),
            Event(EventTypes.Page, start.AddSeconds(200), "Home", session: "s2", sessionStart: start.AddSeconds(200)),
        ]);
        var dwell = Insights(profile).Engagement.PageDwell;
        Assert.Equal(new PageDwell(2, 30, 15), dwell["Home"]); // 30 s, then 0 s: the last event of its session
        Assert.Equal(new PageDwell(1, 60, 60), dwell["Shoes"]);
        Assert.Equal(new PageDwell(1, 30, 30), dwell["Cart"]);
    }
}
