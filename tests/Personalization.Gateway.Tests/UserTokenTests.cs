using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Personalization.Gateway.Model;

namespace Personalization.Gateway.Tests;

/// <summary>Per-user tokens: minted with the admin key, accepted only for that user's browser routes, refused when expired or forged.</summary>
public sealed class UserTokenTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private async Task<string> MintAsync(string userId, int? ttlSeconds = null)
    {
        using var client = fixture.Factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", GatewayFixture.AdminKey);
        var response = await client.PostAsJsonAsync("/v1/tokens", new { userId, ttlSeconds });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(userId, body.GetProperty("userId").GetString());
        return body.GetProperty("token").GetString()!;
    }

    private async Task<HttpResponseMessage> GetAsync(string path, string? bearer)
    {
        using var client = fixture.Factory.CreateClient();
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task AUserTokenReachesTheUsersStreamWithTheUserNamedAndTheTokenKeptAtTheGateway()
    {
        var token = await MintAsync("u1");

        var viaHeader = await GetAsync("/v1/profiles/u1/stream", token);
        var viaQuery = await GetAsync($"/v1/profiles/u1/stream?fields=traits&access_token={token}", null);

        foreach (var response in new[] { viaHeader, viaQuery })
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var echo = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("profile-query", echo.GetProperty("service").GetString());
            Assert.Equal("u1", echo.GetProperty("tokenUser").GetString());
            Assert.Equal("", echo.GetProperty("authorization").GetString());
            Assert.DoesNotContain("access_token", echo.GetProperty("query").GetString());
        }
    }

    [Fact]
    public async Task AClientCannotNameTheTokenUserItself()
    {
        using var client = fixture.Factory.CreateClient();
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/profiles/u2");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", GatewayFixture.ReadKey);
        request.Headers.Add("X-Token-User", "u2");

        var echo = await (await client.SendAsync(request)).Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal("", echo.GetProperty("tokenUser").GetString());
    }

    [Fact]
    public async Task AUserTokenMayNotUseKeyRoutes()
    {
        var token = await MintAsync("u1");

        var batch = await GetAsync("/v1/consent/u1", token);
        var problem = await batch.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.Forbidden, batch.StatusCode);
        Assert.Contains("a user token", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AForgedOrExpiredTokenIs401()
    {
        var token = await MintAsync("u1");
        var parts = token.Split('.');
        var forged = $"{parts[0]}.{parts[1]}.{parts[2][..^4]}AAAA";
        var otherKey = new UserTokens(new UserTokenOptions { SigningKey = new string('k', 40) }, TimeProvider.System).Mint("u1", TimeSpan.FromMinutes(5)).Token;
        var expired = new UserTokens(new UserTokenOptions { SigningKey = GatewayFixture.UserTokenKey }, new PastClock(TimeSpan.FromHours(2)))
            .Mint("u1", TimeSpan.FromMinutes(5)).Token;

        foreach (var (bad, why) in new[] { (forged, "signature"), (otherKey, "signature"), (expired, "expired") })
        {
            var response = await GetAsync("/v1/profiles/u1/stream", bad);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains(why, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task MintingNeedsTheAdminKeyAndAUsableRequest()
    {
        using var client = fixture.Factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", GatewayFixture.ReadKey);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsJsonAsync("/v1/tokens", new { userId = "u1" })).StatusCode);

        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", GatewayFixture.AdminKey);
        foreach (var (body, field) in new[] { ((object)new { userId = "" }, "userId"), (new { userId = "u1", ttlSeconds = 5 }, "ttlSeconds") })
        {
            var response = await client.PostAsJsonAsync("/v1/tokens", body);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(field, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("field").GetString());
        }
    }

    private sealed class PastClock(TimeSpan ago) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.UtcNow - ago;
    }
}
