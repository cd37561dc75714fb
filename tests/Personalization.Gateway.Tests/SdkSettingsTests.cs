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
