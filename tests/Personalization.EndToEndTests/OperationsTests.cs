using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.Testing;

namespace Personalization.EndToEndTests;

/// <summary>What an operator scrapes and watches: Prometheus metrics of every service, and the pipeline's heartbeat.</summary>
[Collection(PlatformCollection.Name)]
public sealed class OperationsTests(PlatformFixture platform)
{
    private static readonly string[] InternalServices = ["collector", "consent", "enrichment", "aggregation", "profile-query"];

    private async Task<string> ScrapeAsync(string service, string? bearer = null, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var http = platform.App.CreateHttpClient(service, "http");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{service} /metrics answered {(int)response.StatusCode}: {body}");
        return body;
    }

    [Fact]
    public async Task EveryServiceServesItsMetricsAsPrometheusText()
    {
        using var gateway = new GatewayClient(platform.App);
        await gateway.SendAcceptedAsync(Events.Track(Events.NewUser("metrics"), "Scraped"));

        foreach (var service in InternalServices)
        {
            var text = await ScrapeAsync(service);
            Assert.Contains("# TYPE ", text);
            Assert.Contains("http_server_request_duration_seconds", text);
        }
        Assert.Contains("collector_events_accepted", await ScrapeAsync("collector"));
    }

    [Fact]
    public async Task TheGatewaysMetricsNeedTheAdminKeyBecauseItsPortIsPublic()
    {
        await ScrapeAsync("gateway", expected: HttpStatusCode.Unauthorized);
        await ScrapeAsync("gateway", GatewayClient.ReadKey, HttpStatusCode.Forbidden);
        Assert.Contains("# TYPE ", await ScrapeAsync("gateway", GatewayClient.AdminKey));
    }

    [Fact]
    public async Task TheHeartbeatCrossesThePipelineAsAMetricAndAHealthSignalButNeverAsAProfile()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var metrics = "";
        while (DateTime.UtcNow < deadline && !metrics.Contains("pipeline_heartbeat_latency", StringComparison.Ordinal))
        {
            await Task.Delay(1000);
            metrics = await ScrapeAsync("aggregation");
        }
        Assert.Contains("pipeline_heartbeat_latency", metrics);

        using var http = platform.App.CreateHttpClient("profile-query", "http");
        var health = JsonNode.Parse(await http.GetStringAsync("/health"))!.ToJsonString();
        Assert.Contains("pipeline-heartbeat", health);
        Assert.Contains("last heartbeat crossed the pipeline", health);

        using var gateway = new GatewayClient(platform.App);
        Assert.Null(await gateway.GetProfileAsync("__heartbeat__"));
        using var forged = await gateway.SendBatchAsync(Events.Track("__heartbeat__", "Forged"));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
    }
}
