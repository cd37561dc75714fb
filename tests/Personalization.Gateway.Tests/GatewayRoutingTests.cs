using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Personalization.Gateway.Tests;

public sealed class GatewayRoutingTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private static AuthenticationHeaderValue Basic(string writeKey) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(writeKey + ":")));

    private static AuthenticationHeaderValue Bearer(string key) => new("Bearer", key);

    private async Task<HttpResponseMessage> Send(HttpMethod method, string path, AuthenticationHeaderValue? auth = null,
        string? body = "{}", Action<HttpRequestMessage>? configure = null)
    {
        using var client = fixture.Factory.CreateClient();
        var request = new HttpRequestMessage(method, path);
        if (body is not null && method != HttpMethod.Get)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }
        request.Headers.Authorization = auth;
        configure?.Invoke(request);
        return await client.SendAsync(request);
    }

    private static async Task<JsonElement> Json(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    [Fact]
    public async Task ARequestWithoutAKeyIs401ProblemWithWwwAuthenticate()
    {
        var response = await Send(HttpMethod.Post, "/v1/track");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "Basic");
        Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "Bearer");
        Assert.Equal("urn:personalization:problem:unauthorized", (await Json(response)).GetProperty("type").GetString());
    }

    [Fact]
    public async Task AnUnknownKeyIs401()
    {
        var response = await Send(HttpMethod.Post, "/v1/track", Basic("not-a-key"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("not known", (await Json(response)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AReadKeyOnACollectorRouteIs403()
    {
        var response = await Send(HttpMethod.Post, "/v1/track", Bearer(GatewayFixture.ReadKey));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = await Json(response);
        Assert.Equal("urn:personalization:problem:forbidden", problem.GetProperty("type").GetString());
        Assert.Contains("write key", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AWriteKeyAsBasicUserReachesTheCollectorWithItsSourceAndWithoutTheKey()
    {
        var response = await Send(HttpMethod.Post, "/v1/track", Basic(GatewayFixture.WriteKey), """{"userId":"u1","event":"A"}""",
            request => request.Headers.Add("X-Source", "forged"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var echo = await Json(response);
        Assert.Equal("collector", echo.GetProperty("service").GetString());
        Assert.Equal("/v1/track", echo.GetProperty("path").GetString());
        Assert.Equal(GatewayFixture.Source, echo.GetProperty("source").GetString());
        Assert.Equal("", echo.GetProperty("authorization").GetString());
        Assert.Equal("""{"userId":"u1","event":"A"}""", echo.GetProperty("body").GetString());
    }

    [Fact]
    public async Task AWriteKeyInXWriteKeyIsAccepted()
    {
        var response = await Send(HttpMethod.Post, "/v1/batch", configure: request => request.Headers.Add("X-Write-Key", GatewayFixture.WriteKey));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var echo = await Json(response);
        Assert.Equal("/v1/batch", echo.GetProperty("path").GetString());
        Assert.Equal("", echo.GetProperty("writeKey").GetString());
    }

    [Theory]
    [InlineData("/v1/t")]
    [InlineData("/v1/i")]
    [InlineData("/v1/b")]
    [InlineData("/v1/alias")]
    public async Task EveryTrackingPathReachesTheCollector(string path)
    {
        var response = await Send(HttpMethod.Post, path, Basic(GatewayFixture.WriteKey));

        Assert.Equal("collector", (await Json(response)).GetProperty("service").GetString());
    }

    [Fact]
    public async Task AProfileReadWithAReadKeyReachesProfileQuery()
    {
        var response = await Send(HttpMethod.Get, "/v1/profiles/u1", Bearer(GatewayFixture.ReadKey));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var echo = await Json(response);
        Assert.Equal(("profile-query", "/v1/profiles/u1"), (echo.GetProperty("service").GetString(), echo.GetProperty("path").GetString()));
    }

    [Fact]
    public async Task AnAdminKeyMayReadProfilesButAWriteKeyMayNot()
    {
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Get, "/v1/profiles/u1", Bearer(GatewayFixture.AdminKey))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Get, "/v1/profiles/u1", Basic(GatewayFixture.WriteKey))).StatusCode);
    }

    [Fact]
    public async Task ConsentIsWrittenWithAWriteOrAdminKeyAndReadWithAReadKey()
    {
        var put = await Send(HttpMethod.Put, "/v1/consent/u1", Basic(GatewayFixture.WriteKey));
        var adminPut = await Send(HttpMethod.Put, "/v1/consent/u1", Bearer(GatewayFixture.AdminKey));
        var readPut = await Send(HttpMethod.Put, "/v1/consent/u1", Bearer(GatewayFixture.ReadKey));
        var get = await Send(HttpMethod.Get, "/v1/consent/u1", Bearer(GatewayFixture.ReadKey));
        var writeGet = await Send(HttpMethod.Get, "/v1/consent/u1", Basic(GatewayFixture.WriteKey));

        Assert.Equal("consent", (await Json(put)).GetProperty("service").GetString());
        Assert.Equal(HttpStatusCode.OK, adminPut.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, readPut.StatusCode);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, writeGet.StatusCode);
    }

    [Fact]
    public async Task AdminRoutesErasureAndExportNeedAnAdminKey()
    {
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Post, "/v1/admin/replay", Bearer(GatewayFixture.ReadKey))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, "/v1/admin/replay", Bearer(GatewayFixture.AdminKey))).StatusCode);
        foreach (var (method, path) in new[] { (HttpMethod.Delete, "/v1/profiles/u1"), (HttpMethod.Get, "/v1/profiles/u1/export"), (HttpMethod.Get, "/v1/privacy/erasures/e1") })
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await Send(method, path, Basic(GatewayFixture.WriteKey))).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await Send(method, path, Bearer(GatewayFixture.ReadKey))).StatusCode);
            var response = await Send(method, path, Bearer(GatewayFixture.AdminKey));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            // Erasure, its status and export are the consent service's: it keeps the erasure log and the ledger.
            var echo = await Json(response);
            Assert.Equal("consent", echo.GetProperty("service").GetString());
            Assert.StartsWith("admin:", echo.GetProperty("keyId").GetString());
        }
        // A profile read stays with profile-query and a read key.
        Assert.Equal("profile-query", (await Json(await Send(HttpMethod.Get, "/v1/profiles/u1", Bearer(GatewayFixture.ReadKey)))).GetProperty("service").GetString());
    }

    [Fact]
    public async Task TheKeyIdReachesTheServiceAndAClientCannotForgeIt()
    {
        var response = await Send(HttpMethod.Put, "/v1/consent/u1", Basic(GatewayFixture.WriteKey), """{"purposes":{"analytics":true}}""",
            request => request.Headers.Add("X-Api-Key-Id", "admin:forged"));

        Assert.Equal("write:" + GatewayFixture.Source, (await Json(response)).GetProperty("keyId").GetString());
    }

    [Fact]
    public async Task AnUnknownRouteIs404Problem()
    {
        var response = await Send(HttpMethod.Get, "/v2/nothing", Bearer(GatewayFixture.ReadKey));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("urn:personalization:problem:not-found", (await Json(response)).GetProperty("type").GetString());
    }

    [Fact]
    public async Task ACollectorRequestOverTheSizeLimitIs413NamingTheLimit()
    {
        var response = await Send(HttpMethod.Post, "/v1/batch", Basic(GatewayFixture.WriteKey), new string(' ', 600 * 1024));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var problem = await Json(response);
        Assert.Equal(524288, problem.GetProperty("limit").GetInt64());
        Assert.Contains("524288", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AClientRequestIdIsForwardedAndEchoed()
    {
        var response = await Send(HttpMethod.Post, "/v1/track", Basic(GatewayFixture.WriteKey),
            configure: request => request.Headers.Add("X-Request-Id", "client-id-1"));

        Assert.Equal("client-id-1", (await Json(response)).GetProperty("requestId").GetString());
        Assert.Equal("client-id-1", response.Headers.GetValues("X-Request-Id").Single());
    }

    [Fact]
    public async Task ARequestIdIsGeneratedWhenMissingEvenOnErrors()
    {
        var response = await Send(HttpMethod.Post, "/v1/track");

        Assert.False(string.IsNullOrEmpty(response.Headers.GetValues("X-Request-Id").Single()));
    }

    [Fact]
    public async Task ABrowserPreflightOnACollectorRouteIsAllowedWithoutAKey()
    {
        var response = await Send(HttpMethod.Options, "/v1/track", body: null, configure: request =>
        {
            request.Headers.Add("Origin", "https://shop.example");
            request.Headers.Add("Access-Control-Request-Method", "POST");
            request.Headers.Add("Access-Control-Request-Headers", "content-type,authorization");
        });

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }
}
