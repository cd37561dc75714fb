using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using YamlDotNet.RepresentationModel;

namespace Personalization.EndToEndTests;

/// <summary>
/// What an operator scrapes and watches: Prometheus metrics of every service and sidecar, the pipeline's heartbeat, and
/// the Grafana dashboard and alerts over them (<c>deploy/observability</c>).
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed partial class OperationsTests(PlatformFixture platform)
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

    [Fact]
    public async Task TheDashboardAndTheAlertsAskOnlyForMetricsTheSystemServes()
    {
        // Some series exist only once something happened: an event, a dead letter, a heartbeat through the pipeline.
        using var gateway = new GatewayClient(platform.App);
        await gateway.SendAcceptedAsync(Events.Track(Events.NewUser("dashboard"), "Watched"));
        await using (var broker = await Broker.ConnectAsync(platform.App))
        {
            var poisonId = await broker.PublishAsync("events.collected", new JsonObject { ["type"] = "track", ["userId"] = Events.NewUser("dashboard"), ["event"] = 42 });
            await DeadLetterTests.WaitForKeptAsync(gateway, "events.collected", poisonId);
        }
        await gateway.GetProfileAsync(Events.NewUser("dashboard"));

        var asked = ExpressionsIn(RepositoryFiles.PathOf("deploy", "observability", "grafana-dashboard.json"))
            .Concat(ExpressionsIn(RepositoryFiles.PathOf("deploy", "observability", "prometheus-rules.yaml")))
            .SelectMany(MetricNames).ToHashSet(StringComparer.Ordinal);
        Assert.True(asked.Count >= 10, $"only {asked.Count} metrics found in the dashboard and the alerts: {string.Join(", ", asked)}");

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        List<string> missing;
        do
        {
            var served = await ScrapeEverythingAsync();
            // rabbitmq_* is the broker's own plugin's, not ours.
            missing = [.. asked.Where(name => !name.StartsWith("rabbitmq_", StringComparison.Ordinal) && !served.Contains($"\n{name}{{", StringComparison.Ordinal) && !served.Contains($"\n{name} ", StringComparison.Ordinal))];
            if (missing.Count == 0) break;
            await Task.Delay(1000);
        } while (DateTime.UtcNow < deadline);
        Assert.True(missing.Count == 0, $"asked for by deploy/observability but served by no service or sidecar: {string.Join(", ", missing)}");
    }

    /// <summary>Every service's and replica's /metrics (the gateway's with the admin key) and every sidecar's, on its metrics port.</summary>
    private async Task<string> ScrapeEverythingAsync()
    {
        var instances = InternalServices.SelectMany(s => PlatformFixture.ConsumingServices.Contains(s) ? PlatformFixture.ReplicaNames(s) : [s]).ToList();
        var text = new System.Text.StringBuilder();
        foreach (var service in instances) text.Append('\n').Append(await ScrapeAsync(service));
        text.Append('\n').Append(await ScrapeAsync("gateway", GatewayClient.AdminKey));
        using var http = new HttpClient();
        foreach (var service in instances)
        {
            var sidecar = ResourceProcesses.Of(platform.App, service + "-dapr");
            var arguments = File.ReadAllText($"/proc/{sidecar.Process}/cmdline").Split('\0');
            var port = arguments[Array.IndexOf(arguments, "--metrics-port") + 1];
            text.Append('\n').Append(await http.GetStringAsync($"http://127.0.0.1:{port}/metrics"));
        }
        return text.ToString();
    }

    /// <summary>Every <c>expr</c> in a Grafana dashboard (JSON) or a PrometheusRule (YAML).</summary>
    private static IEnumerable<string> ExpressionsIn(string path)
    {
        if (path.EndsWith(".json", StringComparison.Ordinal))
        {
            return Walk(JsonNode.Parse(File.ReadAllText(path))!);

            static IEnumerable<string> Walk(JsonNode node) => node switch
            {
                JsonObject o => o.SelectMany(p => p.Key == "expr" && p.Value is JsonValue v ? [v.GetValue<string>()] : p.Value is null ? [] : Walk(p.Value)),
                JsonArray a => a.Where(n => n is not null).SelectMany(n => Walk(n!)),
                _ => [],
            };
        }
        var yaml = new YamlStream();
        using (var reader = new StreamReader(path)) yaml.Load(reader);
        return yaml.Documents.SelectMany(d => WalkYaml(d.RootNode));

        static IEnumerable<string> WalkYaml(YamlNode node) => node switch
        {
            YamlMappingNode m => m.Children.SelectMany(c => c.Key is YamlScalarNode { Value: "expr" } && c.Value is YamlScalarNode s ? [s.Value!] : WalkYaml(c.Value)),
            YamlSequenceNode q => q.Children.SelectMany(WalkYaml),
            _ => [],
        };
    }

    /// <summary>
    /// The metric names a PromQL expression selects: what is left once strings, label matchers, ranges and grouping
    /// clauses are taken out, minus functions (a name before a parenthesis), operators and numbers.
    /// </summary>
    private static IEnumerable<string> MetricNames(string expression)
    {
        var bare = Removed().Replace(expression, " ");
        return Identifier().Matches(bare).Select(m => m.Groups[1].Value).Where(name => !PromQlKeywords.Contains(name));
    }

    private static readonly HashSet<string> PromQlKeywords = ["and", "or", "unless", "bool", "offset", "inf", "nan"];

    [GeneratedRegex("\"[^\"]*\"|\\{[^}]*\\}|\\[[^\\]]*\\]|\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)")]
    private static partial Regex Removed();

    [GeneratedRegex("(?<![\\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\\b(?!\\s*\\()")]
    private static partial Regex Identifier();
}
