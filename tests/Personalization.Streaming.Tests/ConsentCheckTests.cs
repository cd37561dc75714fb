using System.Text.Json;
using Personalization.Contracts;

namespace Personalization.Streaming.Tests;

public sealed class ConsentCheckTests
{
    private static readonly UserIdHasher Hasher = new("test-key-of-sixteen+");

    private static CollectedEvent Event(string userId, params string[] purposes) => new()
    {
        Type = EventTypes.Track,
        MessageId = "m1",
        UserId = userId,
        Timestamp = DateTimeOffset.UnixEpoch,
        ReceivedAt = DateTimeOffset.UnixEpoch,
        Purposes = purposes,
    };

    private static Dictionary<string, Stored> Consent(string userId, Dictionary<string, bool> purposes) => new()
    {
        [StateKeys.Consent(userId)] = new(JsonSerializer.Serialize(new ConsentState(userId, purposes, DateTimeOffset.UnixEpoch), ContractsJsonContext.Default.ConsentState), "1"),
    };

    [Fact]
    public void AnEventGoesOnWhenNothingChangedSinceConsentLetItThrough() =>
        Assert.Null(ConsentCheck.Read("u1", Hasher, new Dictionary<string, Stored>()).Refusal(Event("u1", "analytics", "personalization")));

    [Fact]
    public void APurposeRevokedSinceStopsTheEventAndIsNamed()
    {
        var read = Consent("u1", new() { ["analytics"] = true, ["personalization"] = false });
        Assert.Equal("personalization", ConsentCheck.Read("u1", Hasher, read).Refusal(Event("u1", "analytics", "personalization")));
    }

    [Fact]
    public void APurposeTheEventDidNotNeedDoesNotStopIt()
    {
        var read = Consent("u1", new() { ["marketing"] = false });
        Assert.Null(ConsentCheck.Read("u1", Hasher, read).Refusal(Event("u1", "analytics")));
    }

    [Fact]
    public void AnErasedUsersEventIsStoppedWhateverTheirConsent()
    {
        var read = Consent("u1", new() { ["analytics"] = true });
        read[Hasher.SuppressionKey("u1")] = new("{}", "1");
        Assert.Equal(ConsentCheck.Erased, ConsentCheck.Read("u1", Hasher, read).Refusal(Event("u1", "analytics")));
        Assert.Null(ConsentCheck.Read("u2", Hasher, read).Refusal(Event("u2")));
    }

    [Fact]
    public void TheCheckReadsTheConsentAndSuppressionKeysOfTheProfile() =>
        Assert.Equal([StateKeys.Consent("u1"), Hasher.SuppressionKey("u1")], ConsentCheck.Keys("u1", Hasher));

    [Fact]
    public void HashesAreKeyedStableAndNeverTheId()
    {
        var other = new UserIdHasher("another-key-of-16+");
        Assert.Equal(Hasher.Hash("alice@example.com"), Hasher.Hash("alice@example.com"));
        Assert.NotEqual(Hasher.Hash("alice@example.com"), other.Hash("alice@example.com"));
        Assert.NotEqual(Hasher.Hash("alice@example.com"), Hasher.Hash("bob@example.com"));
        Assert.Equal(64, Hasher.Hash("alice@example.com").Length);
        Assert.DoesNotContain("alice", Hasher.SuppressionKey("alice@example.com"));
    }

    [Fact]
    public void AShortHashKeyIsRefusedNamingTheSetting()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new UserIdHasher("short"));
        Assert.Contains(UserIdHasher.ConfigurationKey, error.Message);
    }
}
