using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Personalization.Gateway.Tests;

/// <summary>The settings Segment's browser SDK fetches: this gateway as its only destination, its metrics to Segment off.</summary>
public sealed class SdkSettingsTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task AKnownWriteKeyGetsSettingsPointingAtThisGateway()
    {
        using var client = fixture.Factory.CreateClient();
        client.DefaultRequestHeaders.Add("Origin", "http://shop.example");

        var response = await client.GetAsync($"/v1/projects/{GatewayFixture.WriteKey}/settings");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        var settings = await response.Content.ReadFromJsonAsync<JsonElement>();
        var segmentIo = settings.GetProperty("integrations").GetProperty("Segment.io");
        Assert.Equal(GatewayFixture.WriteKey, segmentIo.GetProperty("apiKey").GetString());
        Assert.Equal($"{client.BaseAddress!.Authority}/v1", segmentIo.GetProperty("apiHost").GetString());
        Assert.Equal("http", segmentIo.GetProperty("protocol").GetString());
        Assert.Equal(0, settings.GetProperty("metrics").GetProperty("sampleRate").GetInt32());
    }

    [Theory]
    [InlineData("not-a-key")]
    [InlineData(GatewayFixture.ReadKey)]
    public async Task AnythingButAWriteKeyIs404(string key)
    {
        using var client = fixture.Factory.CreateClient();

        var response = await client.GetAsync($"/v1/projects/{key}/settings");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}

/// <summary>The public API's reference: each service's OpenAPI document through its route, the gateway's own, and the browsable UI.</summary>
public sealed class ApiReferenceTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task EachServicesDocumentIsServedFromItsOwnOpenApiRouteAndTheUiListsThemAll()
    {
        using var client = fixture.Factory.CreateClient();

        var collector = await (await client.GetAsync("/openapi/collector.json")).Content.ReadFromJsonAsync<JsonElement>();
        var gateway = await (await client.GetAsync("/openapi/gateway.json")).Content.ReadFromJsonAsync<JsonElement>();
        var ui = await client.GetStringAsync("/docs/");

        Assert.Equal(("collector", "/openapi/v1.json"), (collector.GetProperty("service").GetString(), collector.GetProperty("path").GetString()));
        Assert.True(gateway.GetProperty("paths").TryGetProperty("/v1/tokens", out _));
        foreach (var document in new[] { "collector", "consent", "aggregation", "profile-query", "gateway" })
        {
            Assert.Contains($"openapi/{document}.json", ui);
        }
    }
}
