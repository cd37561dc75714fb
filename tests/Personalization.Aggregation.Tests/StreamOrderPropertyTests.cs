using System.Text.Json.Nodes;
using CsCheck;
using Personalization.Aggregation.Model;
using Personalization.Contracts;
using static Personalization.Aggregation.Tests.StreamFixtures;

namespace Personalization.Aggregation.Tests;

/// <summary>Any order of the same events gives the same profile: counters, buckets, sessions, orders, traits, windows, flags and segments.</summary>
public sealed class StreamOrderPropertyTests
{
    private static readonly string[] Names = ["Product Viewed", "Clicked", ActivityKeys.OrderEvent, "$odd"];

    private static readonly IReadOnlyList<CompiledSegment> Segments =
    [
        Segment("buyers", """{"field":"orders","window":"30d","op":">=","value":2}"""),
        Segment("active", """{"any":[{"field":"events","window":"1h","op":">","value":3},{"field":"flags.anomaly","op":"==","value":true}]}"""),
        Segment("pro", """{"all":[{"field":"traits.plan","op":"==","value":"pro"},{"not":{"field":"flags.churnRisk","op":"==","value":true}}]}"""),
    ];

    /// <summary>An event up to 60 days old (some ahead of when they were received), of one of 12 sessions.</summary>
    private static readonly Gen<EnrichedEvent> AnyEvent =
        Gen.Select(Gen.Int[0, 5], Gen.Int[0, 60 * 86_400], Gen.Int[0, 11], Gen.Int[0, 3], Gen.Int[0, 500], Gen.Bool, Gen.Int[0, 100])
            .Select((kind, ago, session, name, cents, plan, ahead) =>
            {
                var at = Now.AddSeconds(-ago);
                var sessionStart = Now.AddHours(-session * 100);
                var received = ahead < 10 ? at.AddDays(-1) : (DateTimeOffset?)null;
                return kind switch
                {
                    0 => Event(EventTypes.Page, at, "Home", session: $"s{session}", sessionStart: sessionStart, newSession: ago % 7 == 0, receivedAt: received),
                    1 => Event(EventTypes.Screen, at, "Cart", session: $"s{session}", sessionStart: sessionStart),
                    2 => Event(EventTypes.Identify, at, traits: new JsonObject { ["plan"] = plan ? "pro" : "basic", ["seen"] = ago },
                        session: $"s{session}", sessionStart: sessionStart),
                    _ => Event(EventTypes.Track, at, Names[name], new JsonObject { ["revenue"] = cents / 100m },
                        session: $"s{session}", sessionStart: sessionStart, newSession: ago % 5 == 0, receivedAt: received),
                };
            });

    [Fact]
    public void AnyOrderOfTheSameEventsGivesTheSameProfile()
    {
        Gen.Select(AnyEvent.Array[1, 80], Gen.Int).Sample((events, seed) =>
        {
            // Identify events at one instant would tie (the one folded last wins, by design): keep one per instant.
            var distinct = events.DistinctBy(e => e.Event.Timestamp).ToArray();
            var shuffled = distinct.OrderBy(_ => new Random(seed).Next()).ToArray();
            new Random(seed).Shuffle(shuffled);
            var a = ProfileEvaluation.Apply(Fold(distinct, TimeSpan.FromDays(31)), Segments, new FlagOptions { BurstEventsPerMinute = 3 }, Now);
            var b = ProfileEvaluation.Apply(Fold(shuffled, TimeSpan.FromDays(31)), Segments, new FlagOptions { BurstEventsPerMinute = 3 }, Now);
            Assert.Equal(Canonical(a.Profile), Canonical(b.Profile));
        }, iter: 300);
    }

    [Fact]
    public void FoldingInOneBatchOrEventByEventGivesTheSameProfile()
    {
        AnyEvent.Array[1, 40].Sample(events =>
        {
            var distinct = events.DistinctBy(e => e.Event.Timestamp).ToArray();
            UserProfile? oneByOne = null;
            foreach (var e in distinct) oneByOne = ProfileFolder.FoldAll(oneByOne, [e], Now, ProfileFolder.DefaultAllowedLateness, out _);
            Assert.Equal(Canonical(Fold(distinct)), Canonical(oneByOne!));
        }, iter: 200);
    }
}
