using System.Text;
using Microsoft.Extensions.Primitives;
using Personalization.Gateway.Model;

namespace Personalization.Gateway.Tests;

public sealed class ApiKeyTests
{
    private static readonly ApiKeyOptions Options = new()
    {
        Write = [new WriteKeyOptions { Key = "wk-web", Source = "web" }, new WriteKeyOptions { Key = "wk-ios", Source = "ios" }],
        Read = ["rk"],
        Admin = ["ak"],
    };

    private static string Basic(string user, string password = "") =>
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));

    [Fact]
    public void AWriteKeyIsTheBasicUserNameAsSegmentSdksSendIt()
    {
        Assert.Equal(new PresentedCredentials.Key("wk-web"), PresentedCredentials.From(Basic("wk-web"), StringValues.Empty));
    }

    [Fact]
    public void TheBasicPasswordIsIgnored()
    {
        Assert.Equal(new PresentedCredentials.Key("wk-web"), PresentedCredentials.From(Basic("wk-web", "whatever"), StringValues.Empty));
    }

    [Fact]
    public void AWriteKeyMayComeInXWriteKey()
    {
        Assert.Equal(new PresentedCredentials.Key("wk-web"), PresentedCredentials.From(StringValues.Empty, "wk-web"));
    }

    [Fact]
    public void ABearerTokenIsAKey()
    {
        Assert.Equal(new PresentedCredentials.Key("rk"), PresentedCredentials.From("Bearer rk", StringValues.Empty));
    }

    [Fact]
    public void NoHeadersMeanNoCredentials()
    {
        Assert.IsType<PresentedCredentials.None>(PresentedCredentials.From(StringValues.Empty, StringValues.Empty));
    }

    [Theory]
    [InlineData("Basic !!!notbase64")]
    [InlineData("Basic OnNlY3JldA==")] // ":secret" — an empty user name
    [InlineData("Digest abc")]
    [InlineData("Bearer")]
    [InlineData("rk")]
    public void MalformedAuthorizationIsReportedWithAReason(string header)
    {
        var malformed = Assert.IsType<PresentedCredentials.Malformed>(PresentedCredentials.From(header, StringValues.Empty));
        Assert.False(string.IsNullOrWhiteSpace(malformed.Reason));
    }

    [Fact]
    public void EachKeyResolvesToItsKindAndWriteKeysToTheirSource()
    {
        var registry = new ApiKeyRegistry(Options);

        Assert.Equal((KeyKind.Write, "ios"), (registry.Find("wk-ios")!.Kind, registry.Find("wk-ios")!.Source));
        Assert.Equal(KeyKind.Read, registry.Find("rk")!.Kind);
        Assert.Equal(KeyKind.Admin, registry.Find("ak")!.Kind);
        Assert.Null(registry.Find("nope"));
    }

    [Fact]
    public void AKeyIdNeverContainsTheKeyItself()
    {
        var registry = new ApiKeyRegistry(Options);

        Assert.Equal("write:web", registry.Find("wk-web")!.Id);
        Assert.DoesNotContain("rk", registry.Find("rk")!.Id[5..]);
        Assert.StartsWith("admin:", registry.Find("ak")!.Id);
    }

    [Fact]
    public void KeysAreCaseSensitive()
    {
        Assert.Null(new ApiKeyRegistry(Options).Find("WK-WEB"));
    }

    [Fact]
    public void AKeyConfiguredAsTwoKindsIsAStartUpProblem()
    {
        var options = new ApiKeyOptions { Write = [new WriteKeyOptions { Key = "same", Source = "web" }], Admin = ["same"] };

        Assert.Contains(ApiKeyRegistry.Problems(options), problem => problem.Contains("one kind"));
    }

    [Fact]
    public void AnEmptyKeyOrAWriteKeyWithoutSourceIsAStartUpProblem()
    {
        Assert.NotEmpty(ApiKeyRegistry.Problems(new ApiKeyOptions { Read = [""] }));
        Assert.NotEmpty(ApiKeyRegistry.Problems(new ApiKeyOptions { Write = [new WriteKeyOptions { Key = "k", Source = "" }] }));
        Assert.Empty(ApiKeyRegistry.Problems(Options));
    }

    [Theory]
    [InlineData(Policies.WriteKey, KeyKind.Write, true)]
    [InlineData(Policies.WriteKey, KeyKind.Admin, false)]
    [InlineData(Policies.ReadKey, KeyKind.Admin, true)]
    [InlineData(Policies.ReadKey, KeyKind.Write, false)]
    [InlineData(Policies.WriteOrAdminKey, KeyKind.Admin, true)]
    [InlineData(Policies.WriteOrAdminKey, KeyKind.Read, false)]
    [InlineData(Policies.AdminKey, KeyKind.Read, false)]
    public void EachPolicyAdmitsItsKinds(string policy, KeyKind kind, bool admitted)
    {
        Assert.Equal(admitted, Policies.Admitted[policy].Contains(kind));
    }

    [Fact]
    public void APolicyDescribesWhatItNeeds()
    {
        Assert.Equal("a read or admin key", Policies.Describe(Policies.ReadKey));
    }
}
