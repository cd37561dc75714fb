using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Hosting;

namespace Personalization.Gateway.Tests;

public sealed class RateLimitTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task AKeyOverItsBucketGets429WithRetryAfterWhileOtherKeysGoOn()
    {
        await using var factory = fixture.Factory.WithWebHostBuilder(web =>
        {
            web.UseSetting("RateLimiting:TokenLimit", "2");
            web.UseSetting("RateLimiting:TokensPerPeriod", "1");
            web.UseSetting("RateLimiting:ReplenishmentPeriod", "00:01:00");
        });
        using var client = factory.CreateClient();
        var write = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(GatewayFixture.WriteKey + ":")));

        Task<HttpResponseMessage> Track() => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/track")
        {
            Headers = { Authorization = write },
            Content = new StringContent("{}", Encoding.UTF8, "application/json"),
        });

        Assert.Equal(HttpStatusCode.OK, (await Track()).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Track()).StatusCode);
        var limited = await Track();
        var otherKey = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/profiles/u1")
        {
            Headers = { Authorization = new AuthenticationHeaderValue("Bearer", GatewayFixture.ReadKey) },
        });

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Contains("urn:personalization:problem:rate-limited", await limited.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, otherKey.StatusCode);
    }
}
