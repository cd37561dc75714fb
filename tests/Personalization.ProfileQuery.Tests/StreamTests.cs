using System.Text.Json.Nodes;
using CsCheck;
using Personalization.Contracts;
using Personalization.ProfileQuery.Apis;
using Personalization.ProfileQuery.Decisions;
using Personalization.ProfileQuery.Live;

namespace Personalization.ProfileQuery.Tests;

/// <summary>What a live stream sends for what reads find: changes only, in version order, bounded.</summary>
public sealed class StreamTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private static readonly Placement Banner = new("banner", null,
        [new PlacementVariant("loyal", JsonNode.Parse("""{"segment": "buyers"}"""), new JsonObject { ["title"] = "Thanks" })],
        new PlacementVariant("welcome", null, new JsonObject { ["title"] = "Welcome" }), 1, Now);

    private static readonly Dictionary<string, Placement> Catalog = new() { ["banner"] = Banner };

    private static ProfileRead Read(long version, string[]? segments = null, string profileId = "u1") =>
        new("u1", DecisionTests.Profile(segments) with { Version = version, ProfileId = profileId }, Withheld: false);

    private static StreamSubscriber Subscriber(long? lastEventId = null, int buffer = 64, string[]? placements = null) =>
        new("u1", ProfileFields.All, placements ?? ["banner"], buffer, lastEventId);

    private static List<StreamMessage> Drain(StreamSubscriber subscriber)
    {
        var messages = new List<StreamMessage>();
        while (subscriber.Outbox.TryRead(out var message)) messages.Add(message);
        return messages;
    }

    [Fact]
    public void TheFirstOfferIsTheCurrentStateThenOnlyChanges()
    {
        var stream = Subscriber();
        stream.Offer(Read(1), Catalog);
        Assert.Equal(["profile", "flags", "decision"], Drain(stream).Select(m => m.Type));

        stream.Offer(Read(2), Catalog);
        Assert.Equal(["profile"], Drain(stream).Select(m => m.Type)); // same flags, same decision

        stream.Offer(Read(2), Catalog);
        Assert.Empty(Drain(stream));

        stream.Offer(Read(3, ["buyers"]), Catalog);
        var changed = Drain(stream);
        Assert.Equal(["profile", "decision"], changed.Select(m => m.Type));
        Assert.Equal("loyal", JsonNode.Parse(changed[1].Data)!["variant"]!.GetValue<string>());
    }

    [Fact]
    public void ResumingWithLastEventIdSkipsWhatTheClientHas()
    {
        var resumed = Subscriber(lastEventId: 5);
        resumed.Offer(Read(5), Catalog);
        Assert.DoesNotContain("profile", Drain(resumed).Select(m => m.Type));

        resumed.Offer(Read(6), Catalog);
        Assert.Equal(6, Drain(resumed).Single(m => m.Type == "profile").Id);
    }

    [Fact]
    public void AMergeIntoAnotherProfileIsSentEvenAtALowerVersion()
    {
        var stream = Subscriber(placements: []);
        stream.Offer(Read(9, profileId: "a1"), Catalog);
        Drain(stream);

        stream.Offer(Read(4, profileId: "u1"), Catalog);

        var profile = Drain(stream).Single(m => m.Type == "profile");
        Assert.Equal("u1", JsonNode.Parse(profile.Data)!["profileId"]!.GetValue<string>());
    }

    [Fact]
    public void AWithheldProfileEndsTheStream()
    {
        var stream = Subscriber();
        stream.Offer(new ProfileRead("u1", null, Withheld: true), Catalog);

        Assert.Equal(["withheld"], Drain(stream).Select(m => m.Type));
        Assert.True(stream.Outbox.Completion.IsCompleted);
    }

    [Fact]
    public void AReaderAWholeOutboxBehindIsDroppedNotBuffered()
    {
        var stream = Subscriber(buffer: 4, placements: []);
        for (var version = 1; version <= 4; version++) Assert.True(stream.Offer(Read(version), Catalog) || version > 2);

        Assert.True(stream.Dropped.IsCancellationRequested);
        Assert.False(stream.Offer(Read(5), Catalog));
        Assert.True(Drain(stream).Count <= 4);
    }

    [Fact]
    public void InAnyOrderOfReadsTheProfilesSentRiseStrictlyAndEndAtTheNewest()
    {
        Gen.Int[1, 40].Array[1, 30].Sample(versions =>
        {
            var stream = Subscriber(placements: []);
            foreach (var version in versions) stream.Offer(Read(version), Catalog);
            var sent = Drain(stream).Where(m => m.Type == "profile").Select(m => m.Id!.Value).ToList();
            Assert.Equal(versions.Max(), sent[^1]);
            Assert.True(sent.Zip(sent.Skip(1)).All(pair => pair.First < pair.Second), string.Join(",", sent));
        });
    }

    [Fact]
    public void FieldSelectionKeepsTheIdsAndNamesUnknownFields()
    {
        var fields = ProfileFields.Parse("traits, flags", out var error)!;
        var selected = fields.Select(DecisionTests.Profile(flags: ["anomaly"], traits: new JsonObject { ["plan"] = "pro" }));

        Assert.Null(error);
        Assert.Equal(["flags", "profileId", "traits", "version"], selected.Select(p => p.Key).Order());
        Assert.NotNull(selected["flags"]!["anomaly"]);

        Assert.Null(ProfileFields.Parse("traits,height,weight", out error));
        Assert.StartsWith("unknown fields 'height', 'weight'", error!.Detail);
        Assert.True(ProfileFields.Parse("", out _)!.IsAll);
    }
}
