using System.Text.Json;
using Personalization.Consent.Data;

namespace Personalization.Consent.Tests;

public sealed class DeadLetterOwnersTests
{
    private static HashSet<string> Owners(string json) => DeadLetters.ProfileIds(JsonDocument.Parse(json).RootElement);

    [Fact]
    public void TheIdsOfABatchOfCollectedEventsAreFound() =>
        Assert.Equal(["u1", "a1", "u2"], Owners("""{"events":[{"userId":"u1","anonymousId":"a1","event":"Clicked"},{"userId":"u2"}]}"""));

    [Fact]
    public void TheIdsOfEnrichedEventsAreFoundInsideTheirEvent() =>
        Assert.Equal(["u1", "old"], Owners("""{"events":[{"event":{"userId":"u1","previousId":"old","type":"alias"},"session":{"sessionId":"s"}}]}"""));

    [Fact]
    public void ASingleEventOrAConsentChangeNamesItsUser()
    {
        Assert.Equal(["u1"], Owners("""{"type":"track","userId":"u1","event":42}"""));
        Assert.Equal(["u9"], Owners("""{"userId":"u9","purposes":{"analytics":false}}"""));
    }

    [Fact]
    public void IdsInPropertiesOrTraitsAreNotOwners() =>
        Assert.Equal(["u1"], Owners("""{"userId":"u1","properties":{"userId":"someone-else"},"traits":{"anonymousId":"x"}}"""));
}
