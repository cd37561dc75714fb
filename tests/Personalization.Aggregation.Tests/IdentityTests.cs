using System.Text.Json.Nodes;
using CsCheck;
using Personalization.Aggregation.Model;
using Personalization.Contracts;
using static Personalization.Aggregation.Tests.StreamFixtures;

namespace Personalization.Aggregation.Tests;

/// <summary>Identity resolution: which ids join which profile (<see cref="IdentityRules"/>), and merging two profiles (<see cref="ProfileMerger"/>).</summary>
public sealed class IdentityTests
{
    private static IdentityLink Identify(string anonymousId, string userId) => new(anonymousId, userId, IsAlias: false, "m");
    private static IdentityLink Alias(string previousId, string userId) => new(previousId, userId, IsAlias: true, "m");

    private static Dictionary<string, string> Take(params IdentityLink[] links)
    {
        var masters = new Dictionary<string, string>(StringComparer.Ordinal);
        IdentityRules.Apply(masters, links);
        return masters;
    }

    [Fact]
    public void AnIdentifiedAnonymousIdBelongsToTheUser()
    {
        var masters = new Dictionary<string, string>(StringComparer.Ordinal);
        Assert.Equal([new IdentityJoin("anon-1", "alice", "m")], IdentityRules.Apply(masters, [Identify("anon-1", "alice")]));
        Assert.Equal("alice", masters["anon-1"]);
        Assert.Empty(IdentityRules.Apply(masters, [Identify("anon-1", "alice")]));
    }

    [Fact]
    public void AnAliasCycleEndsWithOneMaster()
    {
        var masters = Take(Alias("a", "b"), Alias("b", "a"), Alias("a", "b"));
        Assert.Equal(new Dictionary<string, string> { ["a"] = "b" }, masters);
    }

    [Fact]
    public void AnAnonymousIdStaysWithItsFirstUserOnASharedDevice()
    {
        var masters = Take(Identify("device-1", "alice"), Identify("device-1", "bob"));
        Assert.Equal("alice", masters["device-1"]);
        Assert.False(masters.ContainsKey("bob"));
    }

    [Fact]
    public void AnAliasMergesTwoKnownUsersAndEveryIdOfThePreviousOneFollows()
    {
        var masters = Take(Identify("anon-1", "old-account"), Identify("anon-2", "old-account"), Alias("old-account", "new-account"));
        Assert.Equal("new-account", masters["old-account"]);
        Assert.Equal("new-account", masters["anon-1"]);
        Assert.Equal("new-account", masters["anon-2"]);
    }

    [Fact]
    public void TheLinksAnEventMakes()
    {
        var at = Now;
        CollectedEvent Of(string type, string? userId, string? anonymousId, string? previousId = null) => new()
        {
            Type = type, MessageId = "m1", UserId = userId, AnonymousId = anonymousId, PreviousId = previousId, Timestamp = at, ReceivedAt = at,
        };
        Assert.Equal(Identify("a1", "u1") with { MessageId = "m1" }, IdentityRules.LinkOf(Of(EventTypes.Identify, "u1", "a1")));
        Assert.Equal(Identify("a1", "u1") with { MessageId = "m1" }, IdentityRules.LinkOf(Of(EventTypes.Track, "u1", "a1")));
        Assert.Equal(Alias("old", "u1") with { MessageId = "m1" }, IdentityRules.LinkOf(Of(EventTypes.Alias, "u1", null, "old")));
        Assert.Null(IdentityRules.LinkOf(Of(EventTypes.Track, "u1", null)));
        Assert.Null(IdentityRules.LinkOf(Of(EventTypes.Track, null, "a1")));
        Assert.Null(IdentityRules.LinkOf(Of(EventTypes.Identify, "u1", "u1")));
    }

