using System.Text.Json.Nodes;
using Personalization.Aggregation.Model;
using Personalization.Contracts;

namespace Personalization.Aggregation.Tests;

public sealed class ProfileFolderTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Now = T0.AddHours(1);
    private static readonly DeviceContext Desktop = new("desktop", "Windows", "10", "Chrome", "120");
    private static readonly DeviceContext Phone = new("mobile", "iOS", "17", "Safari", "17");

    private static EnrichedEvent Enriched(
        string type, DateTimeOffset at, string? name = null, JsonObject? traits = null, bool newSession = false,
        DeviceContext? device = null, string messageId = "m", string? userId = "u1", string? anonymousId = null) =>
        new(new CollectedEvent
            {
                Type = type,
                MessageId = messageId,
                UserId = userId,
                AnonymousId = anonymousId,
                Event = type == EventTypes.Track ? name : null,
                Name = type != EventTypes.Track ? name : null,
                Traits = traits,
                Timestamp = at,
                ReceivedAt = at,
            },
            new SessionContext("s1", 1, newSession, at),
            device ?? Desktop,
            null);

    private static UserProfile FoldAll(params EnrichedEvent[] events)
    {
        UserProfile? profile = null;
        foreach (var e in events) profile = ProfileFolder.Fold(profile, e, Now);
        return profile!;
    }

    [Fact]
    public void TrackEventsAreCountedPerEventName()
    {
        var profile = FoldAll(
            Enriched(EventTypes.Track, T0, "Clicked"),
            Enriched(EventTypes.Track, T0.AddSeconds(1), "Clicked"),
            Enriched(EventTypes.Track, T0.AddSeconds(2), "Bought"));
        Assert.Equal(2, profile.EventCounts["Clicked"]);
        Assert.Equal(1, profile.EventCounts["Bought"]);
        Assert.Equal(3, profile.TotalEvents);
    }

    [Fact]
    public void PagesAndScreensAreCountedAsViewsNotAsEventNames()
    {
        var profile = FoldAll(
            Enriched(EventTypes.Page, T0, "Home"),
            Enriched(EventTypes.Page, T0.AddSeconds(1), "Pricing"),
            Enriched(EventTypes.Screen, T0.AddSeconds(2), "Settings"));
        Assert.Equal(2, profile.PageViews);
        Assert.Equal(1, profile.ScreenViews);
        Assert.Empty(profile.EventCounts);
        Assert.Equal(3, profile.TotalEvents);
    }

    [Fact]
    public void OnlyEventsOpeningASessionAddASession()
    {
        var profile = FoldAll(
            Enriched(EventTypes.Page, T0, newSession: true),
            Enriched(EventTypes.Page, T0.AddMinutes(1)),
            Enriched(EventTypes.Page, T0.AddHours(2), newSession: true));
        Assert.Equal(2, profile.Sessions);
    }

    [Fact]
    public void FirstAndLastSeenAreTheEarliestAndLatestEventTimesWhateverTheArrivalOrder()
    {
        var profile = FoldAll(
            Enriched(EventTypes.Track, T0.AddMinutes(5), "A", device: Phone),
            Enriched(EventTypes.Track, T0, "B"),
            Enriched(EventTypes.Track, T0.AddMinutes(2), "C"));
        Assert.Equal(T0, profile.FirstSeen);
        Assert.Equal(T0.AddMinutes(5), profile.LastSeen);
        Assert.Equal(Phone, profile.LastDevice);
    }

    [Fact]
    public void EachFoldBumpsTheVersionAndStampsUpdatedAt()
    {
        var once = ProfileFolder.Fold(null, Enriched(EventTypes.Track, T0, "A"), Now);
        var twice = ProfileFolder.Fold(once, Enriched(EventTypes.Track, T0, "A"), Now.AddSeconds(1));
        Assert.Equal(1, once.Version);
        Assert.Equal(2, twice.Version);
        Assert.Equal(Now.AddSeconds(1), twice.UpdatedAt);
    }

    [Fact]
    public void FoldingDoesNotChangeTheProfileItStartedFrom()
    {
        var before = FoldAll(Enriched(EventTypes.Identify, T0, traits: new JsonObject { ["plan"] = "free" }), Enriched(EventTypes.Track, T0, "A"));
        ProfileFolder.Fold(before, Enriched(EventTypes.Identify, T0.AddMinutes(1), traits: new JsonObject { ["plan"] = "pro" }), Now);
        ProfileFolder.Fold(before, Enriched(EventTypes.Track, T0.AddMinutes(1), "A"), Now);
        Assert.Equal("free", before.Traits["plan"]!.GetValue<string>());
        Assert.Equal(1, before.EventCounts["A"]);
    }

    [Fact]
    public void IdentifyTraitsAreMergedIntoTheProfile()
    {
        var profile = FoldAll(
            Enriched(EventTypes.Identify, T0, traits: new JsonObject { ["email"] = "a@example.com", ["plan"] = "free" }),
            Enriched(EventTypes.Identify, T0.AddMinutes(1), traits: new JsonObject { ["plan"] = "pro" }));
        Assert.Equal("a@example.com", profile.Traits["email"]!.GetValue<string>());
        Assert.Equal("pro", profile.Traits["plan"]!.GetValue<string>());
    }

    [Fact]
    public void TraitsOfNonIdentifyEventsAreIgnored()
    {
        var profile = FoldAll(Enriched(EventTypes.Track, T0, "A", traits: new JsonObject { ["plan"] = "pro" }));
        Assert.Empty(profile.Traits);
    }

    [Fact]
    public void UserIdAndAnonymousIdsAreKept()
    {
        var profile = FoldAll(
            Enriched(EventTypes.Page, T0, anonymousId: "anon-1", userId: null),
            Enriched(EventTypes.Page, T0, anonymousId: "anon-1", userId: "u1"),
            Enriched(EventTypes.Page, T0, anonymousId: "anon-2", userId: "u1"));
        Assert.Equal("u1", profile.UserId);
        Assert.Equal(["anon-1", "anon-2"], profile.AnonymousIds);
    }

    [Fact]
    public void CountersDoNotDependOnTheOrderEventsArriveIn()
    {
        EnrichedEvent[] events =
        [
            Enriched(EventTypes.Identify, T0, traits: new JsonObject { ["plan"] = "free" }, newSession: true),
            Enriched(EventTypes.Track, T0.AddMinutes(1), "A"),
            Enriched(EventTypes.Page, T0.AddMinutes(2), "Home"),
            Enriched(EventTypes.Identify, T0.AddMinutes(3), traits: new JsonObject { ["plan"] = "pro" }),
        ];
        var forward = FoldAll(events);
        var backward = FoldAll([.. events.Reverse()]);
        Assert.Equal(forward.TotalEvents, backward.TotalEvents);
        Assert.Equal(forward.PageViews, backward.PageViews);
        Assert.Equal(forward.Sessions, backward.Sessions);
        Assert.Equal(forward.FirstSeen, backward.FirstSeen);
        Assert.Equal(forward.LastSeen, backward.LastSeen);
        Assert.Equal(forward.EventCounts, backward.EventCounts);
        Assert.Equal("pro", backward.Traits["plan"]!.GetValue<string>());
    }
}
