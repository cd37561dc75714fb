using System.Text;
using Personalization.Consent.Data;
using Personalization.Consent.Model;
using Personalization.Streaming;
using Personalization.Contracts;

namespace Personalization.Consent.Tests;

public sealed class ConsentRequestTests
{
    private static ConsentRequest? Parse(string json, out FieldError? error) => ConsentRequest.Parse(Encoding.UTF8.GetBytes(json), out error);

    [Fact]
    public void ValidBodyGivesItsPurposesAndSource()
    {
        var request = Parse("""{"purposes":{"analytics":true,"marketing":false},"source":"cmp"}""", out var error);
        Assert.Null(error);
        Assert.NotNull(request);
        Assert.True(request.Purposes["analytics"]);
        Assert.False(request.Purposes["marketing"]);
        Assert.Equal("cmp", request.Source);
    }

    [Theory]
    [InlineData("""{"purposes":{"analytics":"yes"}}""", "purposes.analytics")]
    [InlineData("""{"purposes":{"Analytics!":true}}""", "purposes.Analytics!")]
    [InlineData("""{"purposes":[]}""", "purposes")]
    [InlineData("""{"purposes":{}}""", "purposes")]
    [InlineData("""{}""", "purposes")]
    [InlineData("""{"purposes":{"analytics":true},"purpose":1}""", "purpose")]
    [InlineData("""{"purposes":{"analytics":true},"source":7}""", "source")]
    [InlineData("""{"purposes":{"analytics":true},"source":"cmp\u0000"}""", "source")]
    [InlineData("""{"purposes":{"analytics":true},"policyVersion":"v\n2"}""", "policyVersion")]
    [InlineData("""[1,2]""", "body")]
    [InlineData("""{"purposes":""", "body")]
    [InlineData("""{"purposes":{"analytics":true,"analytics":false}}""", "purposes.analytics")]
    public void BadBodyIsRefusedNamingTheField(string json, string field)
    {
        Assert.Null(Parse(json, out var error));
        Assert.NotNull(error);
        Assert.Equal(field, error.Field);
    }

    [Fact]
    public void InvalidUtf8IsRefusedAsABadBody()
    {
        Assert.Null(ConsentRequest.Parse(new byte[] { (byte)'{', 0xC3, 0x28, (byte)'}' }, out var error));
        Assert.Equal("body", error?.Field);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("a\u0001b")]
    public void UnusableUserIdIsRefused(string userId) => Assert.Equal("userId", ConsentRequest.ValidateUserId(userId)?.Field);

    [Fact]
    public void TooLongUserIdIsRefused() => Assert.NotNull(ConsentRequest.ValidateUserId(new string('u', ConsentRequest.MaxUserIdLength + 1)));

    [Fact]
    public void RequestChangesTheNamedPurposesAndKeepsTheOthers()
    {
        var now = DateTimeOffset.UtcNow;
        var current = new ConsentState("u1", new Dictionary<string, bool> { ["analytics"] = true, ["marketing"] = true }, now.AddDays(-1));
        var request = Parse("""{"purposes":{"marketing":false,"research":true}}""", out _)!;
        var next = ConsentRecorder.Apply(current, "u1", request.Changes(new Dictionary<string, bool>()), now);
        Assert.True(next.Purposes["analytics"]);
        Assert.False(next.Purposes["marketing"]);
        Assert.True(next.Purposes["research"]);
        Assert.Equal(now, next.UpdatedAt);
    }

    [Fact]
    public void ChangesCarryTheirSourceDefaultingToApi()
    {
        var changes = Parse("""{"purposes":{"analytics":true}}""", out _)!.Changes(new Dictionary<string, bool>());
        Assert.Equal([new ConsentChange("analytics", true, "api")], changes);
        changes = Parse("""{"purposes":{"analytics":false},"source":"cmp"}""", out _)!.Changes(new Dictionary<string, bool>());
        Assert.Equal([new ConsentChange("analytics", false, "cmp")], changes);
    }

    [Fact]
    public void DoNotSellDeniesItsMappedPurposesFromItsOwnSourceAndWinsOverTheSameBody()
    {
        var doNotSell = new Dictionary<string, bool> { ["marketing"] = false, ["sale"] = false };
        var request = Parse("""{"purposes":{"marketing":true,"analytics":true},"doNotSellOrShare":true,"policyVersion":"v7"}""", out _)!;

        var changes = request.Changes(doNotSell);

        Assert.Equal("v7", request.PolicyVersion);
        Assert.Equal(
            [new ConsentChange("analytics", true, "api"), new ConsentChange("marketing", false, "do-not-sell"), new ConsentChange("sale", false, "do-not-sell")],
            changes);
    }

    [Fact]
    public void DoNotSellAloneNeedsNoPurposes()
    {
        var request = Parse("""{"doNotSellOrShare":true}""", out var error);
        Assert.Null(error);
        Assert.Equal([new ConsentChange("sale", false, "do-not-sell")], request!.Changes(new Dictionary<string, bool> { ["sale"] = false }));
    }

    [Theory]
    [InlineData("""{"doNotSellOrShare":"yes"}""", "doNotSellOrShare")]
    [InlineData("""{"purposes":{"a":true},"policyVersion":7}""", "policyVersion")]
    [InlineData("""{"doNotSellOrShare":false}""", "purposes")]
    public void BadPrivacyFieldsAreNamed(string body, string field)
    {
        Assert.Null(Parse(body, out var error));
        Assert.Equal(field, error!.Field);
    }

    [Fact]
    public void InvalidUtf8InANameIsRejectedNamingTheBodyNotThrown()
    {
        byte[] body = [.. Encoding.UTF8.GetBytes("{\"purpo"), 0xFF, .. Encoding.UTF8.GetBytes("ses\":{\"analytics\":true}}")];

        Assert.Null(ConsentRequest.Parse(body, out var error));
        Assert.Equal("body", error!.Field);
        Assert.Contains("UTF-8", error.Detail);
    }
}
