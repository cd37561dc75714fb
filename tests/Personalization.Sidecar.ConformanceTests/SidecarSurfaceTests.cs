using System.Net;
using System.Text.Json.Nodes;
using Dapr;
using Dapr.Client;
using Personalization.Sidecar.ConformanceTests.Infrastructure;

namespace Personalization.Sidecar.ConformanceTests;

public sealed class SurfaceSidecarFixture : SidecarFixture
{
    public const string SecretStore = "secrets";
    public const string Prefix = "CONFORMANCE_SECRET_";

    public SidecarProcess Sidecar { get; private set; } = null!;
    public int MetricsPort { get; } = FreePort.Next();

    protected override async Task StartAsync()
    {
        // Read once, at the sidecar's start.
        using var folder = new ResourcesFolder().Write("secrets.yaml", $"""
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: {SecretStore}
            spec:
              type: secretstores.local.env
              version: v1
              metadata:
              - name: prefix
                value: {Prefix}
            """);
        Sidecar = Own(await SidecarProcess.StartAsync(new SidecarOptions($"conf-surface-{RunId}", folder.Path)
        {
            MetricsPort = MetricsPort,
            Environment = new Dictionary<string, string> { [Prefix + "db-password"] = "s3cret", [Prefix + "api-key"] = "k-123" },
        }));
    }
}

/// <summary>
/// The rest of daprd's surface a client may use: secrets (HTTP and gRPC) and Prometheus metrics on
/// <c>--metrics-port</c>. (gRPC server reflection is not served: with it, Dapr.Client 1.19's feature probe reported
/// BulkPublishEvent missing and every bulk publish failed; without it the client falls back as it should.)
/// </summary>
[Collection(ConformanceCollection.Name)]
public sealed class SidecarSurfaceTests(InfrastructureFixture infra, SurfaceSidecarFixture fixture)
    : IClassFixture<SurfaceSidecarFixture>, IAsyncLifetime
{
    public Task InitializeAsync() => fixture.EnsureStartedAsync(infra);

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task ASecretIsReadFromTheEnvSecretStoreOverGrpcAndHttp()
    {
        var dapr = fixture.Sidecar.CreateClient();

        var secret = await dapr.GetSecretAsync(SurfaceSidecarFixture.SecretStore, "db-password");
        Assert.Equal("s3cret", secret["db-password"]);

        using var response = await fixture.Sidecar.Http.GetAsync($"/v1.0/secrets/{SurfaceSidecarFixture.SecretStore}/api-key");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("k-123", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["api-key"]);
    }

    [Fact]
    public async Task TheBulkSecretsAreTheVariablesWithTheStoresPrefixOnly()
    {
        var dapr = fixture.Sidecar.CreateClient();

        var all = await dapr.GetBulkSecretAsync(SurfaceSidecarFixture.SecretStore);
        Assert.Equal("s3cret", all["db-password"]["db-password"]);
        Assert.Equal("k-123", all["api-key"]["api-key"]);
        Assert.DoesNotContain("PATH", all.Keys);

        using var response = await fixture.Sidecar.Http.GetAsync($"/v1.0/secrets/{SurfaceSidecarFixture.SecretStore}/bulk");
        Assert.Equal("s3cret", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["db-password"]!["db-password"]);
    }

    [Fact]
    public async Task AnUnknownSecretStoreIsRefusedAsDaprdRefusesIt()
    {
        using var response = await fixture.Sidecar.Http.GetAsync("/v1.0/secrets/no-such-store/x");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("ERR_SECRET_STORE_NOT_FOUND", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errorCode"]);

        var error = await Assert.ThrowsAsync<DaprException>(() => fixture.Sidecar.CreateClient().GetSecretAsync("no-such-store", "x"));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, Assert.IsType<Grpc.Core.RpcException>(error.InnerException).StatusCode);
    }

    [Fact]
    public async Task PrometheusMetricsAreServedOnTheMetricsPort()
    {
        using (await fixture.Sidecar.Http.GetAsync("/v1.0/metadata")) { }
        using var http = new HttpClient();

        // The exporter caches a scrape briefly; the request just made shows up in a later one.
        string text = "";
        for (var attempt = 0; attempt < 20 && !text.Contains("http_server_request_duration_seconds", StringComparison.Ordinal); attempt++)
        {
            await Task.Delay(250);
            using var response = await http.GetAsync($"http://127.0.0.1:{fixture.MetricsPort}/metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            text = await response.Content.ReadAsStringAsync();
        }
        Assert.Contains("# TYPE ", text);
        Assert.Contains("http_server_request_duration_seconds", text);
    }
}