    /// <summary>Any sequence of links over a few ids: every master is a root (no chains), and the two ids of a link that joined share a master.</summary>
    [Fact]
    public void LinksNeverFormChainsAndJoinedIdsShareAMaster()
    {
        var anyLink = Gen.Select(Gen.Int[0, 5], Gen.Int[0, 5], Gen.Bool)
            .Where((from, to, _) => from != to)
            .Select((from, to, alias) => new IdentityLink($"id{from}", $"id{to}", alias, "m"));
        anyLink.Array[1, 30].Sample(links =>
        {
            var masters = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var link in links)
            {
                var joins = IdentityRules.Apply(masters, [link]);
                foreach (var master in masters.Values) Assert.False(masters.ContainsKey(master), $"{master} is a master and has one");
                if (joins.Count > 0) Assert.Equal(masters.GetValueOrDefault(link.From) ?? link.From, masters.GetValueOrDefault(link.To) ?? link.To);
            }
        }, iter: 500);
    }

    private static readonly Gen<EnrichedEvent> AnyEvent =
        Gen.Select(Gen.Int[0, 4], Gen.Int[0, 50 * 86_400], Gen.Int[0, 7], Gen.Int[0, 500], Gen.Int[0, 9])
            .Select((kind, ago, session, cents, plan) =>
            {
                var at = Now.AddSeconds(-ago);
                var start = Now.AddHours(-session * 30);
                return kind switch
                {
                    0 => Event(EventTypes.Page, at, "Home", session: $"s{session}", sessionStart: start, newSession: ago % 3 == 0),
                    1 => Event(EventTypes.Screen, at, "Cart", session: $"s{session}", sessionStart: start),
                    2 => Event(EventTypes.Identify, at, traits: new JsonObject { ["plan"] = $"p{plan}", [$"t{plan % 3}"] = ago }, session: $"s{session}", sessionStart: start),
                    _ => Event(EventTypes.Track, at, ActivityKeys.OrderEvent, new JsonObject { ["revenue"] = cents / 100m }, session: $"s{session}", sessionStart: start),
                };
            });

    /// <summary>
    /// The events of one person, some sent under an anonymous id: folding each id's events into its own profile and
    /// merging those gives what folding them all into one gives — nothing lost, nothing counted twice, in either order
    /// of merging.
    /// </summary>
    [Fact]
    public void MergingTheProfilesOfTwoIdsGivesWhatFoldingAllTheirEventsGives()
    {
        Gen.Select(AnyEvent.Array[1, 60], Gen.Bool.Array[60]).Sample((events, anonymous) =>
        {
            var distinct = events.DistinctBy(e => e.Event.Timestamp).ToArray();
            var asAnonymous = distinct.Where((_, i) => anonymous[i]).Select(e => e with { Event = e.Event with { UserId = null, AnonymousId = "anon-1" } }).ToList();
            var asUser = distinct.Where((_, i) => !anonymous[i]).ToList();
            var expected = Comparable(Fold(distinct, TimeSpan.FromDays(31)));
            var userProfile = asUser.Count > 0 ? Fold(asUser, TimeSpan.FromDays(31)) : ProfileFolder.Empty("u1");
            var anonymousProfile = asAnonymous.Count > 0 ? Fold(asAnonymous, TimeSpan.FromDays(31)) : ProfileFolder.Empty("anon-1");
            Assert.Equal(expected, Comparable(ProfileMerger.Merge(userProfile, anonymousProfile, Now, TimeSpan.FromDays(31))));
            Assert.Equal(expected, Comparable(ProfileMerger.Merge(anonymousProfile, userProfile, Now, TimeSpan.FromDays(31))));
        }, iter: 300);
    }

    [Fact]
    public void AMergedProfileNamesTheIdsMergedInAndKeepsItsAnonymousIds()
    {
        var user = Fold([Track(Now.AddMinutes(-5), "Clicked")]);
        var anonymous = ProfileFolder.FoldAll(null, [Track(Now.AddMinutes(-9), "Clicked") is var e ? e with { Event = e.Event with { UserId = null, AnonymousId = "anon-1" } } : null!],
            Now, ProfileFolder.DefaultAllowedLateness, out _);
        var merged = ProfileMerger.Merge(user, anonymous, Now, ProfileFolder.DefaultAllowedLateness);
        Assert.Equal(["anon-1"], merged.MergedIds);
        Assert.Equal(["anon-1"], merged.AnonymousIds);
        Assert.Equal("u1", merged.UserId);
        Assert.Equal(2, merged.EventCounts["Clicked"]);
        Assert.Equal(Now.AddMinutes(-9), merged.FirstSeen);
        var redirect = ProfileMerger.Redirect("anon-1", "u1", anonymous.Version, Now);
        Assert.Equal("u1", redirect.MergedInto);
        Assert.True(redirect.Version > anonymous.Version);
    }

    /// <summary>What identity does not decide (ids, versions, times of writing) left out; the rest canonical.</summary>
    private static string Comparable(UserProfile profile) => Canonical(profile with
    {
        ProfileId = "", UserId = null, AnonymousIds = [], MergedIds = [], Version = 0, UpdatedAt = default,
    });
}
